//! Database outage: PostgreSQL is stopped under load and started again. While it is down,
//! every request must answer quickly (none past `--max-wait-ms`) with 503 `unavailable`
//! problem+json (never a 500, never a dropped connection) and `/ready` must answer 503
//! naming the database; from 2 s after PostgreSQL is back, every request must succeed,
//! without restarting FlowTrack. Afterwards every acknowledged write and event is checked.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::json;
use tokio::process::Command;

use crate::common::{Api, Rng, Server, ServerArgs, finish, percentile, verify};
use crate::crash::{Load, webhook_expectation, writer};
use crate::receiver::Receiver;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Directory of pg_ctl (FLOWTRACK_TEST_PG_BIN).
    #[arg(long)]
    pub pg_bin: String,
    /// Cluster data directory (FLOWTRACK_TEST_PG_DATA). Use a throwaway cluster of your own.
    #[arg(long)]
    pub pg_data: String,
    /// Server log file for the restart (FLOWTRACK_TEST_PG_LOG).
    #[arg(long)]
    pub pg_log: String,
    /// OS user that runs pg_ctl (FLOWTRACK_TEST_PG_OS_USER; empty: the current user).
    #[arg(long, default_value = "")]
    pub pg_os_user: String,
    /// Concurrent readers and writers (each).
    #[arg(long, default_value_t = 6)]
    pub workers: usize,
    #[arg(long, default_value_t = 3000)]
    pub healthy_ms: u64,
    #[arg(long, default_value_t = 6000)]
    pub outage_ms: u64,
    #[arg(long, default_value_t = 6000)]
    pub recovery_ms: u64,
    /// No answer may take longer than this.
    #[arg(long, default_value_t = 3000)]
    pub max_wait_ms: u64,
    /// Every request started this long after PostgreSQL is back must succeed.
    #[arg(long, default_value_t = 2000)]
    pub recover_within_ms: u64,
}

/// One answered (or unanswered) request.
#[derive(Debug, Clone)]
struct Sample {
    /// When it was sent, since the start of the load.
    at: Duration,
    elapsed: Duration,
    /// HTTP status, 0 for no answer.
    status: u16,
    /// 503 with problem+json and code `unavailable`.
    proper_503: bool,
    what: &'static str,
}

async fn pg_ctl(args: &Args, action: &[&str]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let pg_ctl = format!("{}/pg_ctl", args.pg_bin);
    let mut command = if args.pg_os_user.is_empty() {
        Command::new(&pg_ctl)
    } else {
        let mut c = Command::new("runuser");
        c.args(["-u", &args.pg_os_user, "--", &pg_ctl]);
        c
    };
    command.args(["-D", &args.pg_data]).args(action);
    // postgres must be able to enter the working directory.
    command.current_dir("/");
    let output = command.output().await.context("running pg_ctl")?;
    if !output.status.success() {
        bail!(
            "pg_ctl {action:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(started.elapsed())
}

/// A reader: task and board reads, recording every answer.
async fn reader(
    load: Arc<Load>,
    samples: Arc<std::sync::Mutex<Vec<Sample>>>,
    t0: Instant,
    id: u64,
) {
    let mut rng = Rng::new(1000 + id);
    while !load.stop.load(Ordering::Relaxed) {
        let project = load.projects[rng.below(load.projects.len())].clone();
        let tasks = load.ledger.tasks_of(&project);
        let (path, what) = if tasks.is_empty() || rng.chance(30) {
            (format!("/projects/{project}/board"), "board")
        } else {
            (format!("/tasks/{}", tasks[rng.below(tasks.len())]), "task")
        };
        let at = t0.elapsed();
        let started = Instant::now();
        let sample = match load
            .api
            .call(Method::GET, &path, Some(&load.user.token), None)
            .await
        {
            Ok(a) => Sample {
                at,
                elapsed: a.elapsed,
                status: a.status.as_u16(),
                proper_503: a.is_problem(503, "unavailable"),
                what,
            },
            Err(_) => Sample {
                at,
                elapsed: started.elapsed(),
                status: 0,
                proper_503: false,
                what,
            },
        };
        let failed = sample.status != 200;
        samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(sample);
        tokio::time::sleep(Duration::from_millis(if failed { 50 } else { 5 })).await;
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if !args.server.database_url.starts_with("postgres") {
        bail!("db-outage needs a PostgreSQL --database-url");
    }
    // Webhooks deliver through the outage: none of their events may be lost.
    let receiver = Receiver::start(Duration::from_millis(3)).await?;
    let mut server_args = args.server.clone();
    server_args.server_env.extend(Receiver::server_settings());
    let mut server = Server::new(server_args)?;
    server.start().await?;
    let api = Api::new(&server.base)?;
    let owner = api.register("outage-owner").await?;
    let mut projects = Vec::new();
    for i in 0..3 {
        let project = api.create_project(&owner, &format!("outage {i}")).await?;
        let hook = json!({"url": receiver.url});
        let path = format!("/projects/{project}/webhooks");
        api.must(Method::POST, &path, Some(&owner.token), Some(hook))
            .await?;
        projects.push(project);
    }
    let load = Load::new(api.clone(), owner.clone(), projects);
    let samples = Arc::new(std::sync::Mutex::new(Vec::<Sample>::new()));
    let t0 = Instant::now();
    let mut workers = Vec::new();
    for id in 0..args.workers {
        workers.push(tokio::spawn(writer(load.clone(), id as u64)));
        workers.push(tokio::spawn(reader(
            load.clone(),
            samples.clone(),
            t0,
            id as u64,
        )));
    }

    tokio::time::sleep(Duration::from_millis(args.healthy_ms)).await;
    let stop_at = t0.elapsed();
    let stop_took = pg_ctl(&args, &["-m", "fast", "-w", "stop"]).await?;
    let down_at = t0.elapsed();
    println!(
        "db-outage: PostgreSQL stopped at {:.1}s (pg_ctl took {} ms)",
        stop_at.as_secs_f64(),
        stop_took.as_millis()
    );

    // /ready while it is down.
    let mut ready_answers = Vec::new();
    let outage_end = Instant::now() + Duration::from_millis(args.outage_ms);
    while Instant::now() < outage_end {
        let answer = api.call(Method::GET, "/ready", None, None).await;
        ready_answers.push(answer);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let start_at = t0.elapsed();
    pg_ctl(&args, &["-l", &args.pg_log, "-w", "start"]).await?;
    let up_at = t0.elapsed();
    println!(
        "db-outage: PostgreSQL accepting again at {:.1}s (down {:.1}s)",
        up_at.as_secs_f64(),
        (up_at - stop_at).as_secs_f64()
    );
    tokio::time::sleep(Duration::from_millis(args.recovery_ms)).await;
    load.stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    server.check_alive()?;
    let ready_after = api.call(Method::GET, "/ready", None, None).await?;
    let verified = verify(&api, &owner, &load.projects, &load.ledger).await?;
    let expected = webhook_expectation(&api, &owner, &load.projects).await?;
    let (webhooks, webhook_problems) = receiver.check(&expected, Duration::from_secs(60)).await;
    server.stop().await;

    // ---- judge ----
    let mut problems = verified.problems;
    problems.extend(webhook_problems);
    let samples = samples.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let max_wait = Duration::from_millis(args.max_wait_ms);
    let recover_by = up_at + Duration::from_millis(args.recover_within_ms);
    let mut outage_503 = 0u64;
    let mut outage_latencies = Vec::new();
    let mut first_ok_after_up: Option<Duration> = None;
    let mut last_bad: Option<Duration> = None;
    for s in &samples {
        let ok = s.status == 200;
        if s.elapsed > max_wait {
            problems.push(format!(
                "a {} read at {:.2}s took {} ms (> {} ms)",
                s.what,
                s.at.as_secs_f64(),
                s.elapsed.as_millis(),
                args.max_wait_ms
            ));
        }
        if !ok && !s.proper_503 {
            problems.push(format!(
                "a {} read at {:.2}s answered {} (expected 200 or a 503 unavailable problem)",
                s.what,
                s.at.as_secs_f64(),
                if s.status == 0 {
                    "nothing".to_string()
                } else {
                    s.status.to_string()
                }
            ));
        }
        // Answered before PostgreSQL began to stop: must have succeeded.
        if s.at + s.elapsed < stop_at && !ok {
            problems.push(format!(
                "a read before the outage failed ({} at {:.2}s)",
                s.status,
                s.at.as_secs_f64()
            ));
        }
        if s.at >= down_at && s.at < start_at {
            outage_latencies.push(s.elapsed.as_secs_f64() * 1000.0);
            if s.proper_503 {
                outage_503 += 1;
            }
        }
        if s.at >= up_at && ok && first_ok_after_up.is_none_or(|f| s.at < f) {
            first_ok_after_up = Some(s.at);
        }
        if !ok {
            last_bad = Some(last_bad.map_or(s.at + s.elapsed, |l| l.max(s.at + s.elapsed)));
        }
        if s.at >= recover_by && !ok {
            problems.push(format!(
                "{:.2}s after PostgreSQL came back a {} read still answered {}",
                (s.at - up_at).as_secs_f64(),
                s.what,
                s.status
            ));
        }
    }
    if outage_503 == 0 {
        problems.push("no 503 was seen while PostgreSQL was down".into());
    }
    let ready_ok = ready_answers.iter().filter(|a| {
        a.as_ref()
            .is_ok_and(|a| a.is_problem(503, "unavailable") && a.body["database"] == "unavailable")
    });
    let ready_ok = ready_ok.count();
    if ready_ok != ready_answers.len() || ready_answers.is_empty() {
        problems.push(format!(
            "/ready during the outage: {ready_ok} of {} answers were 503 naming the database: {:?}",
            ready_answers.len(),
            ready_answers
                .iter()
                .map(|a| a.as_ref().map(|a| format!("{} {}", a.status, a.body)))
                .collect::<Vec<_>>()
        ));
    }
    if !ready_after.ok() {
        problems.push(format!(
            "/ready after recovery: {} {}",
            ready_after.status, ready_after.body
        ));
    }
    let counts = &load.counts;
    if counts.unexpected.load(Ordering::Relaxed) > 0 || counts.no_answer.load(Ordering::Relaxed) > 0
    {
        problems.push(format!(
            "writes: {} answers neither 2xx nor a 503 problem, {} without an answer: {:?}",
            counts.unexpected.load(Ordering::Relaxed),
            counts.no_answer.load(Ordering::Relaxed),
            load.unexpected()
        ));
    }
    outage_latencies.sort_by(|a, b| a.total_cmp(b));
    let summary = json!({
        "requests_tried": samples.len() as u64 + counts.tried.load(Ordering::Relaxed),
        "reads": samples.len(),
        "writes_tried": counts.tried.load(Ordering::Relaxed),
        "writes_acknowledged": counts.acked.load(Ordering::Relaxed),
        "writes_answered_503": counts.unavailable.load(Ordering::Relaxed),
        "reads_answered_503_during_outage": outage_503,
        "outage_seconds": (up_at - stop_at).as_secs_f64(),
        "outage_latency_ms_p50": percentile(&outage_latencies, 50.0).round(),
        "outage_latency_ms_p99": percentile(&outage_latencies, 99.0).round(),
        "outage_latency_ms_max": outage_latencies.last().copied().unwrap_or(0.0).round(),
        "ready_checks_during_outage": ready_answers.len(),
        "first_success_after_db_back_ms": first_ok_after_up.map(|f| (f - up_at).as_millis() as u64),
        "last_failure_after_db_back_ms": last_bad.filter(|l| *l > up_at).map(|l| (l - up_at).as_millis() as u64).unwrap_or(0),
        "tasks_verified": verified.tasks_checked,
        "events_verified": verified.events_checked,
        "faults_injected": 1,
        "webhooks": webhooks,
    });
    finish("db-outage", summary, &problems)
}
