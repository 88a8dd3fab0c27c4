//! WebSocket fan-out load tool: opens N idle WebSocket clients against FlowTrack (optionally
//! spread over two instances), measures the server's extra RSS per connection, then makes M
//! moves and measures, for every client, the time from sending the move to receiving its
//! event (the sockets read by `--readers` threads, which pause `--nap-us` after a poll that
//! found few sockets ready: [`receiver`]). Prints one JSON line of results, with the server's own part: its fan-out time per
//! event from `/metrics` (the hub taking the event → the last socket write returning; bucket
//! upper bounds) and the CPU the servers and this tool used per move (they share the cores).
//!
//! ```sh
//! cargo run --release -p flowtrack-bench --bin ws_fanout -- \
//!     --base http://127.0.0.1:8000 --clients 10000 --moves 200 --server-pid <pid>
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use tokio::sync::Notify;

mod receiver;
use flowtrack_bench::rss_kib;
use receiver::Receiver;

#[derive(Parser, Debug)]
struct Args {
    /// Instance that receives the moves (and, without --base2, all sockets).
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    base: String,
    /// A second instance: half of the sockets connect there (cross-instance delivery).
    #[arg(long)]
    base2: Option<String>,
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    #[arg(long, default_value_t = 200)]
    moves: usize,
    /// PIDs of the server processes whose RSS to sample (comma-separated).
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Sockets opened at once while ramping up.
    #[arg(long, default_value_t = 200)]
    ramp: usize,
    /// Threads reading the sockets (each a share of them; see `receiver.rs` for why not one).
    #[arg(long, default_value_t = 2)]
    readers: usize,
    /// Microseconds a reading thread pauses after a poll that found few sockets ready, so the
    /// server's sends do not each wake it (see `receiver.rs`); 0: never.
    #[arg(long, default_value_t = 1000)]
    nap_us: u64,
}

fn total_rss(pids: &[u32]) -> u64 {
    pids.iter().filter_map(|p| rss_kib(*p)).sum()
}

/// CPU time (user + system) of a process so far, in ms (`self` for this tool).
fn cpu_ms(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces), from field 3 on.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<f64>().ok())
        .sum();
    // USER_HZ is 100 on Linux.
    ticks * 10.0
}

fn total_cpu_ms(pids: &[u32]) -> f64 {
    pids.iter().map(|p| cpu_ms(&p.to_string())).sum()
}

/// The server-side fan-out histogram (`flowtrack_ws_fanout_seconds`: from the hub taking an
/// event to its last local socket write returning) as (upper bound in s, cumulative count).
async fn fanout_histogram(http: &reqwest::Client, base: &str) -> anyhow::Result<Vec<(f64, f64)>> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let mut buckets = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("flowtrack_ws_fanout_seconds_bucket{le=\"") else {
            continue;
        };
        let Some((le, count)) = rest.split_once("\"} ") else {
            continue;
        };
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse()?
        };
        buckets.push((le, count.trim().parse()?));
    }
    Ok(buckets)
}

/// Percentile of the events between two scrapes, as the upper bound of its bucket in ms.
fn histogram_percentile(before: &[(f64, f64)], after: &[(f64, f64)], p: f64) -> f64 {
    let counts: Vec<(f64, f64)> = after
        .iter()
        .map(|(le, n)| {
            let earlier = before
                .iter()
                .find(|(b, _)| b == le)
                .map_or(0.0, |(_, c)| *c);
            (*le, n - earlier)
        })
        .collect();
    let total = counts.last().map_or(0.0, |(_, n)| *n);
    if total == 0.0 {
        return f64::NAN;
    }
    counts
        .iter()
        .find(|(_, n)| *n >= total * p / 100.0)
        .map_or(f64::NAN, |(le, _)| le * 1000.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn post(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> anyhow::Result<Value> {
    let mut req = client.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        bail!("{status}: {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

/// What the clients record, shared without a message per delivery: a channel send per
/// received event (10 000 per move) was the tool's largest cost on the cores it shares with
/// the server. Each client keeps its own latencies; the main task learns a move is complete
/// from one counter per move.
struct Recorder {
    /// When each move was sent, in ns since `epoch` (0: not yet), indexed by seq.
    sent_at: Vec<AtomicU64>,
    /// How many clients received each seq.
    arrived: Vec<AtomicUsize>,
    epoch: Instant,
    clients: usize,
    /// Woken when the last client receives a move's event.
    complete: Notify,
}

impl Recorder {
    /// A client received `seq` at `at`: its latency in ms, if the seq is one of the moves.
    fn received(&self, seq: i64, at: Instant) -> Option<f64> {
        let index = usize::try_from(seq).ok()?;
        let sent = self.sent_at.get(index)?.load(Ordering::Acquire);
        if sent == 0 {
            return None;
        }
        let at_ns = at.duration_since(self.epoch).as_nanos() as u64;
        if self.arrived[index].fetch_add(1, Ordering::AcqRel) + 1 == self.clients {
            self.complete.notify_one();
        }
        Some(at_ns.saturating_sub(sent) as f64 / 1e6)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::builder().no_proxy().build()?;
    let email = format!("bench-{}@example.com", uuid::Uuid::now_v7().simple());
    let pair = post(
        &http,
        format!("{}/auth/register", args.base),
        None,
        json!({"email": email, "password": "bench-password-1", "full_name": "Bench"}),
    )
    .await
    .context("register")?;
    let token = pair["access_token"].as_str().context("token")?.to_string();
    let user_id = pair["user"]["id"].as_str().context("user id")?.to_string();
    let project = post(
        &http,
        format!("{}/projects", args.base),
        Some(&token),
        json!({"name": "Fan-out"}),
    )
    .await?;
    let pid = project["id"].as_str().context("project id")?.to_string();
    let task = post(
        &http,
        format!("{}/tasks", args.base),
        Some(&token),
        json!({"project_id": pid, "title": "moving"}),
    )
    .await?;
    let task_id = task["id"].as_str().context("task id")?.to_string();

    let rss_before = total_rss(&args.server_pid);
    // seq: project.created = 1, task.created = 2, then one per move.
    let recorder = Arc::new(Recorder {
        sent_at: (0..args.moves + 3).map(|_| AtomicU64::new(0)).collect(),
        arrived: (0..args.moves + 3).map(|_| AtomicUsize::new(0)).collect(),
        epoch: Instant::now(),
        clients: args.clients,
        complete: Notify::new(),
    });
    let socket_bases: Vec<String> = std::iter::once(args.base.clone())
        .chain(args.base2.clone())
        .collect();
    let ws_path = format!("/ws/notifications/{user_id}?token={token}");
    let clients = args.clients;
    let started = Instant::now();
    let shares = Receiver::open(&socket_bases, &ws_path, clients, args.ramp, args.readers).await?;
    let opened: usize = shares.iter().map(Receiver::len).sum();
    let stop = Arc::new(AtomicBool::new(false));
    let nap = Duration::from_micros(args.nap_us);
    let reading: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let (recorder, stop) = (recorder.clone(), stop.clone());
            std::thread::spawn(move || share.run(recorder, stop, nap))
        })
        .collect();
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = total_rss(&args.server_pid);

    // Moves, one at a time: each move's fan-out to every socket is measured on its own
    // (from sending the move to each socket receiving its event).
    let statuses = ["in_progress", "review", "done", "todo"];
    let bases: Vec<&str> = std::iter::once(args.base.as_str())
        .chain(args.base2.as_deref())
        .collect();
    let mut histograms_before = Vec::new();
    for base in &bases {
        histograms_before.push(fanout_histogram(&http, base).await?);
    }
    let (server_cpu_before, own_cpu_before) = (total_cpu_ms(&args.server_pid), cpu_ms("self"));
    let mut received = 0usize;
    for m in 0..args.moves {
        let seq = 3 + m;
        let t0 = Instant::now();
        recorder.sent_at[seq].store(
            t0.duration_since(recorder.epoch).as_nanos() as u64,
            Ordering::Release,
        );
        let resp = http
            .patch(format!("{}/tasks/{task_id}/move", args.base))
            .bearer_auth(&token)
            .json(&json!({"status": statuses[m % statuses.len()]}))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("move failed: {}", resp.status());
        }
        let deadline = t0 + Duration::from_secs(5);
        while recorder.arrived[seq].load(Ordering::Acquire) < args.clients {
            let left = deadline.saturating_duration_since(Instant::now());
            // A short wait as well: the notification may come between the check and here.
            let wait = left.min(Duration::from_millis(5));
            if wait.is_zero() {
                break;
            }
            let _ = tokio::time::timeout(wait, recorder.complete.notified()).await;
        }
        received += recorder.arrived[seq].load(Ordering::Acquire);
    }
    let server_cpu = total_cpu_ms(&args.server_pid) - server_cpu_before;
    let own_cpu = cpu_ms("self") - own_cpu_before;
    // Per instance: the slowest instance's figure is what the clients see.
    let mut server_p50 = f64::NAN;
    let mut server_p99 = f64::NAN;
    for (base, before) in bases.iter().zip(&histograms_before) {
        let after = fanout_histogram(&http, base).await?;
        server_p50 = histogram_percentile(before, &after, 50.0).max(server_p50);
        server_p99 = histogram_percentile(before, &after, 99.0).max(server_p99);
    }
    stop.store(true, Ordering::Release);
    let mut per_instance = tokio::task::spawn_blocking(move || {
        let mut merged: Vec<receiver::Received> = Vec::new();
        for reader in reading {
            let got = reader
                .join()
                .map_err(|_| anyhow::anyhow!("a reading thread panicked"))?;
            merged.resize_with(got.len().max(merged.len()), Default::default);
            for (into, got) in merged.iter_mut().zip(got) {
                into.merge(got);
            }
        }
        anyhow::Ok(merged)
    })
    .await??;
    // Each instance's own figures: with two, the second gets each event through Redis, so
    // its first arrival per move shows what the trip costs.
    let instances: Vec<Value> = per_instance
        .iter_mut()
        .map(|got| {
            got.latencies.sort_by(|a, b| a.total_cmp(b));
            let mut first: Vec<f64> = got
                .first
                .iter()
                .copied()
                .filter(|f| f.is_finite())
                .collect();
            first.sort_by(|a, b| a.total_cmp(b));
            json!({
                "latency_ms_p50": percentile(&got.latencies, 50.0),
                "latency_ms_p99": percentile(&got.latencies, 99.0),
                "first_arrival_ms_p50": percentile(&first, 50.0),
                "first_arrival_ms_p99": percentile(&first, 99.0),
            })
        })
        .collect();
    let mut latencies: Vec<f64> = per_instance
        .into_iter()
        .flat_map(|got| got.latencies)
        .collect();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let result = json!({
        "clients": args.clients,
        "readers": args.readers,
        "nap_us": args.nap_us,
        "opened": opened,
        "instances": if args.base2.is_some() { 2 } else { 1 },
        "connect_seconds": connect_secs,
        "server_rss_kib_before": rss_before,
        "server_rss_kib_after": rss_after,
        "extra_rss_bytes_per_connection": if args.clients > 0 { (rss_after.saturating_sub(rss_before) * 1024) as f64 / args.clients as f64 } else { 0.0 },
        "moves": args.moves,
        "deliveries_expected": args.moves * args.clients,
        "deliveries_received": received,
        "latency_ms_p50": percentile(&latencies, 50.0),
        "latency_ms_p99": percentile(&latencies, 99.0),
        "latency_ms_max": latencies.last().copied().unwrap_or(f64::NAN),
        "server_fanout_ms_p50": server_p50,
        "server_fanout_ms_p99": server_p99,
        "server_cpu_ms_per_move": server_cpu / args.moves.max(1) as f64,
        "client_cpu_ms_per_move": own_cpu / args.moves.max(1) as f64,
        "per_instance": instances,
    });
    println!("{result}");
    Ok(())
}
