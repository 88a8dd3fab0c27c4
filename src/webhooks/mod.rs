//! The webhook delivery worker of an instance. It wakes on every committed event (the bus),
//! on a queued ping or redelivery, and every quarter second; claims the webhooks with work
//! due that it is not already delivering (a lease in the database: one instance per
//! webhook at a time); and starts a run for each ([`run`]): a task that delivers the
//! webhook's events in `seq` order over one kept-alive connection and stays with it while
//! events keep coming. It never runs inside a write transaction: writes only wake it.

mod client;
mod run;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flowtrack_store::services::webhooks::delivery;
use flowtrack_store::state::Store;
use tokio::sync::broadcast::error::TryRecvError;
use uuid::Uuid;

pub use client::Sender;

/// How often the worker looks for due work when nothing wakes it (retries coming due,
/// events committed by instances without a shared bus).
const POLL_EVERY: Duration = Duration::from_millis(250);
/// How long the worker lets commits gather after a wake before it reads: events committed
/// together are delivered and recorded together rather than one transaction each — what
/// keeps many webhooks from costing the write path its speed. Deliveries start this much
/// after the commit, at the least.
const COALESCE: Duration = Duration::from_millis(50);

/// Starts the worker on a thread of its own, of lower priority than the request threads
/// (`flowtrack_core::priority`): on a busy machine deliveries give way to requests and catch
/// up after, rather than slow the writes that produce them. It stops at shutdown.
pub fn start(store: Store) -> anyhow::Result<()> {
    let sender = Sender::new(&store.config.webhooks)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("webhooks".into())
        .spawn(move || {
            flowtrack_core::priority::lower_this_thread();
            runtime.block_on(claim_loop(store, sender));
        })?;
    Ok(())
}

/// The webhooks this instance is delivering now (a run each).
#[derive(Clone, Default)]
struct Busy(Arc<Mutex<HashSet<Uuid>>>);

impl Busy {
    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<Uuid>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ids(&self) -> Vec<Uuid> {
        self.set().iter().copied().collect()
    }
}

async fn claim_loop(store: Store, sender: Sender) {
    let owner = Uuid::now_v7();
    let busy = Busy::default();
    let mut bus = store.bus.subscribe();
    loop {
        tokio::select! {
            () = store.shutdown.cancelled() => return,
            () = store.webhook_wake.notified() => {}
            _ = bus.recv() => {
                tokio::time::sleep(COALESCE).await;
                // The commits of the pause are all handled by the claim below.
                while let Ok(_) | Err(TryRecvError::Lagged(_)) = bus.try_recv() {}
            }
            () = tokio::time::sleep(POLL_EVERY) => {}
        }
        let claimed = match delivery::claim(&store, owner, &busy.ids()).await {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(error = %err, "claiming webhooks failed; will retry");
                continue;
            }
        };
        for id in claimed {
            if !busy.set().insert(id) {
                continue;
            }
            let (store, sender, busy) = (store.clone(), sender.clone(), busy.clone());
            tokio::spawn(async move {
                if let Err(err) = run::run(&store, &sender, owner, id).await {
                    tracing::warn!(webhook_id = %id, error = %err, "webhook delivery paused");
                }
                let _ = delivery::release(&store, owner, id).await;
                busy.set().remove(&id);
            });
        }
    }
}
