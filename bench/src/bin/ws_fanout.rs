//! WebSocket fan-out load tool: opens N idle WebSocket clients against FlowTrack (optionally
//! spread over two instances), measures the server's extra RSS per connection, then makes M
//! moves and measures, for every client, the time from sending the move to receiving its
//! event. Prints one JSON line of results.
//!
//! ```sh
//! cargo run --release -p flowtrack-bench --bin ws_fanout -- \
//!     --base http://127.0.0.1:8000 --clients 10000 --moves 200 --server-pid <pid>
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;

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
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn total_rss(pids: &[u32]) -> u64 {
    pids.iter().filter_map(|p| rss_kib(*p)).sum()
}

/// The `"seq":N` of an event message, without parsing the whole JSON (the load tool must
/// not be the bottleneck).
fn seq_of(text: &str) -> Option<i64> {
    let start = text.find("\"seq\":")? + 6;
    let digits: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
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
    // Each client reports (seq, receive instant) for every event.
    let (tx, mut rx) = mpsc::unbounded_channel::<(i64, Instant)>();
    let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut pending = futures_util::stream::FuturesUnordered::new();
    let mut handles = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let base = match (&args.base2, i % 2) {
            (Some(b2), 1) => b2.clone(),
            _ => args.base.clone(),
        };
        let url = format!(
            "{}/ws/notifications/{user_id}?token={token}",
            base.replacen("http", "ws", 1)
        );
        let tx = tx.clone();
        let opened = opened.clone();
        pending.push(async move {
            let (stream, _) = tokio_tungstenite::connect_async(url).await?;
            opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok::<_, anyhow::Error>(tokio::spawn(async move {
                let (_, mut read) = stream.split();
                while let Some(Ok(msg)) = read.next().await {
                    if let tokio_tungstenite::tungstenite::Message::Text(text) = msg {
                        let now = Instant::now();
                        if let Some(seq) = seq_of(text.as_str()) {
                            let _ = tx.send((seq, now));
                        }
                    }
                }
            }))
        });
        if pending.len() >= args.ramp
            && let Some(r) = pending.next().await
        {
            handles.push(r?);
        }
    }
    while let Some(r) = pending.next().await {
        handles.push(r?);
    }
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = total_rss(&args.server_pid);

    // Moves, one at a time: each move's fan-out to every socket is measured on its own
    // (from sending the move to each socket receiving its event).
    let statuses = ["in_progress", "review", "done", "todo"];
    let mut latencies: Vec<f64> = Vec::with_capacity(args.moves * args.clients);
    let mut received = 0usize;
    for m in 0..args.moves {
        // seq: project.created = 1, task.created = 2, then one per move.
        let seq = 3 + m as i64;
        let t0 = Instant::now();
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
        let mut got = 0usize;
        while got < args.clients {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, rx.recv()).await {
                Ok(Some((s, at))) if s == seq => {
                    latencies.push((at - t0).as_secs_f64() * 1000.0);
                    got += 1;
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        received += got;
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    let result = json!({
        "clients": args.clients,
        "opened": opened.load(std::sync::atomic::Ordering::Relaxed),
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
    });
    println!("{result}");
    for h in handles {
        h.abort();
    }
    Ok(())
}
