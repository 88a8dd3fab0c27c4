//! The receiving side of the fan-out run: the WebSocket clients shared among a few reading
//! threads, each reading its share with `epoll` (mio) and a minimal frame parser.
//!
//! The tool shares the machine's cores with the servers it measures, so whatever it spends
//! per received frame is taken from the server and shows up as fan-out latency. One task per
//! socket with a full WebSocket library cost ≈ 100 ms of CPU per move to 10 000 sockets
//! (task wake-ups, a lock per read half, message allocation); here a frame costs one `recv`
//! shared with its neighbours, a header parse and a scan for `"seq":`.
//!
//! Why more than one thread: the clients stand for machines that read in parallel. A single
//! reading thread was a serial path of its own — ≈ 60 ms of `recv`s per move, run on a
//! third of the two cores while the server's two writers ran — so the last sockets were read
//! well after the server had written them.
//!
//! Why a reading thread pauses after a poll that found few sockets ready: on loopback, a
//! frame the server sends is received by this tool's socket in the server's own sending
//! thread, and if a reading thread sleeps in `epoll_wait`, waking it runs there too
//! (`sock_def_readable` → the epoll callback → the wake-up, with interrupts off: 9 % of the
//! server's CPU in a one-instance profile). A reader that drained its few ready sockets and
//! polled again at once slept after almost every socket, so nearly every send paid for a
//! wake-up — a cost a server never pays for clients on other machines. Pausing
//! (`--nap-us`, 1 ms by default) lets the ready sockets gather while the reader is not
//! waiting on the epoll; it only adds to the latencies measured (a frame is read at most
//! that much later). Measured on 10 000 sockets × 200 moves, one instance, the same server
//! binary with and without the pause: p99 99.4 → 81.4 ms (3 runs each) and 106.1 → 89.8 (4
//! runs, the box in its slow mode); two instances: no change (there the readers seldom run
//! out of ready sockets).
//!
//! Server frames are never masked (RFC 6455 §5.1); the only frames the tool writes are pongs
//! (masked, as a client must).

use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use mio::{Events, Interest, Poll, Token};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Recorder;

/// `http://host:port/prefix` → (`host:port`, `/prefix`).
fn split_base(base: &str) -> anyhow::Result<(String, String)> {
    let rest = base
        .strip_prefix("http://")
        .context("the base URL must be http://")?;
    Ok(match rest.split_once('/') {
        Some((host, path)) => (host.to_string(), format!("/{path}")),
        None => (rest.to_string(), String::new()),
    })
}

/// Opens a WebSocket to `path` on `host`. Returns the stream and any bytes that came after
/// the handshake's answer.
async fn connect(host: &str, path: &str) -> anyhow::Result<(std::net::TcpStream, Vec<u8>)> {
    let mut stream = tokio::net::TcpStream::connect(host).await?;
    stream.set_nodelay(true)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed during the handshake");
        }
        answer.extend_from_slice(&chunk[..n]);
        if let Some(at) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    if !answer.starts_with(b"HTTP/1.1 101") {
        let head = String::from_utf8_lossy(&answer[..end.min(200)]).into_owned();
        bail!("handshake refused: {head}");
    }
    // Still non-blocking, as mio needs it.
    Ok((stream.into_std()?, answer.split_off(end)))
}

/// One complete frame at the start of `buf`: (opcode, payload, bytes used).
fn frame(buf: &[u8]) -> Option<(u8, &[u8], usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let (len, mut header): (usize, usize) = match b1 & 0x7f {
        126 => (
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    if b1 & 0x80 != 0 {
        header += 4;
    }
    let payload = buf.get(header..header.checked_add(len)?)?;
    Some((b0 & 0x0f, payload, header + len))
}

/// A masked client frame (`opcode`, FIN set) carrying `payload` (< 126 bytes).
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

/// The `"seq":N` of an event message, without parsing the whole JSON.
fn seq_of(text: &[u8]) -> Option<i64> {
    let start = text.windows(6).position(|w| w == b"\"seq\":")? + 6;
    let digits = text[start..].iter().take_while(|c| c.is_ascii_digit());
    let mut seq: i64 = 0;
    let mut any = false;
    for d in digits {
        seq = seq.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
        any = true;
    }
    any.then_some(seq)
}

struct Client {
    stream: mio::net::TcpStream,
    /// Which base (instance) it is connected to.
    base: usize,
    /// Bytes of an incomplete frame.
    pending: Vec<u8>,
    open: bool,
}

/// A reading thread pauses after a poll that found fewer ready sockets than this (see the
/// module docs).
const FEW_READY: usize = 64;

/// One reading thread's share of the client sockets, read until `stop` is set.
pub struct Receiver {
    clients: Vec<Client>,
    poll: Poll,
    bases: usize,
}

/// What one instance's clients received.
#[derive(Default)]
pub struct Received {
    /// Every latency the recorder accepted (ms).
    pub latencies: Vec<f64>,
    /// The earliest arrival of each seq (ms after its move was sent; +inf: none).
    pub first: Vec<f64>,
}

impl Received {
    /// Adds what another reading thread's clients of the same instance received.
    pub fn merge(&mut self, other: Received) {
        self.latencies.extend(other.latencies);
        if self.first.len() < other.first.len() {
            self.first.resize(other.first.len(), f64::INFINITY);
        }
        for (mine, theirs) in self.first.iter_mut().zip(other.first) {
            *mine = mine.min(theirs);
        }
    }
}

impl Receiver {
    /// Opens `count` sockets to `ws_path` (relative to each base), alternating between the
    /// bases, `ramp` handshakes at a time (as many clients reconnecting at once would), and
    /// deals them to `readers` shares, each with sockets of every base.
    pub async fn open(
        bases: &[String],
        ws_path: &str,
        count: usize,
        ramp: usize,
        readers: usize,
    ) -> anyhow::Result<Vec<Self>> {
        let targets: Vec<(String, String)> = bases
            .iter()
            .map(|b| split_base(b).map(|(host, prefix)| (host, format!("{prefix}{ws_path}"))))
            .collect::<anyhow::Result<_>>()?;
        let mut shares = (0..readers.max(1))
            .map(|_| {
                Ok(Self {
                    clients: Vec::with_capacity(count / readers.max(1) + 1),
                    poll: Poll::new()?,
                    bases: targets.len(),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let share_count = shares.len();
        let mut opening = FuturesUnordered::new();
        let mut opened_so_far = 0usize;
        let mut place = |opened: (usize, (std::net::TcpStream, Vec<u8>))| {
            let share = &mut shares[(opened_so_far / targets.len()) % share_count];
            opened_so_far += 1;
            let client = Self::register(&share.poll, share.clients.len(), opened)?;
            share.clients.push(client);
            anyhow::Ok(())
        };
        for i in 0..count {
            let (host, path) = &targets[i % targets.len()];
            let base = i % targets.len();
            opening.push(async move {
                connect(host, path)
                    .await
                    .map(|opened| (base, opened))
                    .with_context(|| format!("socket {i}"))
            });
            if opening.len() >= ramp
                && let Some(opened) = opening.next().await
            {
                place(opened?)?;
            }
        }
        while let Some(opened) = opening.next().await {
            place(opened?)?;
        }
        Ok(shares)
    }

    fn register(
        poll: &Poll,
        index: usize,
        (base, (stream, pending)): (usize, (std::net::TcpStream, Vec<u8>)),
    ) -> anyhow::Result<Client> {
        let mut stream = mio::net::TcpStream::from_std(stream);
        poll.registry()
            .register(&mut stream, Token(index), Interest::READABLE)?;
        Ok(Client {
            stream,
            base,
            pending,
            open: true,
        })
    }

    pub fn len(&self) -> usize {
        self.clients.iter().filter(|c| c.open).count()
    }

    /// Reads until `stop`, pausing `nap` after a poll that found few sockets ready (see the
    /// module docs); returns what each instance's clients received.
    pub fn run(
        mut self,
        recorder: Arc<Recorder>,
        stop: Arc<AtomicBool>,
        nap: Duration,
    ) -> Vec<Received> {
        let per_base = recorder.sent_at.len() * self.clients.len() / self.bases.max(1);
        let mut received: Vec<Received> = (0..self.bases)
            .map(|_| Received {
                latencies: Vec::with_capacity(per_base),
                first: vec![f64::INFINITY; recorder.sent_at.len()],
            })
            .collect();
        let mut events = Events::with_capacity(1024);
        let mut scratch = vec![0u8; 64 * 1024];
        while !stop.load(Ordering::Acquire) {
            if self
                .poll
                .poll(&mut events, Some(Duration::from_millis(50)))
                .is_err()
            {
                continue;
            }
            for event in events.iter() {
                if let Some(client) = self.clients.get_mut(event.token().0) {
                    let into = &mut received[client.base];
                    client.read_all(&mut scratch, &recorder, into);
                }
            }
            let ready = events.iter().count();
            if (1..FEW_READY).contains(&ready) && !nap.is_zero() {
                std::thread::sleep(nap);
            }
        }
        received
    }
}

impl Client {
    fn read_all(&mut self, scratch: &mut [u8], recorder: &Recorder, into: &mut Received) {
        loop {
            match self.stream.read(scratch) {
                Ok(0) => {
                    self.open = false;
                    return;
                }
                Ok(n) => {
                    let now = Instant::now();
                    // A short read drained the socket: edge-triggered polling reports the
                    // next arrival, so a second `recv` (answering "would block") is saved.
                    let drained = n < scratch.len();
                    if self.pending.is_empty() {
                        let used = self.frames(&scratch[..n], now, recorder, into);
                        self.pending.extend_from_slice(&scratch[used..n]);
                    } else {
                        let mut data = std::mem::take(&mut self.pending);
                        data.extend_from_slice(&scratch[..n]);
                        let used = self.frames(&data, now, recorder, into);
                        data.drain(..used);
                        self.pending = data;
                    }
                    if drained {
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.open = false;
                    return;
                }
            }
        }
    }

    /// Handles the complete frames at the start of `data`; returns the bytes they took.
    fn frames(
        &mut self,
        data: &[u8],
        now: Instant,
        recorder: &Recorder,
        into: &mut Received,
    ) -> usize {
        let mut used = 0;
        while let Some((opcode, payload, len)) = frame(&data[used..]) {
            match opcode {
                0x1 => {
                    if let Some(seq) = seq_of(payload)
                        && let Some(ms) = recorder.received(seq, now)
                    {
                        into.latencies.push(ms);
                        if let Some(first) = usize::try_from(seq)
                            .ok()
                            .and_then(|i| into.first.get_mut(i))
                        {
                            *first = first.min(ms);
                        }
                    }
                }
                // Ping: answer with a pong carrying the same data (a socket write that does
                // not fit is dropped; the server only closes after several missed pongs).
                0x9 if payload.len() < 126 => {
                    let _ = self.stream.write(&client_frame(0xA, payload));
                }
                0x8 => self.open = false,
                _ => {}
            }
            used += len;
        }
        used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_frames_of_every_length_form() {
        let mut data = vec![0x81, 5];
        data.extend_from_slice(b"hello");
        data.extend_from_slice(&[0x81, 126, 0, 200]);
        data.extend(std::iter::repeat_n(b'x', 200));
        data.extend_from_slice(&[0x89, 0]);
        let (op, payload, used) = frame(&data).unwrap();
        assert_eq!((op, payload, used), (1, &b"hello"[..], 7));
        let (op, payload, used2) = frame(&data[used..]).unwrap();
        assert_eq!((op, payload.len(), used2), (1, 200, 204));
        let (op, _, _) = frame(&data[used + used2..]).unwrap();
        assert_eq!(op, 9);
        assert!(frame(&data[..used + 100]).map(|f| f.2) == Some(7));
        assert!(frame(&data[used..used + 100]).is_none());
    }

    #[test]
    fn finds_the_seq() {
        assert_eq!(
            seq_of(br#"{"type":"task.moved","seq":1234,"x":1}"#),
            Some(1234)
        );
        assert_eq!(seq_of(br#"{"type":"x"}"#), None);
    }

    #[test]
    fn masks_client_frames() {
        let f = client_frame(0xA, b"ab");
        assert_eq!(f[0], 0x8A);
        assert_eq!(f[1], 0x82);
        assert_eq!(f[6] ^ f[2], b'a');
    }
}
