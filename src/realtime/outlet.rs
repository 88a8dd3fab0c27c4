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
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SentRanges(Vec<(i64, i64)>);

impl SentRanges {
    pub fn contains(&self, seq: i64) -> bool {
        self.0.iter().any(|&(a, b)| a <= seq && seq <= b)
    }

    /// Records `seq` as sent (merging adjacent ranges).
    pub fn insert(&mut self, seq: i64) {
        // Live events come in order: the next seq extends the last range in place (no
        // allocation or sort per event on every socket of a fan-out).
        if let Some(last) = self.0.last_mut()
            && seq == last.1 + 1
        {
            last.1 = seq;
            return;
        }
        if self.contains(seq) {
            return;
        }
        self.0.push((seq, seq));
        self.0.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(self.0.len());
        for &(a, b) in &self.0 {
            match merged.last_mut() {
                Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.0 = merged;
    }
}

/// Which events a socket sends: those of projects its token may see, after where it started,
/// each once.
#[derive(Debug, Default)]
pub struct EventFilter {
    sent: HashMap<Uuid, SentRanges>,
    /// Per project followed from the start, the seq the socket starts after: a live event up
    /// to it predates the socket (a join still on the bus when it registered), and is not
    /// sent. Replays asked for by the client are not bound by it.
    after: HashMap<Uuid, i64>,
    /// The one project an API token bound to a project may see.
    bound: Option<Uuid>,
}

impl EventFilter {
    pub fn may_see(&self, project_id: Uuid) -> bool {
        self.bound.is_none_or(|bound| bound == project_id)
    }

    /// Whether to send a live event, recording it as sent if so.
    pub fn admit_live(&mut self, project_id: Uuid, seq: i64) -> bool {
        self.may_see(project_id)
            && self.after.get(&project_id).is_none_or(|after| seq > *after)
            && self.admit_replayed(project_id, seq)
    }

    /// Whether to send a replayed event (not sent yet), recording it as sent if so.
    pub fn admit_replayed(&mut self, project_id: Uuid, seq: i64) -> bool {
        let sent = self.sent.entry(project_id).or_default();
        if sent.contains(seq) {
            return false;
        }
        sent.insert(seq);
        true
    }

    /// Whether the socket follows the project from its start, or has sent any of its events.
    pub fn has_project(&self, project_id: Uuid) -> bool {
        self.after.contains_key(&project_id) || self.sent.contains_key(&project_id)
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
        self.lock().filter.after = after;
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
        assert_eq!(r.0, vec![(5, 7), (9, 10)]);
        r.insert(8);
        assert_eq!(r.0, vec![(5, 10)]);
        assert!(r.contains(5) && r.contains(10) && !r.contains(4) && !r.contains(11));
        r.insert(11);
        r.insert(3);
        r.insert(12);
        assert_eq!(r.0, vec![(3, 3), (5, 12)]);
        r.insert(4);
        assert_eq!(r.0, vec![(3, 12)]);
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
        f.after.insert(p, 5);
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
}
