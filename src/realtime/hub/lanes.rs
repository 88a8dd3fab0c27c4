//! The hub's writers: one task per runtime worker, each writing events to its share of the
//! sockets, so a large fan-out runs on every core while the hub goes on with its queue.
//!
//! A socket always belongs to the same lane (its id modulo the lane count), and a lane
//! writes its jobs in the order the hub gave them, so each socket gets its events in seq
//! order. A small fan-out (the usual case: a project's few open screens) is written by the
//! hub itself, without waking a lane — but only when no lane has work left, so it cannot
//! overtake an earlier event still on its way through a lane.

use super::*;

/// Fan-outs to at most this many sockets are written by the hub task itself.
const WRITE_INLINE_UP_TO: usize = 64;

/// A lane lets the worker run its other tasks after writing to this many sockets: a fan-out
/// to thousands takes tens of milliseconds, and the tasks queued behind it on the same
/// worker (the hub, the answers to other requests) would wait for all of it. (The Redis
/// publisher, which once waited here too, has a thread of its own: `bus.rs`.)
const YIELD_EVERY: usize = 256;

type Targets = Vec<(ConnId, Arc<Outlet>)>;

struct Job {
    delivery: Arc<Delivery>,
    targets: Targets,
}

pub(super) struct Lanes {
    lanes: Vec<mpsc::UnboundedSender<Job>>,
    /// Jobs given to the lanes and not finished yet.
    busy: Arc<AtomicUsize>,
    /// Where a lane reports a socket that cannot keep up.
    commands: mpsc::UnboundedSender<Command>,
}

impl Lanes {
    /// Starts one lane per runtime worker (they stop when the hub, holding their queues, does).
    pub(super) fn start(commands: mpsc::UnboundedSender<Command>) -> Self {
        let count = tokio::runtime::Handle::current()
            .metrics()
            .num_workers()
            .max(1);
        let busy = Arc::new(AtomicUsize::new(0));
        let lanes = (0..count)
            .map(|_| {
                let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
                let (busy, commands) = (busy.clone(), commands.clone());
                tokio::spawn(async move {
                    while let Some(job) = queue.recv().await {
                        let mut slices = job.targets.chunks(YIELD_EVERY).peekable();
                        while let Some(slice) = slices.next() {
                            offer_all(&job.delivery, slice, &commands);
                            if slices.peek().is_some() {
                                tokio::task::yield_now().await;
                            }
                        }
                        drop(job);
                        busy.fetch_sub(1, Ordering::Release);
                    }
                });
                jobs
            })
            .collect();
        Self {
            lanes,
            busy,
            commands,
        }
    }

    /// Writes `delivery` to `targets`: here and now when they are few and no lane has work
    /// left, else spread over the lanes.
    pub(super) fn write(&self, delivery: Arc<Delivery>, targets: Targets) {
        if targets.len() <= WRITE_INLINE_UP_TO && self.busy.load(Ordering::Acquire) == 0 {
            offer_all(&delivery, &targets, &self.commands);
            return;
        }
        let count = self.lanes.len();
        let mut shares: Vec<Targets> = (0..count)
            .map(|_| Vec::with_capacity(targets.len() / count + 1))
            .collect();
        for (id, outlet) in targets {
            shares[(id % count as u64) as usize].push((id, outlet));
        }
        for (lane, targets) in self.lanes.iter().zip(shares) {
            if targets.is_empty() {
                continue;
            }
            self.busy.fetch_add(1, Ordering::AcqRel);
            let job = Job {
                delivery: delivery.clone(),
                targets,
            };
            if lane.send(job).is_err() {
                self.busy.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

fn offer_all(
    delivery: &Arc<Delivery>,
    targets: &[(ConnId, Arc<Outlet>)],
    commands: &mpsc::UnboundedSender<Command>,
) {
    for (id, outlet) in targets {
        if outlet.offer(delivery) == Offer::TooSlow {
            let _ = commands.send(Command::TooSlow(*id));
        }
    }
}
