//! The hub (connection manager) of one instance: one task that owns every local socket's
//! sender, indexed by project, and fans each committed event out to the members' sockets.
//!
//! Per project the hub delivers events strictly in `seq` order, exactly once: it remembers
//! the last seq it delivered; a duplicate (the same event arriving locally and through
//! Redis, or from a catch-up) is dropped; an event that skips ahead is held back while the
//! missing ones are read from the `events` table. A periodic catch-up compares the projects'
//! `event_seq` with what was delivered, so an event whose publish was lost (Redis down, a
//! crash between commit and publish) still arrives, only later.
//!
//! Live events are written to the sockets by the hub's writers ([`lanes`]), not by a task per
//! socket (see [`crate::realtime::outlet`]). A socket that cannot take an event at once gets
//! it, and the events after it, through its session's queue. That queue is bounded: a client
//! that cannot keep up is disconnected (it reconnects and resumes) instead of slowing
//! everyone down.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use flowtrack_store::bus::{BusMessage, Event};
use flowtrack_store::db::Db;
use flowtrack_store::feed::{self, AccessRow};
use flowtrack_store::services::event::{Access, EventType};

use crate::realtime::outlet::{Offer, Outlet, text_frame};

/// What a socket task receives from the hub.
///
/// Kept to one pointer and a tag (16 bytes, asserted in a test): every socket's queue
/// allocates its first block of 32 slots when it opens, so each byte here is 32 bytes of
/// every idle socket (48-byte messages made that block 1.5 KiB of a socket's ≈ 8 KiB).
#[derive(Debug, Clone)]
pub enum Outbound {
    /// An event with its text frame, shared by every socket it goes to (one copy per event,
    /// not per socket; one pointer per queue slot).
    Event(Arc<Delivery>),
    /// A personal notification about a project.
    Notification(Arc<NotificationFrame>),
    /// Close the socket with this code and reason.
    Close(&'static CloseFrame),
    /// The user's sessions before this epoch have ended (a password change): a socket
    /// opened with an access token of an older epoch closes (4001).
    SessionsEndedBefore(i64),
    /// Send a range of a project's events from the log (see [`ReplayRange`]).
    Replay(Arc<ReplayRange>),
    /// The socket could not take all of a frame at once: write the rest when it can.
    Flush,
}

/// A personal notification about a project, as its JSON text.
#[derive(Debug)]
pub struct NotificationFrame {
    pub project_id: Uuid,
    pub text: Arc<str>,
}

/// A close frame the hub sends.
#[derive(Debug)]
pub struct CloseFrame {
    pub code: u16,
    pub reason: &'static str,
}

pub const CLOSE_SHUTDOWN: CloseFrame = CloseFrame {
    code: 1001,
    reason: "server shutting down",
};
pub const CLOSE_DEACTIVATED: CloseFrame = CloseFrame {
    code: 4001,
    reason: "user deactivated",
};

/// The project's events `from..=to`, to send from the log unless the socket follows the
/// project already: the socket's user joined the project at `from` (`None`: at their latest
/// join up to `to`, to be read from the log), and the hub started delivering it to them only
/// after `to` (see [`HubTask::reconcile`] and `Follow`).
#[derive(Debug)]
pub struct ReplayRange {
    pub project_id: Uuid,
    pub from: Option<i64>,
    pub to: i64,
}

/// A committed event ready to be written to sockets.
#[derive(Debug)]
pub struct Delivery {
    pub event: Event,
    /// The event's WebSocket frame, encoded once for every socket.
    pub frame: Bytes,
    /// When the hub took the event (right after its commit, or its arrival through Redis).
    pub taken_at: Instant,
}

impl Delivery {
    pub fn new(event: Event) -> Self {
        let frame = text_frame(event.payload.as_ref());
        Self {
            event,
            frame,
            taken_at: Instant::now(),
        }
    }
}

/// The hub's writers hold the delivery until their last socket write of the frame returned,
/// and a socket's session until it wrote (or skipped) the event, so the last one dropped
/// marks the end of the event's fan-out: the metric `flowtrack_ws_fanout_seconds` is the time
/// from the hub taking the event to the last local socket write returning — the server's
/// part of the delivery latency, apart from the client's. (The rest of a frame a socket could
/// not take at once is written after.)
impl Drop for Delivery {
    fn drop(&mut self) {
        metrics::histogram!(FANOUT_METRIC).record(self.taken_at.elapsed().as_secs_f64());
    }
}

/// See [`Delivery`]'s `Drop`.
pub const FANOUT_METRIC: &str = "flowtrack_ws_fanout_seconds";

/// The per-socket queue length; past it the socket is closed as too slow.
pub const SOCKET_QUEUE: usize = 1024;
/// How often the hub checks the database for events it has not seen.
const CATCH_UP_EVERY: Duration = Duration::from_millis(1000);
/// Most events read from the database in one go.
const FETCH_BATCH: u64 = 1000;
/// How far back each reconciliation reads the log's access events: a join committed that
/// long before is found however late its bus message is, or if it never comes. Overlapping
/// reads are harmless (a join already applied is skipped).
const RECONCILE_WINDOW: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

pub type ConnId = u64;

enum Command {
    Register {
        user_id: Uuid,
        outlet: Arc<Outlet>,
        reply: oneshot::Sender<ConnId>,
    },
    /// Starts delivering these projects (with their `event_seq` as read after `Register`) to
    /// a registered socket; replies with where the hub's feed of each project stands.
    Follow {
        conn: ConnId,
        projects: Vec<(Uuid, i64)>,
        reply: oneshot::Sender<Vec<(Uuid, i64)>>,
    },
    Unregister(ConnId),
    /// A socket's queue overflowed while a writer offered it an event.
    TooSlow(ConnId),
    /// Events read from the database (gap fill or catch-up); `Err` if the read failed.
    Fetched {
        project_id: Uuid,
        /// The last seq asked for.
        to: i64,
        events: Result<Vec<Event>, ()>,
    },
    /// The projects' current `event_seq` (catch-up).
    Heads(Vec<(Uuid, i64)>),
    /// Recent access events of the log (reconciliation), in seq order per project.
    Access(Vec<AccessRow>),
}

#[derive(Clone)]
pub struct Hub {
    commands: mpsc::UnboundedSender<Command>,
    connections: Arc<AtomicU64>,
}

struct Connection {
    user_id: Uuid,
    outlet: Arc<Outlet>,
    /// When the socket registered: a join committed later is one it was open for.
    registered_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Default)]
struct ProjectFeed {
    /// The last seq delivered to local sockets.
    last_seq: i64,
    /// Local users who are members.
    members: HashSet<Uuid>,
    /// The seq at which each user last left the project (removed), as delivered here: a
    /// socket that read its memberships before that seq must not bring the user back.
    left: HashMap<Uuid, i64>,
    /// Events that arrived ahead of a gap, waiting for it to be filled.
    pending: BTreeMap<i64, Event>,
    fetching: bool,
    /// A read failed; wait for the next catch-up tick before reading again.
    stalled: bool,
}

struct HubTask {
    db: Db,
    commands: mpsc::UnboundedSender<Command>,
    conns: HashMap<ConnId, Connection>,
    /// Each local user's sockets, with their outlets at hand for the fan-out (foldhash: the
    /// fan-out walks these for every event).
    users: HashMap<Uuid, foldhash::HashMap<ConnId, Arc<Outlet>>>,
    feeds: HashMap<Uuid, ProjectFeed>,
    next_id: ConnId,
    connections: Arc<AtomicU64>,
    lanes: lanes::Lanes,
}

impl Hub {
    /// Starts the hub task; it stops when `shutdown` is cancelled.
    pub fn start(
        db: Db,
        bus: broadcast::Receiver<BusMessage>,
        shutdown: CancellationToken,
    ) -> Self {
        let (commands, inbox) = mpsc::unbounded_channel();
        let connections = Arc::new(AtomicU64::new(0));
        let task = HubTask {
            db,
            commands: commands.clone(),
            conns: HashMap::new(),
            users: HashMap::new(),
            feeds: HashMap::new(),
            next_id: 1,
            connections: connections.clone(),
            lanes: lanes::Lanes::start(commands.clone()),
        };
        tokio::spawn(task.run(inbox, bus, shutdown));
        Self {
            commands,
            connections,
        }
    }

    /// Registers a socket of `user_id`. From here on it receives every project its user
    /// joins (a project it creates, a membership it is given), on any instance; the projects
    /// the user is already a member of follow with [`Hub::follow`].
    ///
    /// Registering first and reading the memberships after closes the window in which a
    /// project created meanwhile would be in neither.
    pub async fn register(&self, user_id: Uuid, outlet: Arc<Outlet>) -> Option<ConnId> {
        let (reply, id) = oneshot::channel();
        self.commands
            .send(Command::Register {
                user_id,
                outlet,
                reply,
            })
            .ok()?;
        id.await.ok()
    }

    /// Delivers `projects` (id, `event_seq` read after [`Hub::register`]) to socket `conn`.
    /// Returns, per project, the last seq the hub had delivered locally when it took the
    /// socket in: the socket receives every later event live; one between the seq read and
    /// this position was delivered before the socket joined, and the socket replays it from
    /// the database.
    pub async fn follow(
        &self,
        conn: ConnId,
        projects: Vec<(Uuid, i64)>,
    ) -> Option<Vec<(Uuid, i64)>> {
        let (reply, positions) = oneshot::channel();
        self.commands
            .send(Command::Follow {
                conn,
                projects,
                reply,
            })
            .ok()?;
        positions.await.ok()
    }

    pub fn unregister(&self, id: ConnId) {
        let _ = self.commands.send(Command::Unregister(id));
    }

    /// Local sockets now open.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

mod lanes;
mod log;
mod reconcile;
mod task;

pub use log::fetch_events;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queued_message_is_a_pointer_and_a_tag() {
        assert_eq!(std::mem::size_of::<Outbound>(), 16);
    }
}
