//! A socket's way out: every frame the server writes on one WebSocket, whether from the
//! hub's writers (live events, written straight to the socket) or from the socket's own
//! session task (replays, answers, pings, the close), in one order.
//!
//! Why: a fan-out to 10 000 sockets used to wake 10 000 session tasks, each popping the
//! event from its queue and writing it. Now the hub's writers ([`super::hub`]) write the
//! event's frame — encoded once — to each socket in turn with a non-blocking `try_write`;
//! a session task runs only when its socket cannot take the frame at once, or when it has
//! work of its own.
//!
//! What keeps each socket's frames whole and its events in seq order:
//! - Every byte goes through the outlet's lock. Bytes that could not be written at once wait
//!   in its queue, and nothing is written past a non-empty queue.
//! - While the outlet is *held*, live events do not go to the socket but to the session's
//!   queue ([`Outbound::Event`]), which the session filters and writes after what it is
//!   doing. It is held from registration until the session has replayed what it owes,
//!   whenever the hub puts any message in the session's queue (a replay range, a close, a
//!   notification, a request to flush what the socket could not take), and while a client's
//!   resume replays. The session lets go when its queue is empty, under the same lock as the
//!   hub's sends, so nothing can slip past a queued message.
//! - The filter (which events this socket may send and has not sent yet) is here too, used by
//!   whoever writes the event.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use uuid::Uuid;

use super::hub::{Delivery, Outbound};

/// Event frames a socket could not take at once (its client reads slower than events come).
pub const DEFERRED_METRIC: &str = "flowtrack_ws_frames_deferred_total";

/// Encodes a server-to-client text frame (unmasked, one fragment) once, to be written as is
/// to every socket it goes to.
pub fn text_frame(text: &str) -> Bytes {
    let len = text.len();
    let mut frame = BytesMut::with_capacity(len + 10);
    frame.extend_from_slice(&[0x81]); // FIN, opcode 1 (text)
    if len < 126 {
        frame.extend_from_slice(&[len as u8]);
    } else if let Ok(short) = u16::try_from(len) {
        frame.extend_from_slice(&[126]);
        frame.extend_from_slice(&short.to_be_bytes());
    } else {
        frame.extend_from_slice(&[127]);
        frame.extend_from_slice(&(len as u64).to_be_bytes());
    }
    frame.extend_from_slice(text.as_bytes());
    frame.freeze()
}

/// Disjoint, sorted ranges of seqs already sent on a socket for one project.
///
/// The newest range is kept inline: live events come in order, so a fan-out checks and
/// extends it without touching another allocation on each of its sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRanges {
    /// Ranges before `last`, sorted.
    earlier: Vec<(i64, i64)>,
    /// The highest range; empty (`start > end`) when nothing was sent.
    last: (i64, i64),
}

const NO_RANGE: (i64, i64) = (0, -1);

impl Default for SentRanges {
    fn default() -> Self {
        Self {
            earlier: Vec::new(),
            last: NO_RANGE,
        }
    }
}

impl SentRanges {
    pub fn contains(&self, seq: i64) -> bool {
        let (a, b) = self.last;
        (a <= seq && seq <= b) || self.earlier.iter().any(|&(a, b)| a <= seq && seq <= b)
    }

    /// Records `seq` as sent (merging adjacent ranges).
    pub fn insert(&mut self, seq: i64) {
        if self.last == NO_RANGE {
            self.last = (seq, seq);
            return;
        }
        if seq == self.last.1 + 1 {
            self.last.1 = seq;
            return;
        }
        if self.contains(seq) {
            return;
        }
        let mut all = std::mem::take(&mut self.earlier);
        all.push(self.last);
        all.push((seq, seq));
        all.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(all.len());
        for (a, b) in all {
            match merged.last_mut() {
                Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.last = merged.pop().unwrap_or(NO_RANGE);
        self.earlier = merged;
    }

    #[cfg(test)]
    fn ranges(&self) -> Vec<(i64, i64)> {
        let mut all = self.earlier.clone();
        if self.last != NO_RANGE {
            all.push(self.last);
        }
        all
    }
}

/// What a socket knows of one project.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProjectFilter {
    /// The seq the socket starts after when it followed the project from its start: a live
    /// event up to it predates the socket (a join still on the bus when it registered), and
    /// is not sent. Replays asked for by the client are not bound by it. `i64::MIN`: none.
    after: i64,
    sent: SentRanges,
}

impl Default for ProjectFilter {
    fn default() -> Self {
        Self {
            after: i64::MIN,
            sent: SentRanges::default(),
        }
    }
}

/// Which events a socket sends: those of projects its token may see, after where it started,
/// each once.
#[derive(Debug, Default)]
pub struct EventFilter {
    /// The project of the last event sent, kept inline: a fan-out finds it here, in the
    /// outlet's own memory, on each of its sockets (a map lookup there was the largest cost
    /// left in user space).
    hot: Option<(Uuid, ProjectFilter)>,
    /// The other projects the socket follows from its start or has sent events of. Hashed
    /// with foldhash: the keys are the server's own ids.
    projects: foldhash::HashMap<Uuid, ProjectFilter>,
    /// The one project an API token bound to a project may see.
    bound: Option<Uuid>,
}

impl EventFilter {
    pub fn may_see(&self, project_id: Uuid) -> bool {
        self.bound.is_none_or(|bound| bound == project_id)
    }

    /// The project's filter, made the hot one (created if new).
    fn project(&mut self, project_id: Uuid) -> &mut ProjectFilter {
        let hot = match self.hot.take() {
            Some((id, project)) if id == project_id => project,
            other => {
                if let Some((id, previous)) = other {
                    self.projects.insert(id, previous);
                }
                self.projects.remove(&project_id).unwrap_or_default()
            }
        };
        &mut self.hot.insert((project_id, hot)).1
    }

    /// Whether to send a live event, recording it as sent if so.
    pub fn admit_live(&mut self, project_id: Uuid, seq: i64) -> bool {
        if !self.may_see(project_id) {
            return false;
        }
        let project = self.project(project_id);
        if seq <= project.after || project.sent.contains(seq) {
            return false;
        }
        project.sent.insert(seq);
        true
    }

    /// Whether to send a replayed event (not sent yet), recording it as sent if so.
    pub fn admit_replayed(&mut self, project_id: Uuid, seq: i64) -> bool {
        let sent = &mut self.project(project_id).sent;
        if sent.contains(seq) {
            return false;
        }
        sent.insert(seq);
        true
    }

    /// Whether the socket follows the project from its start, or has sent any of its events.
    pub fn has_project(&self, project_id: Uuid) -> bool {
        self.hot.as_ref().is_some_and(|(id, _)| *id == project_id)
            || self.projects.contains_key(&project_id)
    }

    /// The socket starts after these seqs.
    fn start_after(&mut self, after: HashMap<Uuid, i64>) {
        for (project_id, seq) in after {
            self.project(project_id).after = seq;
        }
    }
}

/// What became of an event or message offered to a socket.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    /// Written, queued, or not for this socket.
    Taken,
    /// The session's queue is full: the socket cannot keep up.
    TooSlow,
}

/// One socket's writer, shared by the hub and the socket's session (see the module docs).
pub struct Outlet {
    /// Set when the upgrade completes; until then the outlet is held.
    socket: OnceLock<Socket>,
    state: Mutex<State>,
}

struct Socket {
    stream: TcpStream,
    /// The connection's slot in the server's connection limit, for the socket's life.
    _slot: OwnedSemaphorePermit,
}

struct State {
    /// Bytes accepted but not written yet, in order (the first may be written in part).
    queue: VecDeque<Bytes>,
    held: bool,
    /// The session has closed (or is closing) the socket: the hub's events are dropped.
    closed: bool,
    /// A live event was written since the session last looked (its idle pings skip the socket).
    active: bool,
    /// The session's queue; `None` once the hub has let the socket go, which ends the session.
    sender: Option<mpsc::Sender<Outbound>>,
    filter: EventFilter,
}

impl State {
    /// Puts a message in the session's queue, holding live events behind it.
    fn post(&mut self, message: Outbound) -> Offer {
        let Some(sender) = &self.sender else {
            return Offer::Taken; // the session is ending
        };
        self.held = true;
        match sender.try_send(message) {
            Ok(()) => Offer::Taken,
            Err(_) => Offer::TooSlow,
        }
    }

    /// Writes `frame` now if nothing waits before it; queues what could not be written.
    /// Returns whether bytes are left in the queue.
    fn write(&mut self, stream: &TcpStream, frame: &Bytes) -> io::Result<bool> {
        let mut written = 0;
        if self.queue.is_empty() {
            match stream.try_write(frame) {
                Ok(n) => written = n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if written == frame.len() {
                return Ok(false);
            }
        }
        self.queue.push_back(frame.slice(written..));
        Ok(true)
    }

    fn fail(&mut self) {
        self.closed = true;
        self.queue.clear();
    }
}

impl Outlet {
    /// A held outlet for a socket whose upgrade is under way; `bound`: the one project an API
    /// token bound to a project may see.
    pub fn new(sender: mpsc::Sender<Outbound>, bound: Option<Uuid>) -> Arc<Self> {
        Arc::new(Self {
            socket: OnceLock::new(),
            state: Mutex::new(State {
                queue: VecDeque::new(),
                held: true,
                closed: false,
                active: false,
                sender: Some(sender),
                filter: EventFilter {
                    bound,
                    ..EventFilter::default()
                },
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state as consistent as any write left it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The upgraded connection (once).
    pub fn attach(&self, stream: TcpStream, slot: OwnedSemaphorePermit) {
        let _ = self.socket.set(Socket {
            stream,
            _slot: slot,
        });
    }

    /// The hub offers a live event: written to the socket now when the outlet is not held
    /// and the filter lets it through, else handed to the session.
    pub fn offer(&self, delivery: &Arc<Delivery>) -> Offer {
        let mut state = self.lock();
        if state.closed {
            return Offer::Taken;
        }
        let socket = match self.socket.get() {
            Some(socket) if !state.held => socket,
            _ => return state.post(Outbound::Event(delivery.clone())),
        };
        let event = &delivery.event;
        if !state.filter.admit_live(event.project_id(), event.seq()) {
            return Offer::Taken;
        }
        state.active = true;
        match state.write(&socket.stream, &delivery.frame) {
            Ok(false) => Offer::Taken,
            // The session writes the rest when the socket can take it; later events wait
            // in its queue meanwhile.
            Ok(true) => {
                metrics::counter!(DEFERRED_METRIC).increment(1);
                state.post(Outbound::Flush)
            }
            Err(_) => {
                // The session sees the connection end on its side.
                state.fail();
                Offer::Taken
            }
        }
    }

    /// The hub sends the session a message; live events wait behind it.
    pub fn post(&self, message: Outbound) -> Offer {
        self.lock().post(message)
    }

    /// The hub lets the socket go: the session's queue ends, and with it the session.
    pub fn detach(&self) {
        self.lock().sender = None;
    }

    /// The session starts after these seqs (see [`EventFilter`]).
    pub fn start_after(&self, after: HashMap<Uuid, i64>) {
        self.lock().filter.start_after(after);
    }

    pub fn with_filter<R>(&self, f: impl FnOnce(&mut EventFilter) -> R) -> R {
        f(&mut self.lock().filter)
    }

    /// The session writes events of its own: live ones go through its queue meanwhile.
    pub fn hold(&self) {
        self.lock().held = true;
    }

    /// Lets the hub write live events again once the session's queue is empty.
    pub fn release_if_idle(&self, queue: &mpsc::Receiver<Outbound>) {
        let mut state = self.lock();
        if state.held && queue.is_empty() && self.socket.get().is_some() {
            state.held = false;
        }
    }

    /// The session closes the socket: from here on the hub's events are dropped.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.held = true;
    }

    /// Whether a live event was written since the last call.
    pub fn take_active(&self) -> bool {
        std::mem::take(&mut self.lock().active)
    }

    /// The session writes a frame (after anything queued).
    pub fn push(&self, frame: &Bytes) -> io::Result<()> {
        let Some(socket) = self.socket.get() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let mut state = self.lock();
        match state.write(&socket.stream, frame) {
            Ok(_) => Ok(()),
            Err(e) => {
                state.fail();
                Err(e)
            }
        }
    }

    /// Writes what is queued, waiting for the socket to take it.
    pub fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(socket) = self.socket.get() else {
            return Poll::Ready(Ok(()));
        };
        loop {
            let mut state = self.lock();
            let Some(front) = state.queue.front_mut() else {
                return Poll::Ready(Ok(()));
            };
            match socket.stream.try_write(front) {
                Ok(0) => {
                    state.fail();
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                Ok(n) => {
                    front.advance(n);
                    if front.is_empty() {
                        state.queue.pop_front();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drop(state);
                    ready!(socket.stream.poll_write_ready(cx))?;
                }
                Err(e) => {
                    state.fail();
                    return Poll::Ready(Err(e));
                }
            }
        }
    }

    /// Waits until everything queued is written.
    pub async fn drain(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_drain(cx)).await
    }
}

/// The socket as the session's WebSocket protocol sees it: reads from the connection,
/// writes through the outlet (so the protocol's own frames — pongs, the close — take their
/// place in line with the hub's).
pub struct SessionIo(pub Arc<Outlet>);

impl SessionIo {
    fn stream(&self) -> io::Result<&TcpStream> {
        self.0
            .socket
            .get()
            .map(|s| &s.stream)
            .ok_or_else(|| io::ErrorKind::NotConnected.into())
    }
}

impl AsyncRead for SessionIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let stream = self.stream()?;
        loop {
            ready!(stream.poll_read_ready(cx))?;
            match stream.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SessionIo {
    /// Takes every byte at once (queueing what the socket cannot take yet), so the protocol
    /// never holds half a frame that the hub's frames could land in the middle of.
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(
            self.0
                .push(&Bytes::copy_from_slice(buf))
                .map(|()| buf.len()),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_drain(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_drain(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_ranges_merge_and_answer_membership() {
        let mut r = SentRanges::default();
        for s in [5, 6, 7, 10, 9] {
            r.insert(s);
        }
        assert_eq!(r.ranges(), vec![(5, 7), (9, 10)]);
        r.insert(8);
        assert_eq!(r.ranges(), vec![(5, 10)]);
        assert!(r.contains(5) && r.contains(10) && !r.contains(4) && !r.contains(11));
        r.insert(11);
        r.insert(3);
        r.insert(12);
        assert_eq!(r.ranges(), vec![(3, 3), (5, 12)]);
        r.insert(4);
        assert_eq!(r.ranges(), vec![(3, 12)]);
        r.insert(1);
        assert_eq!(r.ranges(), vec![(1, 1), (3, 12)]);
        assert!(r.contains(1) && !r.contains(2) && !r.contains(0));
    }

    #[test]
    fn sent_ranges_agree_with_a_plain_set() {
        let mut ranges = SentRanges::default();
        let mut set = std::collections::BTreeSet::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for step in 0..2_000 {
            // Mostly runs in order, with jumps back and ahead (replays, gaps).
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let seq = if step % 5 == 0 {
                (x % 300) as i64 + 1
            } else {
                set.last().copied().unwrap_or(0) + 1
            };
            ranges.insert(seq);
            set.insert(seq);
            let all = ranges.ranges();
            assert!(
                all.windows(2).all(|w| w[0].1 + 1 < w[1].0),
                "disjoint, sorted: {all:?}"
            );
        }
        let top = set.last().copied().unwrap_or(0) + 2;
        for seq in 0..=top {
            assert_eq!(ranges.contains(seq), set.contains(&seq), "seq {seq}");
        }
    }

    #[test]
    fn text_frames_carry_each_length_form() {
        for len in [0usize, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
            let text = "x".repeat(len);
            let frame = text_frame(&text);
            assert_eq!(frame[0], 0x81, "FIN + text");
            let (header, declared) = match frame[1] {
                126 => (4, u16::from_be_bytes([frame[2], frame[3]]) as usize),
                127 => {
                    let bytes: [u8; 8] = frame[2..10].try_into().expect("8 bytes");
                    (10, u64::from_be_bytes(bytes) as usize)
                }
                short => (2, short as usize),
            };
            assert_eq!(declared, len, "length {len}");
            assert_eq!(&frame[header..], text.as_bytes());
            // The shortest form is used (RFC 6455 §5.2).
            assert_eq!(
                header,
                if len < 126 {
                    2
                } else if len <= 65_535 {
                    4
                } else {
                    10
                }
            );
        }
    }

    #[test]
    fn the_filter_sends_each_event_once_and_nothing_before_the_start() {
        let (p, q) = (Uuid::now_v7(), Uuid::now_v7());
        let mut f = EventFilter::default();
        f.start_after(HashMap::from([(p, 5)]));
        assert!(!f.admit_live(p, 5), "before the start");
        assert!(f.admit_live(p, 6));
        assert!(!f.admit_live(p, 6), "twice");
        assert!(f.admit_replayed(p, 4), "a replay is not bound by the start");
        assert!(!f.admit_replayed(p, 6));
        assert!(f.has_project(p) && !f.has_project(q));
        let mut bound = EventFilter {
            bound: Some(p),
            ..EventFilter::default()
        };
        assert!(!bound.admit_live(q, 1), "another project than the token's");
        assert!(bound.admit_live(p, 1));
    }

    #[test]
    fn the_filter_keeps_every_project_through_hot_swaps() {
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
        let mut f = EventFilter::default();
        f.start_after(ids.iter().map(|id| (*id, 10)).collect());
        for round in 0..3 {
            for (i, id) in ids.iter().enumerate() {
                let seq = 11 + round;
                assert!(!f.admit_live(*id, 10), "before the start, project {i}");
                assert!(f.admit_live(*id, seq), "project {i}, round {round}");
                assert!(!f.admit_live(*id, seq), "twice, project {i}");
                assert!(f.has_project(*id));
            }
        }
        assert!(!f.has_project(Uuid::now_v7()));
        assert_eq!(f.projects.len() + usize::from(f.hot.is_some()), ids.len());
    }
}
