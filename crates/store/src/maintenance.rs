//! Background duties of every instance:
//!
//! - **user watcher**: every second, reads the users changed since the last look and drops
//!   them from this instance's auth cache (closing a deactivated user's sockets). The bus
//!   already does this at once; the watcher is what makes "a deactivated user's tokens stop
//!   working within 1 second on every instance" hold even when a bus message is lost.
//! - **bus → caches**: other instances' `UserChanged` messages and committed events drop
//!   what the local auth and read caches hold of them.
//! - **event retention**: events older than `FLOWTRACK_EVENT_RETENTION_DAYS` are deleted
//!   hourly (a resume from before them answers `resync`).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use tokio::sync::broadcast;

use crate::bus::BusMessage;
use crate::models::{events, users};
use crate::state::Store;

const WATCH_EVERY: Duration = Duration::from_millis(500);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Commits may land slightly out of `updated_at` order; look back this far.
const WATCH_OVERLAP: TimeDelta = TimeDelta::seconds(2);

pub fn start(state: &Store) {
    tokio::spawn(watch_users(state.clone()));
    tokio::spawn(invalidate_from_bus(state.clone(), state.bus.subscribe()));
    tokio::spawn(prune_events(state.clone()));
}

/// A user row the watcher saw change: id, active, session epoch, when.
type ChangedUser = (uuid::Uuid, bool, i64, DateTime<Utc>);

async fn watch_users(state: Store) {
    let mut watermark: DateTime<Utc> = state.clock.now();
    let mut tick = tokio::time::interval(WATCH_EVERY);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let changed: Result<Vec<ChangedUser>, _> = users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .column(users::Column::IsActive)
            .column(users::Column::SessionEpoch)
            .column(users::Column::UpdatedAt)
            .filter(users::Column::UpdatedAt.gte(watermark - WATCH_OVERLAP))
            .into_tuple()
            .all(&state.db.read)
            .await;
        let Ok(changed) = changed else { continue };
        for (user_id, active, session_epoch, updated_at) in changed {
            watermark = watermark.max(updated_at);
            state.user_cache.invalidate(user_id);
            // For this instance's sockets: closed if the user is inactive, or opened before
            // a password change (the message is repeated while the change is in the
            // watcher's overlap window; the sockets concerned are closed at the first).
            state.bus.publish_local(BusMessage::UserChanged {
                user_id,
                active,
                session_epoch,
            });
        }
    }
}

async fn invalidate_from_bus(state: Store, mut bus: broadcast::Receiver<BusMessage>) {
    loop {
        let message = tokio::select! {
            () = state.shutdown.cancelled() => return,
            m = bus.recv() => m,
        };
        match message {
            Ok(BusMessage::UserChanged { user_id, .. }) => state.user_cache.invalidate(user_id),
            Ok(BusMessage::Event(event)) => state.read_cache.apply(&event),
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn prune_events(state: Store) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let keep = TimeDelta::days(i64::from(state.config.event_retention_days));
        let cutoff = state.clock.now() - keep;
        match events::Entity::delete_many()
            .filter(events::Column::CreatedAt.lt(cutoff))
            .exec(&state.db.write)
            .await
        {
            Ok(done) if done.rows_affected > 0 => {
                tracing::info!(deleted = done.rows_affected, "pruned old events");
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(%err, "pruning events failed"),
        }
    }
}
