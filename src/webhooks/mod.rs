//! The webhook delivery worker of an instance. It wakes on every committed event (the bus),
//! on a queued ping or redelivery, and every quarter second; claims the webhooks with work
//! due (a lease in the database: one instance per webhook at a time); and delivers each
//! claimed webhook's events in `seq` order on a task of its own, recording every attempt in
//! the transaction that moves the webhook's cursor (`flowtrack_store::services::webhooks::
//! delivery`). It never runs inside a write transaction: writes only wake it.

mod client;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flowtrack_core::security::signature_header;
use flowtrack_store::models::webhooks;
use flowtrack_store::services::webhooks::delivery::{self, After};
use flowtrack_store::state::Store;
use uuid::Uuid;

use client::Message;
pub use client::Sender;

/// How often the worker looks for due work when nothing wakes it (retries coming due,
/// events committed by instances without a shared bus).
const POLL_EVERY: Duration = Duration::from_millis(250);
/// How often a webhook's lease is renewed while its events are being delivered.
const RENEW_EVERY: Duration = Duration::from_secs(3);

/// Starts the worker; it stops at shutdown.
pub fn start(store: Store) -> anyhow::Result<()> {
    let sender = Sender::new(&store.config.webhooks)?;
    tokio::spawn(run(store, sender));
    Ok(())
}

async fn run(store: Store, sender: Sender) {
    let owner = Uuid::now_v7();
    let busy: Arc<Mutex<HashSet<Uuid>>> = Arc::default();
    let mut bus = store.bus.subscribe();
    loop {
        tokio::select! {
            () = store.shutdown.cancelled() => return,
            () = store.webhook_wake.notified() => {}
            _ = bus.recv() => {}
            () = tokio::time::sleep(POLL_EVERY) => {}
        }
        let claimed = match delivery::claim(&store, owner).await {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(error = %err, "claiming webhooks failed; will retry");
                continue;
            }
        };
        for hook in claimed {
            let mut taken = busy.lock().unwrap_or_else(|p| p.into_inner());
            if !taken.insert(hook.id) {
                continue;
            }
            drop(taken);
            let (store, sender, busy) = (store.clone(), sender.clone(), busy.clone());
            tokio::spawn(async move {
                let id = hook.id;
                if let Err(err) = deliver(&store, &sender, owner, hook).await {
                    tracing::warn!(webhook_id = %id, error = %err, "webhook delivery paused");
                }
                let _ = delivery::release(&store, owner, id).await;
                busy.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
            });
        }
    }
}

/// Sends a claimed webhook's queued pings and redeliveries, then its events in order until
/// it has none left, an attempt fails (the retry is scheduled) or the lease is lost.
async fn deliver(
    store: &Store,
    sender: &Sender,
    owner: Uuid,
    mut hook: webhooks::Model,
) -> anyhow::Result<()> {
    for queued in delivery::queued(store, hook.id).await? {
        let payload = queued.payload.clone().unwrap_or_default();
        let outcome = send(store, sender, &hook, &queued.message_id, payload).await;
        delivery::finish_queued(store, queued, &outcome).await?;
    }
    let now = store.clock.now();
    if !hook.active || hook.next_attempt_at.is_some_and(|at| at > now) {
        return Ok(());
    }
    let mut renewed = Instant::now();
    if !delivery::renew(store, owner, hook.id).await? {
        return Ok(());
    }
    loop {
        let batch = delivery::next_events(store, owner, &mut hook).await?;
        if batch.is_empty() {
            break;
        }
        for due in batch {
            // The lease lasts 10 s: renewed every 3 s while delivering.
            if renewed.elapsed() > RENEW_EVERY {
                if !delivery::renew(store, owner, hook.id).await? {
                    return Ok(());
                }
                renewed = Instant::now();
            }
            let message_id = delivery::message_id(hook.id, due.seq);
            let outcome = send(store, sender, &hook, &message_id, due.payload.clone()).await;
            match delivery::record(store, owner, &mut hook, &due, &outcome).await? {
                After::Delivered => {}
                After::RetryAt(_) | After::Disabled => return Ok(()),
            }
        }
    }
    Ok(())
}

async fn send(
    store: &Store,
    sender: &Sender,
    hook: &webhooks::Model,
    message_id: &str,
    body: String,
) -> delivery::Outcome {
    let now = store.clock.now();
    let timestamp = now.timestamp();
    let secrets = delivery::signing_secrets(hook, now);
    let signature = signature_header(&secrets, message_id, timestamp, body.as_bytes());
    sender
        .send(Message {
            url: &hook.url,
            id: message_id,
            timestamp,
            signature: &signature,
            body,
        })
        .await
}
