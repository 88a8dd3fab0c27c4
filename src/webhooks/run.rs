//! One webhook's run: the task that delivers a claimed webhook's queued pings and
//! redeliveries and then its events, in `seq` order, over one kept-alive connection. It
//! records the attempts in the transaction that moves the webhook's cursor
//! (`flowtrack_store::services::webhooks::delivery::record`) — a run of successes together,
//! up to [`RECORD_BATCH`] of them or [`RECORD_EVERY`] old, a failure at once — so a crash
//! can repeat deliveries (same `webhook-id`) but never skip one. Once all is delivered it
//! waits for more of its project's events, holding lease and connection, and gives the
//! webhook back after [`IDLE_FOR`] without work, at a failure (the retry is scheduled), or
//! when the lease is lost.

use std::time::{Duration, Instant};

use flowtrack_core::security::signature_header;
use flowtrack_store::bus::BusMessage;
use flowtrack_store::models::webhooks;
use flowtrack_store::services::webhooks::delivery::{self, After, Attempt};
use flowtrack_store::state::Store;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::client::{Link, Message, Sender};
use super::{COALESCE, POLL_EVERY};

/// How often a webhook's lease (10 s) is renewed while its run lasts.
const RENEW_EVERY: Duration = Duration::from_secs(3);
/// At most this many successful deliveries are recorded in one transaction…
const RECORD_BATCH: usize = 100;
/// …and none waits longer than this for its record (what the delivery log may lag behind).
const RECORD_EVERY: Duration = Duration::from_millis(100);
/// How long a run with nothing to deliver keeps the webhook before giving it back.
const IDLE_FOR: Duration = Duration::from_secs(2);

/// What a pass over a webhook's due work came to.
enum Pass {
    /// A full batch was sent: more is waiting now.
    Backlog,
    /// Something was sent, and it has caught up: the next batch gathers for a moment.
    Worked,
    /// Nothing was due.
    Nothing,
    /// The run ends: an attempt failed, the webhook is inactive, or the lease is lost.
    Stop,
}

/// The lease of the webhook a run holds, renewed as it goes.
struct Lease<'a> {
    store: &'a Store,
    owner: Uuid,
    id: Uuid,
    renewed: Instant,
}

impl Lease<'_> {
    /// Renews the lease when due; false when another instance holds it now.
    async fn keep(&mut self) -> anyhow::Result<bool> {
        if self.renewed.elapsed() < RENEW_EVERY {
            return Ok(true);
        }
        self.renewed = Instant::now();
        Ok(delivery::renew(self.store, self.owner, self.id).await?)
    }
}

/// Runs a claimed webhook until there is nothing more to do for a while (the caller
/// releases the lease after).
pub(super) async fn run(
    store: &Store,
    sender: &Sender,
    owner: Uuid,
    id: Uuid,
) -> anyhow::Result<()> {
    let mut lease = Lease {
        store,
        owner,
        id,
        // The claim has just taken it.
        renewed: Instant::now(),
    };
    let mut link: Option<Link> = None;
    let mut bus = store.bus.subscribe();
    let mut worked_at = Instant::now();
    loop {
        // Read at every pass, with the webhook marked busy: a row read before an earlier
        // run of it ended would carry a cursor that run has moved since; and it may have
        // been edited (URL, secret, filter, paused) since the last pass — a delivery is
        // signed and sent as the webhook is when its batch is read.
        let Some(mut hook) = delivery::load(store, id).await? else {
            return Ok(());
        };
        match pass(store, sender, &mut lease, &mut link, &mut hook).await? {
            Pass::Stop => return Ok(()),
            Pass::Backlog => {
                worked_at = Instant::now();
                continue;
            }
            Pass::Worked => worked_at = Instant::now(),
            Pass::Nothing if worked_at.elapsed() >= IDLE_FOR => return Ok(()),
            Pass::Nothing => {}
        }
        if !lease.keep().await? {
            return Ok(());
        }
        // Wait for one of the project's events (or a poll: pings, other instances' commits).
        tokio::select! {
            () = store.shutdown.cancelled() => return Ok(()),
            () = next_event_of(&mut bus, hook.project_id) => tokio::time::sleep(COALESCE).await,
            () = tokio::time::sleep(POLL_EVERY) => {}
        }
    }
}

/// Returns at the next event of the project on the bus (or when the bus lost some).
async fn next_event_of(bus: &mut tokio::sync::broadcast::Receiver<BusMessage>, project: Uuid) {
    loop {
        match bus.recv().await {
            Ok(BusMessage::Event(event)) if event.project_id() == project => return,
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return,
            Err(RecvError::Closed) => return std::future::pending().await,
        }
    }
}

/// Sends the webhook's queued pings and redeliveries, then the next batch of its events
/// after the cursor, in order, until the batch is done, an attempt fails (the retry is
/// scheduled) or the lease is lost.
async fn pass(
    store: &Store,
    sender: &Sender,
    lease: &mut Lease<'_>,
    link: &mut Option<Link>,
    hook: &mut webhooks::Model,
) -> anyhow::Result<Pass> {
    let mut worked = false;
    for queued in delivery::queued(store, hook.id).await? {
        let payload = queued.payload.clone().unwrap_or_default();
        let outcome = send(store, sender, link, hook, &queued.message_id, payload).await;
        delivery::finish_queued(store, queued, &outcome).await?;
        worked = true;
    }
    let now = store.clock.now();
    if !hook.active || hook.next_attempt_at.is_some_and(|at| at > now) {
        return Ok(Pass::Stop);
    }
    let (batch, more) = delivery::next_events(store, lease.owner, hook).await?;
    if batch.is_empty() {
        return Ok(if worked { Pass::Worked } else { Pass::Nothing });
    }
    let mut unrecorded: Vec<Attempt> = Vec::new();
    let mut oldest = Instant::now();
    for due in batch {
        if !lease.keep().await? {
            return Ok(Pass::Stop);
        }
        let message_id = delivery::message_id(hook.id, due.seq);
        let body = due.payload.clone();
        let outcome = send(store, sender, link, hook, &message_id, body).await;
        let failed = !outcome.succeeded();
        if unrecorded.is_empty() {
            oldest = Instant::now();
        }
        unrecorded.push(Attempt { due, outcome });
        if failed || unrecorded.len() >= RECORD_BATCH || oldest.elapsed() >= RECORD_EVERY {
            let after = delivery::record(store, lease.owner, hook, &unrecorded).await?;
            unrecorded.clear();
            if after != After::Delivered {
                return Ok(Pass::Stop);
            }
        }
    }
    if !unrecorded.is_empty() {
        delivery::record(store, lease.owner, hook, &unrecorded).await?;
    }
    Ok(if more { Pass::Backlog } else { Pass::Worked })
}

/// Signs and sends one message (with every secret the webhook is signed with now).
async fn send(
    store: &Store,
    sender: &Sender,
    link: &mut Option<Link>,
    hook: &webhooks::Model,
    message_id: &str,
    body: String,
) -> delivery::Outcome {
    let now = store.clock.now();
    let timestamp = now.timestamp();
    let secrets = delivery::signing_secrets(hook, now);
    let signature = signature_header(&secrets, message_id, timestamp, body.as_bytes());
    sender
        .send(
            link,
            Message {
                url: &hook.url,
                id: message_id,
                timestamp,
                signature: &signature,
                body,
            },
        )
        .await
}
