//! A webhook receiver for `bench/run`: it answers every delivery with 204 at once and counts
//! them, so the figure is FlowTrack's delivery rate, not the receiver's.
//!
//! While its gate is closed (`POST /gate/close`, the state it starts in) it holds every
//! delivery unanswered, so a backlog of events builds up behind each webhook's first event;
//! `POST /gate/open` releases them and starts the clock. `GET /stats` gives the deliveries
//! answered since the gate opened, the seconds between the first and the last of them, and
//! how many arrived out of `seq` order per webhook path (must be 0). `POST /reset` clears it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use clap::Parser;
use serde_json::{Value, json};
use tokio::sync::watch;

#[derive(Parser)]
struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
}

#[derive(Default)]
struct Tally {
    delivered: u64,
    first: Option<Instant>,
    last: Option<Instant>,
    last_seq: HashMap<String, i64>,
    out_of_order: u64,
}

#[derive(Clone)]
struct Sink {
    tally: Arc<Mutex<Tally>>,
    gate: watch::Sender<bool>,
}

impl Sink {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn hook(State(sink): State<Sink>, Path(name): Path<String>, body: Bytes) -> StatusCode {
    let mut open = sink.gate.subscribe();
    if open.wait_for(|open| *open).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let seq = seq_of(&body);
    let now = Instant::now();
    let mut tally = sink.tally();
    tally.delivered += 1;
    tally.first.get_or_insert(now);
    tally.last = Some(now);
    if let Some(seq) = seq {
        let previous = tally.last_seq.insert(name, seq);
        if previous.is_some_and(|p| p >= seq) {
            tally.out_of_order += 1;
        }
    }
    StatusCode::NO_CONTENT
}

/// The event's `seq`, found without parsing the whole body (the sink should cost little:
/// it shares the machine with the server it measures).
fn seq_of(body: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b"\"seq\":";
    let at = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits: Vec<u8> = body[at..]
        .iter()
        .copied()
        .skip_while(u8::is_ascii_whitespace)
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

async fn stats(State(sink): State<Sink>) -> Json<Value> {
    let tally = sink.tally();
    let seconds = match (tally.first, tally.last) {
        (Some(first), Some(last)) => last.duration_since(first).as_secs_f64(),
        _ => 0.0,
    };
    Json(json!({
        "delivered": tally.delivered,
        "seconds": seconds,
        "out_of_order": tally.out_of_order,
    }))
}

async fn gate(State(sink): State<Sink>, Path(state): Path<String>) -> StatusCode {
    let open = state == "open";
    sink.gate.send_replace(open);
    StatusCode::NO_CONTENT
}

async fn reset(State(sink): State<Sink>) -> StatusCode {
    *sink.tally() = Tally::default();
    StatusCode::NO_CONTENT
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sink = Sink {
        tally: Arc::default(),
        gate: watch::Sender::new(false),
    };
    let app = axum::Router::new()
        .route("/hook/{name}", post(hook))
        .route("/gate/{state}", post(gate))
        .route("/stats", get(stats))
        .route("/reset", post(reset))
        .with_state(sink);
    let listener = tokio::net::TcpListener::bind(&args.bind).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
