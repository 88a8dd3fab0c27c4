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
//! Socket queues are bounded: a client that cannot keep up is disconnected (it reconnects
//! and resumes) instead of slowing everyone down.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::core::db::Db;
use crate::models::{events, projects};
use crate::realtime::bus::{BusMessage, Event};
use crate::services::event::{Access, EventType};

/// What a socket task receives from the hub.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// An event with its text frame, shared by every socket it goes to (one copy per event,
    /// not per socket; one pointer per queue slot).
    Event(Arc<Delivery>),
    /// A JSON text message (a personal notification).
    Text(Arc<str>),
    /// Close the socket with this code.
    Close(u16, &'static str),
    /// Send the project's events `from..=to` from the log, unless the socket follows the
    /// project already: the socket's user joined the project at `from` (`None`: at their
    /// latest join up to `to`, to be read from the log), and the hub started delivering it
    /// to them only after `to` (see [`HubTask::reconcile`] and `Follow`).
    Replay {
        project_id: Uuid,
        from: Option<i64>,
        to: i64,
    },
}

/// A committed event ready to be written to sockets.
#[derive(Debug)]
pub struct Delivery {
    pub event: Event,
    pub text: Utf8Bytes,
}

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
        sender: mpsc::Sender<Outbound>,
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

/// An access event as the log holds it: (project, seq, type, subject).
type AccessRow = (Uuid, i64, String, Uuid);

#[derive(Clone)]
pub struct Hub {
    commands: mpsc::UnboundedSender<Command>,
    connections: Arc<AtomicU64>,
}

struct Connection {
    user_id: Uuid,
    sender: mpsc::Sender<Outbound>,
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
    users: HashMap<Uuid, HashSet<ConnId>>,
    feeds: HashMap<Uuid, ProjectFeed>,
    next_id: ConnId,
    connections: Arc<AtomicU64>,
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
    pub async fn register(&self, user_id: Uuid, sender: mpsc::Sender<Outbound>) -> Option<ConnId> {
        let (reply, id) = oneshot::channel();
        self.commands
            .send(Command::Register {
                user_id,
                sender,
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

/// Reads events of a project with `from <= seq <= to` in order (at most FETCH_BATCH).
/// A stored event this build cannot read is logged and left out (readers skip its seq).
pub async fn fetch_events(db: &Db, project_id: Uuid, from: i64, to: i64) -> Result<Vec<Event>, ()> {
    let rows = events::Entity::find()
        .filter(events::Column::ProjectId.eq(project_id))
        .filter(events::Column::Seq.gte(from))
        .filter(events::Column::Seq.lte(to))
        .order_by_asc(events::Column::Seq)
        .limit(FETCH_BATCH)
        .all(&db.read)
        .await;
    match rows {
        Ok(rows) => Ok(rows
            .into_iter()
            .filter_map(|row| match Event::from_payload(&row.payload) {
                Ok(event) => Some(event),
                Err(err) => {
                    tracing::error!(%err, %project_id, seq = row.seq, "unreadable stored event; skipped");
                    None
                }
            })
            .collect()),
        Err(err) => {
            tracing::warn!(%err, "reading events failed; will retry");
            Err(())
        }
    }
}

impl HubTask {
    async fn run(
        mut self,
        mut inbox: mpsc::UnboundedReceiver<Command>,
        mut bus: broadcast::Receiver<BusMessage>,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(CATCH_UP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => {
                    self.close_all(1001, "server shutting down");
                    return;
                }
                Some(command) = inbox.recv() => self.on_command(command),
                message = bus.recv() => match message {
                    Ok(message) => self.on_bus(message),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        // Missed messages are in the database: catch up now.
                        tracing::warn!(missed = n, "hub lagged behind the bus; catching up");
                        self.catch_up();
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick() => {
                    self.catch_up();
                    self.read_access();
                }
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Register {
                user_id,
                sender,
                reply,
            } => {
                let id = self.next_id;
                self.next_id += 1;
                self.conns.insert(id, Connection { user_id, sender });
                self.users.entry(user_id).or_default().insert(id);
                self.connections
                    .store(self.conns.len() as u64, Ordering::Relaxed);
                metrics::gauge!("flowtrack_ws_connections").set(self.conns.len() as f64);
                let _ = reply.send(id);
            }
            Command::Follow {
                conn,
                projects,
                reply,
            } => {
                let Some(user_id) = self.conns.get(&conn).map(|c| c.user_id) else {
                    return; // gone already: the dropped reply tells the socket
                };
                let mut started = Vec::new();
                let positions = projects
                    .into_iter()
                    .map(|(project_id, seq)| {
                        let feed = self.feeds.entry(project_id).or_insert_with(|| {
                            started.push((project_id, seq));
                            ProjectFeed {
                                last_seq: seq,
                                ..ProjectFeed::default()
                            }
                        });
                        // Read at `seq`: removed since (and not added again, which would
                        // have made the user a member here already)? Then not a member.
                        let removed_since = feed.left.get(&user_id).is_some_and(|&at| at > seq);
                        if !removed_since {
                            feed.members.insert(user_id);
                        }
                        (project_id, feed.last_seq)
                    })
                    .collect();
                let _ = reply.send(positions);
                // A feed started here at `seq` skipped everything up to it: the user's other
                // sockets here opened before the user joined (else they would follow it
                // already), and replay from that join.
                for (project_id, seq) in started {
                    self.send_user_except(
                        user_id,
                        conn,
                        Outbound::Replay {
                            project_id,
                            from: None,
                            to: seq,
                        },
                    );
                }
            }
            Command::Unregister(id) => self.drop_conn(id),
            Command::Fetched {
                project_id,
                to,
                events,
            } => self.on_fetched(project_id, to, events),
            Command::Access(rows) => self.reconcile(rows),
            Command::Heads(heads) => {
                for (project_id, head) in heads {
                    let Some(feed) = self.feeds.get_mut(&project_id) else {
                        continue;
                    };
                    feed.stalled = false;
                    if head > feed.last_seq && !feed.fetching {
                        let from = feed.last_seq + 1;
                        self.fetch(project_id, from, head);
                    }
                }
            }
        }
    }

    fn on_bus(&mut self, message: BusMessage) {
        match message {
            BusMessage::Event(event) => self.on_event(event),
            BusMessage::UserChanged { user_id, active } => {
                if !active {
                    self.send_user(user_id, Outbound::Close(4001, "user deactivated"));
                }
            }
            BusMessage::Notification { user_id, payload } => {
                self.send_user(user_id, Outbound::Text(payload));
            }
        }
    }

    /// Accepts an event into its project's feed and delivers whatever is now in order.
    fn on_event(&mut self, event: Event) {
        let project_id = event.project_id();
        if !self.feeds.contains_key(&project_id) {
            // Not followed here, unless a user connected to this instance joins with it
            // (creates the project, or is added to it).
            let joins_local = matches!(
                event.event.data.access(),
                Some(Access::Joins(user)) if self.users.contains_key(&user)
            );
            if !joins_local {
                return;
            }
            self.feeds.insert(
                project_id,
                ProjectFeed {
                    last_seq: event.seq() - 1,
                    ..ProjectFeed::default()
                },
            );
        }
        let Some(feed) = self.feeds.get_mut(&project_id) else {
            return;
        };
        if event.seq() <= feed.last_seq {
            return; // already delivered
        }
        feed.pending.insert(event.seq(), event);
        self.advance(project_id);
    }

    /// Delivers pending events while they are next in line; asks for a gap to be filled.
    fn advance(&mut self, project_id: Uuid) {
        loop {
            let Some(feed) = self.feeds.get_mut(&project_id) else {
                return;
            };
            let next = feed.last_seq + 1;
            match feed.pending.first_key_value().map(|(s, _)| *s) {
                Some(seq) if seq < next => {
                    feed.pending.pop_first();
                }
                Some(seq) if seq == next => {
                    let Some((_, event)) = feed.pending.pop_first() else {
                        return;
                    };
                    feed.last_seq = seq;
                    self.deliver(event);
                }
                Some(seq) => {
                    if !feed.fetching && !feed.stalled {
                        let from = feed.last_seq + 1;
                        self.fetch(project_id, from, seq - 1);
                    }
                    return;
                }
                None => return,
            }
        }
    }

    /// Reads missing events in the background; they come back as `Fetched`.
    fn fetch(&mut self, project_id: Uuid, from: i64, to: i64) {
        let Some(feed) = self.feeds.get_mut(&project_id) else {
            return;
        };
        feed.fetching = true;
        let db = self.db.clone();
        let commands = self.commands.clone();
        tokio::spawn(async move {
            let events = fetch_events(&db, project_id, from, to).await;
            let _ = commands.send(Command::Fetched {
                project_id,
                to,
                events,
            });
        });
    }

    fn on_fetched(&mut self, project_id: Uuid, to: i64, events: Result<Vec<Event>, ()>) {
        let Some(feed) = self.feeds.get_mut(&project_id) else {
            return;
        };
        feed.fetching = false;
        let Ok(events) = events else {
            // The database did not answer: the next catch-up tick retries.
            feed.stalled = true;
            return;
        };
        // What the log holds up to the last event read is all there will ever be: a seq
        // missing below it (pruned by retention, or unreadable) is skipped, not waited for.
        let read_up_to = events.last().map_or(to, |e| e.seq());
        for event in events {
            if event.seq() > feed.last_seq {
                feed.pending.insert(event.seq(), event);
            }
        }
        while let Some(first) = feed.pending.first_key_value().map(|(s, _)| *s) {
            if first <= feed.last_seq + 1 || first - 1 > read_up_to {
                break;
            }
            tracing::warn!(%project_id, from = feed.last_seq + 1, to = first - 1, "events missing from the log; skipping");
            feed.last_seq = first - 1;
        }
        self.advance(project_id);
    }

    /// Sends an event to every local member socket; applies membership changes it carries.
    fn deliver(&mut self, event: Event) {
        let project_id = event.project_id();
        let access = event.event.data.access();
        if let (Some(Access::Joins(user)), Some(feed)) = (access, self.feeds.get_mut(&project_id)) {
            feed.members.insert(user);
        }
        let members: Vec<Uuid> = self
            .feeds
            .get(&project_id)
            .map(|f| f.members.iter().copied().collect())
            .unwrap_or_default();
        let mut delivered = 0u64;
        let text = Utf8Bytes::from(event.payload.to_string());
        let delivery = Arc::new(Delivery { event, text });
        for user in &members {
            delivered += self.send_user(*user, Outbound::Event(delivery.clone()));
        }
        metrics::counter!("flowtrack_events_delivered_total").increment(delivered);
        match access {
            Some(Access::Leaves(user)) => {
                if let Some(feed) = self.feeds.get_mut(&project_id) {
                    feed.members.remove(&user);
                    feed.left.insert(user, feed.last_seq);
                }
            }
            Some(Access::Ends) => {
                self.feeds.remove(&project_id);
            }
            _ => {}
        }
    }

    /// Queues a message on every socket of a user; returns how many took it. A full queue
    /// closes that socket (its client resumes after reconnecting).
    fn send_user(&mut self, user: Uuid, message: Outbound) -> u64 {
        self.send_user_except(user, 0, message)
    }

    /// [`Self::send_user`] to every socket of the user but `except` (0: none; ids start at 1).
    fn send_user_except(&mut self, user: Uuid, except: ConnId, message: Outbound) -> u64 {
        let Some(ids) = self.users.get(&user) else {
            return 0;
        };
        let mut sent = 0;
        let mut too_slow = Vec::new();
        for id in ids.iter().filter(|id| **id != except) {
            if let Some(conn) = self.conns.get(id) {
                match conn.sender.try_send(message.clone()) {
                    Ok(()) => sent += 1,
                    Err(mpsc::error::TrySendError::Full(_)) => too_slow.push(*id),
                    Err(mpsc::error::TrySendError::Closed(_)) => too_slow.push(*id),
                }
            }
        }
        for id in too_slow {
            tracing::info!(conn = id, "closing a socket that cannot keep up");
            self.drop_conn(id);
        }
        sent
    }

    fn drop_conn(&mut self, id: ConnId) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        let user = conn.user_id;
        let last_of_user = match self.users.get_mut(&user) {
            Some(ids) => {
                ids.remove(&id);
                ids.is_empty()
            }
            None => true,
        };
        if last_of_user {
            self.users.remove(&user);
            self.feeds.retain(|_, feed| {
                feed.members.remove(&user);
                !feed.members.is_empty()
            });
        }
        self.connections
            .store(self.conns.len() as u64, Ordering::Relaxed);
        metrics::gauge!("flowtrack_ws_connections").set(self.conns.len() as f64);
    }

    fn close_all(&mut self, code: u16, reason: &'static str) {
        for conn in self.conns.values() {
            let _ = conn.sender.try_send(Outbound::Close(code, reason));
        }
    }

    /// Reads the recent joins and leaves of existing projects from the log in the background;
    /// they come back as `Access`.
    fn read_access(&mut self) {
        if self.users.is_empty() {
            return;
        }
        let db = self.db.clone();
        let commands = self.commands.clone();
        let since = chrono::Utc::now() - RECONCILE_WINDOW;
        let kinds = [
            EventType::ProjectCreated,
            EventType::MemberAdded,
            EventType::MemberRemoved,
        ]
        .map(EventType::as_str);
        tokio::spawn(async move {
            let existing = sea_orm::sea_query::Query::select()
                .column(projects::Column::Id)
                .from(projects::Entity)
                .to_owned();
            let rows: Result<Vec<AccessRow>, _> = events::Entity::find()
                .select_only()
                .column(events::Column::ProjectId)
                .column(events::Column::Seq)
                .column(events::Column::EventType)
                .column(events::Column::SubjectId)
                .filter(events::Column::CreatedAt.gte(since))
                .filter(events::Column::SubjectId.is_not_null())
                .filter(events::Column::EventType.is_in(kinds))
                .filter(events::Column::ProjectId.in_subquery(existing))
                .order_by_asc(events::Column::Seq)
                .into_tuple()
                .all(&db.read)
                .await;
            match rows {
                Ok(rows) => {
                    let _ = commands.send(Command::Access(rows));
                }
                Err(err) => tracing::warn!(%err, "reading recent joins failed"),
            }
        });
    }

    /// Applies joins of local users that the bus did not bring (Redis down, or slower than
    /// a socket that followed the project from the database): a project not followed here
    /// is followed from the join on; a followed one whose feed passed the join without the
    /// user (it skipped it) takes the user in and has their sockets replay what they missed.
    fn reconcile(&mut self, rows: Vec<AccessRow>) {
        // The latest access event per (project, user) decides.
        let mut latest: HashMap<(Uuid, Uuid), (i64, bool)> = HashMap::new();
        for (project_id, seq, kind, user) in rows {
            let joins = kind != EventType::MemberRemoved.as_str();
            let entry = latest.entry((project_id, user)).or_insert((seq, joins));
            if seq >= entry.0 {
                *entry = (seq, joins);
            }
        }
        for ((project_id, user), (seq, joins)) in latest {
            if !joins || !self.users.contains_key(&user) {
                continue;
            }
            match self.feeds.get_mut(&project_id) {
                None => {
                    tracing::info!(%project_id, seq, "a join the bus did not bring; following");
                    self.feeds.insert(
                        project_id,
                        ProjectFeed {
                            last_seq: seq - 1,
                            ..ProjectFeed::default()
                        },
                    );
                    self.fetch(project_id, seq, i64::MAX);
                }
                // (A leave delivered here after the join means the read is older than what
                // the feed knows: nothing to do.)
                Some(feed)
                    if feed.last_seq >= seq
                        && !feed.members.contains(&user)
                        && feed.left.get(&user).is_none_or(|&at| at < seq) =>
                {
                    tracing::info!(%project_id, seq, "a join the feed skipped; replaying");
                    feed.members.insert(user);
                    let to = feed.last_seq;
                    self.send_user(
                        user,
                        Outbound::Replay {
                            project_id,
                            from: Some(seq),
                            to,
                        },
                    );
                }
                Some(_) => {} // not reached yet, or applied already
            }
        }
    }

    /// Reads the followed projects' heads in the background; behind ones are fetched.
    fn catch_up(&mut self) {
        if self.feeds.is_empty() {
            return;
        }
        let ids: Vec<Uuid> = self.feeds.keys().copied().collect();
        let db = self.db.clone();
        let commands = self.commands.clone();
        tokio::spawn(async move {
            let mut heads = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(500) {
                let rows: Result<Vec<(Uuid, i64)>, _> = projects::Entity::find()
                    .select_only()
                    .column(projects::Column::Id)
                    .column(projects::Column::EventSeq)
                    .filter(projects::Column::Id.is_in(chunk.iter().copied()))
                    .into_tuple()
                    .all(&db.read)
                    .await;
                match rows {
                    Ok(rows) => heads.extend(rows),
                    Err(err) => {
                        tracing::warn!(%err, "catch-up read failed");
                        return;
                    }
                }
            }
            let _ = commands.send(Command::Heads(heads));
        });
    }
}
