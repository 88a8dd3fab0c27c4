//! The event bus: committed events are published here after their transaction commits.
//! The database (`events`) is the truth; the bus is the fast path to connected clients.

use std::sync::Arc;

use tokio::sync::broadcast;
use uuid::Uuid;

/// One committed change of a project, as clients receive it.
#[derive(Debug, Clone)]
pub struct Event {
    pub project_id: Uuid,
    pub seq: i64,
    /// The exact WebSocket message (JSON text), as stored in `events.payload`.
    pub payload: Arc<str>,
}

/// The in-process bus (one instance).
#[derive(Clone)]
pub struct Bus {
    events: broadcast::Sender<Event>,
}

impl Bus {
    pub fn in_process() -> Self {
        let (events, _) = broadcast::channel(4096);
        Self { events }
    }

    /// Publishes committed events (nobody listening is fine: they are in the database).
    pub fn publish(&self, events: Vec<Event>) {
        for event in events {
            let _ = self.events.send(event);
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}
