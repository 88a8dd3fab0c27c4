//! Soak: minutes of mixed load (reads, creates, moves, updates, comments) from several users
//! while hundreds of WebSocket clients listen, with the server's RSS sampled every second.
//! Passes when no request failed, every client received every event of its projects exactly
//! once and in order, and the RSS of the last third is not above the middle third's (within
//! a tolerance).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{Api, Rng, STATUSES, Server, ServerArgs, User, finish, percentile, rss_kib};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub server: ServerArgs,
    #[arg(long, default_value_t = 180)]
    pub seconds: u64,
    /// WebSocket clients (spread over the member users).
    #[arg(long, default_value_t = 500)]
    pub ws_clients: usize,
    #[arg(long, default_value_t = 50)]
    pub users: usize,
    #[arg(long, default_value_t = 10)]
    pub projects: usize,
    /// HTTP requests per second, all workers together.
    #[arg(long, default_value_t = 150)]
    pub rate: u64,
    #[arg(long, default_value_t = 8)]
    pub workers: usize,
    /// Allowed growth of the last third's mean RSS over the middle third's, percent…
    #[arg(long, default_value_t = 10.0)]
    pub rss_tolerance_percent: f64,
    /// …plus this many MiB.
    #[arg(long, default_value_t = 8)]
    pub rss_tolerance_mib: u64,
}

/// One WebSocket client's view: per project, the last seq received and what went wrong.
#[derive(Default)]
struct ClientState {
    last: HashMap<String, i64>,
    gaps: u64,
    duplicates: u64,
    received: u64,
    reconnects: u64,
}

async fn ws_client(
    base: String,
    user: User,
    start: HashMap<String, i64>,
    state: Arc<Mutex<ClientState>>,
    stop: Arc<AtomicBool>,
    connected: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    state.lock().await.last = start;
    let ws = base.replacen("http", "ws", 1);
    let mut first = true;
    while !stop.load(Ordering::Relaxed) {
        // (Re)connect, resuming after the last seq seen of each project.
        let resume: Vec<String> = state
            .lock()
            .await
            .last
            .iter()
            .map(|(p, s)| format!("{p}:{s}"))
            .collect();
        let url = format!(
            "{ws}/ws/notifications/{}?token={}&resume={}",
            user.id,
            user.token,
            resume.join(",")
        );
        let mut socket = match tokio_tungstenite::connect_async(url).await {
            Ok((socket, _)) => socket,
            Err(e) => {
                if first {
                    return Err(e).context("WebSocket connect");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if first {
            connected.fetch_add(1, Ordering::Relaxed);
            first = false;
        } else {
            state.lock().await.reconnects += 1;
        }
        loop {
            let next = tokio::time::timeout(Duration::from_millis(500), socket.next()).await;
            let message = match next {
                Err(_) if stop.load(Ordering::Relaxed) => return Ok(()),
                Err(_) => continue,
                Ok(None) | Ok(Some(Err(_))) => break,
                Ok(Some(Ok(m))) => m,
            };
            let Message::Text(text) = message else {
                continue;
            };
            let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
                continue;
            };
            let (Some(p), Some(seq)) = (v["project_id"].as_str(), v["seq"].as_i64()) else {
                continue;
            };
            let mut s = state.lock().await;
            s.received += 1;
            let Some(last) = s.last.get(p).copied() else {
                continue;
            };
            if seq <= last {
                s.duplicates += 1;
            } else {
                if seq != last + 1 {
                    s.gaps += 1;
                }
                s.last.insert(p.to_string(), seq);
            }
        }
    }
    Ok(())
}

struct Work {
    api: Api,
    members: Vec<(User, Vec<String>)>,
    tasks: std::sync::Mutex<HashMap<String, Vec<String>>>,
    stop: AtomicBool,
    requests: AtomicU64,
    errors: AtomicU64,
    error_samples: std::sync::Mutex<Vec<String>>,
    latencies: std::sync::Mutex<Vec<f64>>,
}

async fn worker(work: Arc<Work>, id: u64, interval: Duration) {
    let mut rng = Rng::new(7000 + id);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !work.stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let (user, projects) = &work.members[rng.below(work.members.len())];
        let project = &projects[rng.below(projects.len())];
        let tasks = work
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(project)
            .cloned()
            .unwrap_or_default();
        let task = tasks[rng.below(tasks.len())].clone();
        let roll = rng.below(100);
        let (method, path, body) = match roll {
            0..40 => (Method::GET, format!("/tasks/{task}"), None),
            40..52 => (Method::GET, format!("/projects/{project}/board"), None),
            52..60 => (
                Method::GET,
                format!("/tasks?project_id={project}&limit=50"),
                None,
            ),
            60..80 => (
                Method::PATCH,
                format!("/tasks/{task}/move"),
                Some(json!({"status": STATUSES[rng.below(4)]})),
            ),
            80..90 => (
                Method::POST,
                "/tasks".to_string(),
                Some(
                    json!({"project_id": project, "title": format!("soak {}", rng.next() % 100_000)}),
                ),
            ),
            90..95 => (
                Method::PATCH,
                format!("/tasks/{task}"),
                Some(json!({"title": format!("renamed {}", rng.next() % 100_000)})),
            ),
            _ => (
                Method::POST,
                format!("/tasks/{task}/comments"),
                Some(json!({"body": "soak comment"})),
            ),
        };
        work.requests.fetch_add(1, Ordering::Relaxed);
        match work
            .api
            .call(method.clone(), &path, Some(&user.token), body.as_ref())
            .await
        {
            Ok(a) if a.ok() => {
                work.latencies
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(a.elapsed.as_secs_f64() * 1000.0);
                if method == Method::POST
                    && path == "/tasks"
                    && let Some(id) = a.body["id"].as_str()
                {
                    work.tasks
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry(project.clone())
                        .or_default()
                        .push(id.to_string());
                }
            }
            other => {
                work.errors.fetch_add(1, Ordering::Relaxed);
                let mut samples = work.error_samples.lock().unwrap_or_else(|p| p.into_inner());
                if samples.len() < 20 {
                    samples.push(match other {
                        Ok(a) => format!("{method} {path}: {} {}", a.status, a.body),
                        Err(e) => format!("{method} {path}: no answer: {e}"),
                    });
                }
            }
        }
    }
}

fn mean(values: &[u64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<u64>() as f64 / values.len() as f64
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut server = Server::new(args.server.clone())?;
    server.start().await?;
    let pid = server.pid().context("server pid")?;
    let api = Api::new(&server.base)?;

    // Set-up: an owner with the projects, member users (editors of two projects each), seed tasks.
    let owner = api.register("soak-owner").await?;
    let mut projects = Vec::new();
    for i in 0..args.projects {
        projects.push(api.create_project(&owner, &format!("soak {i}")).await?);
    }
    let mut members = Vec::new();
    for i in 0..args.users {
        let user = api.register(&format!("soak-member-{i}")).await?;
        let mine = vec![
            projects[i % projects.len()].clone(),
            projects[(i + 3) % projects.len()].clone(),
        ];
        let mut mine_dedup = mine.clone();
        mine_dedup.dedup();
        for p in &mine_dedup {
            api.must(
                Method::POST,
                &format!("/projects/{p}/members"),
                Some(&owner.token),
                Some(json!({"user_id": user.id, "role": "editor"})),
            )
            .await?;
        }
        members.push((user, mine_dedup));
    }
    let mut tasks: HashMap<String, Vec<String>> = HashMap::new();
    for p in &projects {
        for t in 0..20 {
            let task = api
                .must(
                    Method::POST,
                    "/tasks",
                    Some(&owner.token),
                    Some(json!({"project_id": p, "title": format!("seed {t}")})),
                )
                .await?;
            tasks
                .entry(p.clone())
                .or_default()
                .push(task["id"].as_str().context("task id")?.to_string());
        }
    }
    let mut start_seq = HashMap::new();
    for p in &projects {
        let board = api
            .must(
                Method::GET,
                &format!("/projects/{p}/board"),
                Some(&owner.token),
                None,
            )
            .await?;
        start_seq.insert(p.clone(), board["seq"].as_i64().context("seq")?);
    }

    // WebSocket clients, spread over the members.
    let stop_ws = Arc::new(AtomicBool::new(false));
    let connected = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for i in 0..args.ws_clients {
        let (user, mine) = &members[i % members.len()];
        let start: HashMap<String, i64> = mine.iter().map(|p| (p.clone(), start_seq[p])).collect();
        let state = Arc::new(Mutex::new(ClientState::default()));
        let handle = tokio::spawn(ws_client(
            server.base.clone(),
            user.clone(),
            start,
            state.clone(),
            stop_ws.clone(),
            connected.clone(),
        ));
        clients.push((state, handle));
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while (connected.load(Ordering::Relaxed) as usize) < args.ws_clients {
        if Instant::now() > deadline {
            anyhow::bail!(
                "only {} of {} WebSocket clients connected",
                connected.load(Ordering::Relaxed),
                args.ws_clients
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "soak: {} WebSocket clients connected; load for {} s at {} requests/s",
        args.ws_clients, args.seconds, args.rate
    );

    // Load + RSS sampling.
    let work = Arc::new(Work {
        api: api.clone(),
        members: members.clone(),
        tasks: std::sync::Mutex::new(tasks),
        stop: AtomicBool::new(false),
        requests: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        error_samples: std::sync::Mutex::new(Vec::new()),
        latencies: std::sync::Mutex::new(Vec::new()),
    });
    let interval = Duration::from_secs_f64(args.workers as f64 / args.rate.max(1) as f64);
    let mut workers = Vec::new();
    for id in 0..args.workers {
        workers.push(tokio::spawn(worker(work.clone(), id as u64, interval)));
    }
    let load_started = Instant::now();
    let mut rss = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while load_started.elapsed() < Duration::from_secs(args.seconds) {
        tick.tick().await;
        server.check_alive()?;
        rss.push(rss_kib(pid).unwrap_or(0));
        let n = rss.len() as u64;
        if n.is_multiple_of(30) {
            println!(
                "soak: {n:>4} s  rss {:>4} MiB  requests {}  errors {}",
                rss.last().copied().unwrap_or(0) / 1024,
                work.requests.load(Ordering::Relaxed),
                work.errors.load(Ordering::Relaxed)
            );
        }
    }
    work.stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }

    // Every client must reach each project's final seq.
    let mut final_seq = HashMap::new();
    for p in &projects {
        let board = api
            .must(
                Method::GET,
                &format!("/projects/{p}/board"),
                Some(&owner.token),
                None,
            )
            .await?;
        final_seq.insert(p.clone(), board["seq"].as_i64().context("seq")?);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut behind = 0usize;
        for (state, _) in &clients {
            let s = state.lock().await;
            if s.last.iter().any(|(p, seq)| *seq < final_seq[p]) {
                behind += 1;
            }
        }
        if behind == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop_ws.store(true, Ordering::Relaxed);
    let mut lost = 0i64;
    let (mut gaps, mut duplicates, mut received, mut reconnects) = (0u64, 0u64, 0u64, 0u64);
    let mut expected = 0i64;
    for (state, handle) in clients {
        let _ = tokio::time::timeout(Duration::from_secs(2), handle).await;
        let s = state.lock().await;
        gaps += s.gaps;
        duplicates += s.duplicates;
        received += s.received;
        reconnects += s.reconnects;
        for (p, seq) in &s.last {
            expected += final_seq[p] - start_seq[p];
            lost += (final_seq[p] - seq).max(0);
        }
    }
    server.check_alive()?;
    let rss_final = rss_kib(pid).unwrap_or(0);
    server.stop().await;

    // ---- judge ----
    let mut problems = Vec::new();
    let errors = work.errors.load(Ordering::Relaxed);
    if errors > 0 {
        problems.push(format!(
            "{errors} requests failed: {:?}",
            work.error_samples
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        ));
    }
    if lost > 0 || gaps > 0 {
        problems.push(format!(
            "events lost: {lost} never arrived, {gaps} gaps in seq order"
        ));
    }
    if duplicates > 0 {
        problems.push(format!("{duplicates} events arrived twice"));
    }
    let third = rss.len() / 3;
    let middle = mean(&rss[third..2 * third]);
    let last = mean(&rss[2 * third..]);
    let allowed = middle * (1.0 + args.rss_tolerance_percent / 100.0)
        + (args.rss_tolerance_mib * 1024) as f64;
    if last > allowed {
        problems.push(format!(
            "RSS grows: mean of the last third {:.1} MiB > middle third {:.1} MiB + {}% + {} MiB",
            last / 1024.0,
            middle / 1024.0,
            args.rss_tolerance_percent,
            args.rss_tolerance_mib
        ));
    }
    let mut latencies = work
        .latencies
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let requests = work.requests.load(Ordering::Relaxed);
    let summary = json!({
        "seconds": args.seconds,
        "requests": requests,
        "requests_per_second": (requests as f64 / args.seconds as f64).round(),
        "errors": errors,
        "latency_ms_p50": (percentile(&latencies, 50.0) * 10.0).round() / 10.0,
        "latency_ms_p99": (percentile(&latencies, 99.0) * 10.0).round() / 10.0,
        "ws_clients": args.ws_clients,
        "events_expected": expected,
        "events_received": received,
        "events_lost": lost,
        "seq_gaps": gaps,
        "duplicates": duplicates,
        "ws_reconnects": reconnects,
        "rss_samples": rss.len(),
        "rss_first_mib": rss.first().copied().unwrap_or(0) / 1024,
        "rss_middle_third_mean_mib": (middle / 1024.0 * 10.0).round() / 10.0,
        "rss_last_third_mean_mib": (last / 1024.0 * 10.0).round() / 10.0,
        "rss_max_mib": rss.iter().max().copied().unwrap_or(0) / 1024,
        "rss_final_mib": rss_final / 1024,
        "total_seconds": started.elapsed().as_secs_f64().round(),
    });
    finish("soak", summary, &problems)
}
