//! The bus: how an instance tells every instance (itself included) that something committed.
//!
//! The database is the truth (`events`, `users`, `notifications`); the bus is only the fast
//! path. Without `REDIS_URL` it is an in-process broadcast. With Redis, messages are also
//! published on the channel `kanban_updates` (prefixed when `FLOWTRACK_REDIS_PREFIX` is not
//! the default) by one ordered publisher task, and a listener task forwards what other
//! instances publish. A message lost on the way (Redis down, a crash between commit and
//! publish) is recovered from the database by the hub's catch-up and the user watcher.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::services::event::ProjectEvent;

/// One committed change of a project on the bus: the typed event and its exact WebSocket
/// text (written once, shared by every socket and every reader).
#[derive(Debug, Clone)]
pub struct Event {
    pub event: Arc<ProjectEvent>,
    pub payload: Arc<str>,
}

impl Event {
    pub fn new(event: ProjectEvent) -> Self {
        let payload = Arc::from(event.to_json());
        Self {
            event: Arc::new(event),
            payload,
        }
    }

    /// Reads an event from its stored or published text.
    pub fn from_payload(payload: &str) -> Result<Self, serde_json::Error> {
        Ok(Self {
            event: Arc::new(ProjectEvent::from_json(payload)?),
            payload: Arc::from(payload),
        })
    }

    pub fn project_id(&self) -> Uuid {
        self.event.project_id
    }

    pub fn seq(&self) -> i64 {
        self.event.seq
    }
}

/// On Redis an event travels as its text alone; receivers read the typed event back from it.
#[derive(Serialize, Deserialize)]
struct EventWire {
    payload: String,
}

impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        EventWire {
            payload: self.payload.to_string(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = EventWire::deserialize(deserializer)?;
        Event::from_payload(&wire.payload).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum BusMessage {
    Event(Event),
    /// A user changed (deactivated, role, password…): drop cached copies; close the user's
    /// sockets if inactive, and those opened with an access token from before
    /// `session_epoch` (a password change ends those sessions).
    UserChanged {
        user_id: Uuid,
        active: bool,
        /// The user's `session_epoch` now (0 from instances that predate it).
        #[serde(default)]
        session_epoch: i64,
    },
    /// A personal notification for one user (the JSON WebSocket message).
    Notification {
        user_id: Uuid,
        /// The project it is about (a socket opened with a token bound to another project
        /// does not get it).
        project_id: Uuid,
        payload: Arc<str>,
    },
}

/// What travels over Redis: the message and the instance that sent it (which ignores its
/// own echo, having delivered it locally already).
#[derive(Serialize, Deserialize)]
struct Envelope {
    origin: Uuid,
    message: BusMessage,
}

#[derive(Clone)]
pub struct Bus {
    local: broadcast::Sender<BusMessage>,
    remote: Option<mpsc::Sender<BusMessage>>,
}

/// The Redis channel for a key prefix.
pub fn channel_name(prefix: &str) -> String {
    if prefix == "flowtrack" {
        "kanban_updates".to_string()
    } else {
        format!("{prefix}:kanban_updates")
    }
}

impl Bus {
    pub fn in_process() -> Self {
        let (local, _) = broadcast::channel(8192);
        Self {
            local,
            remote: None,
        }
    }

    /// A bus that also goes through Redis; starts the publisher (on a thread of its own)
    /// and the listener task. Each has connections of its own, made by `client`.
    pub fn redis(
        client: redis::Client,
        prefix: &str,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let (local, _) = broadcast::channel(8192);
        let (remote, queue) = mpsc::channel(16_384);
        let origin = Uuid::now_v7();
        let channel = channel_name(prefix);
        start_publisher(
            client.clone(),
            channel.clone(),
            origin,
            queue,
            shutdown.clone(),
        )?;
        tokio::spawn(listener(client, channel, origin, local.clone(), shutdown));
        Ok(Self {
            local,
            remote: Some(remote),
        })
    }

    /// Delivers to this instance at once and queues for the others.
    pub fn publish(&self, message: BusMessage) {
        if let BusMessage::Event(_) = &message {
            metrics::counter!("flowtrack_events_published_total").increment(1);
        }
        let _ = self.local.send(message.clone());
        if let Some(remote) = &self.remote
            && remote.try_send(message).is_err()
        {
            tracing::warn!("bus publish queue full; other instances catch up from the database");
        }
    }

    /// Delivers to this instance only (what each instance finds out on its own).
    pub fn publish_local(&self, message: BusMessage) {
        let _ = self.local.send(message);
    }

    pub fn publish_all(&self, messages: impl IntoIterator<Item = BusMessage>) {
        for m in messages {
            self.publish(m);
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<BusMessage> {
        self.local.subscribe()
    }
}

/// Runs [`publisher`] on a thread of its own. Why: the moment an event commits, this
/// instance's hub starts writing it to its own sockets — for a large project, tens of
/// milliseconds of both runtime workers — and a publisher task queued behind that work
/// would hold the event back from every other instance's sockets for as long. On its own
/// thread (its Redis connection's driver included) it is scheduled by the kernel as soon as
/// the event is queued.
fn start_publisher(
    client: redis::Client,
    channel: String,
    origin: Uuid,
    queue: mpsc::Receiver<BusMessage>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Made inside the thread's runtime: the connection's own tasks are spawned where it is.
    let conn = {
        let _inside = runtime.enter();
        flowtrack_core::redis::connect(client)?
    };
    std::thread::Builder::new()
        .name("redis-publish".into())
        .spawn(move || runtime.block_on(publisher(conn, channel, origin, queue, shutdown)))?;
    Ok(())
}

/// Publishes queued messages in order; a failed publish is logged and dropped (the database
/// catch-up delivers it). Ends with the shutdown or when every `Bus` is gone.
async fn publisher(
    mut conn: ConnectionManager,
    channel: String,
    origin: Uuid,
    mut queue: mpsc::Receiver<BusMessage>,
    shutdown: CancellationToken,
) {
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => return,
            m = queue.recv() => match m { Some(m) => m, None => return },
        };
        let Ok(text) = serde_json::to_string(&Envelope { origin, message }) else {
            continue;
        };
        let result: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(text)
            .query_async(&mut conn)
            .await;
        if let Err(err) = result {
            tracing::warn!(%err, "redis publish failed; relying on database catch-up");
        }
    }
}

/// Subscribes to the channel, reconnecting with backoff, and forwards other instances'
/// messages to the local bus.
async fn listener(
    client: redis::Client,
    channel: String,
    origin: Uuid,
    local: broadcast::Sender<BusMessage>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        let connected =
            tokio::time::timeout(Duration::from_secs(2), client.get_async_pubsub()).await;
        let mut pubsub = match connected {
            Ok(Ok(p)) => p,
            _ => {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        if let Err(err) = pubsub.subscribe(&channel).await {
            tracing::warn!(%err, "redis subscribe failed");
            continue;
        }
        tracing::info!(%channel, "subscribed to the redis bus");
        backoff = Duration::from_millis(100);
        let mut stream = pubsub.on_message();
        loop {
            let msg = tokio::select! {
                () = shutdown.cancelled() => return,
                m = stream.next() => m,
            };
            let Some(msg) = msg else {
                tracing::warn!("redis bus connection lost; reconnecting");
                break;
            };
            let Ok(text) = msg.get_payload::<String>() else {
                continue;
            };
            match serde_json::from_str::<Envelope>(&text) {
                Ok(envelope) if envelope.origin != origin => {
                    let _ = local.send(envelope.message);
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(%err, "ignoring a malformed bus message"),
            }
        }
    }
}
