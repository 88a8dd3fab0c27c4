//! Crash safety: concurrent creates and moves, `kill -9` of the server in the middle of
//! them, restart on the same database, and in the end the proof that every acknowledged
//! write and every event is there exactly once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::common::{Api, Ledger, Rng, STATUSES, Server, ServerArgs, User, finish, verify};
use crate::receiver::Receiver;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Concurrent writers.
    #[arg(long, default_value_t = 16)]
    pub workers: usize,
    /// Projects written to (one lock each: more projects, more parallel writes).
    #[arg(long, default_value_t = 4)]
    pub projects: usize,
    /// How many times the server is killed.
    #[arg(long, default_value_t = 3)]
    pub kills: u32,
    /// Load before each kill, milliseconds (randomised ±50%).
    #[arg(long, default_value_t = 2500)]
    pub load_ms: u64,
}

/// Counters shared by the workers.
#[derive(Default)]
pub struct Counts {
    pub tried: AtomicU64,
    pub acked: AtomicU64,
    /// No HTTP answer (the server was down or died mid-request).
    pub no_answer: AtomicU64,
    /// An HTTP answer that is neither 2xx nor the 503 of an outage.
    pub unexpected: AtomicU64,
    pub unavailable: AtomicU64,
}

/// What the writers share.
pub struct Load {
    pub api: Api,
    pub user: User,
    pub projects: Vec<String>,
    pub ledger: Ledger,
    pub counts: Counts,
    pub stop: AtomicBool,
    /// The first unexpected answers, for the report.
    pub unexpected: std::sync::Mutex<Vec<String>>,
}

impl Load {
    pub fn new(api: Api, user: User, projects: Vec<String>) -> Arc<Self> {
        Arc::new(Self {
            api,
            user,
            projects,
            ledger: Ledger::default(),
            counts: Counts::default(),
            stop: AtomicBool::new(false),
            unexpected: std::sync::Mutex::new(Vec::new()),
        })
    }

    pub fn unexpected(&self) -> Vec<String> {
        self.unexpected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// One writer: creates tasks and moves acknowledged ones until `stop`.
pub async fn writer(load: Arc<Load>, id: u64) {
    let Load {
        api,
        user,
        projects,
        ledger,
        counts,
        stop,
        unexpected,
    } = &*load;
    let mut rng = Rng::new(id);
    while !stop.load(Ordering::Relaxed) {
        let project = projects[rng.below(projects.len())].clone();
        let known = ledger.tasks_of(&project);
        let answer = if known.is_empty() || rng.chance(40) {
            let body =
                json!({"project_id": project, "title": format!("task {}", rng.next() % 1_000_000)});
            counts.tried.fetch_add(1, Ordering::Relaxed);
            match api
                .call(Method::POST, "/tasks", Some(&user.token), Some(&body))
                .await
            {
                Ok(a) if a.ok() => {
                    if let Some(task) = a.body["id"].as_str() {
                        ledger.created(task.to_string(), project.clone());
                    }
                    Ok(a)
                }
                other => other,
            }
        } else {
            let task = known[rng.below(known.len())].clone();
            let status = STATUSES[rng.below(STATUSES.len())];
            counts.tried.fetch_add(1, Ordering::Relaxed);
            match api
                .call(
                    Method::PATCH,
                    &format!("/tasks/{task}/move"),
                    Some(&user.token),
                    Some(&json!({"status": status})),
                )
                .await
            {
                Ok(a) if a.ok() => {
                    if let Some(v) = a.body["version"].as_i64() {
                        ledger.moved(&task, v);
                    }
                    Ok(a)
                }
                other => other,
            }
        };
        match answer {
            Ok(a) if a.ok() => {
                counts.acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(a) if a.is_problem(503, "unavailable") => {
                counts.unavailable.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(a) => {
                counts.unexpected.fetch_add(1, Ordering::Relaxed);
                let mut u = unexpected.lock().unwrap_or_else(|p| p.into_inner());
                if u.len() < 20 {
                    u.push(format!("{} {}", a.status, a.body));
                }
            }
            Err(_) => {
                counts.no_answer.fetch_add(1, Ordering::Relaxed);
                // The server is down: do not spin.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    // A webhook on every project, its receiver a little slow: deliveries are in flight when
    // the server dies.
    let receiver = Receiver::start(Duration::from_millis(3)).await?;
    let mut server_args = args.server.clone();
    server_args.server_env.extend(Receiver::server_settings());
    let mut server = Server::new(server_args)?;
    server.start().await?;
    let api = Api::new(&server.base)?;
    let owner = api.register("crash-owner").await?;
    let mut projects = Vec::new();
    for i in 0..args.projects {
        let project = api.create_project(&owner, &format!("crash {i}")).await?;
        let hook = json!({"url": receiver.url});
        api.must(
            Method::POST,
            &format!("/projects/{project}/webhooks"),
            Some(&owner.token),
            Some(hook),
        )
        .await?;
        projects.push(project);
    }
    let load = Load::new(api.clone(), owner.clone(), projects);
    let mut workers = Vec::new();
    for id in 0..args.workers {
        workers.push(tokio::spawn(writer(load.clone(), id as u64)));
    }
    let mut rng = Rng::new(99);
    let mut downtime = Duration::ZERO;
    for kill in 1..=args.kills {
        let load_ms = args.load_ms / 2 + rng.next() % args.load_ms.max(1);
        tokio::time::sleep(Duration::from_millis(load_ms)).await;
        server.check_alive()?;
        let acked_before = load.counts.acked.load(Ordering::Relaxed);
        server.kill9().await?;
        let down_at = Instant::now();
        println!(
            "crash: kill -9 #{kill} after {load_ms} ms of load ({acked_before} writes acknowledged so far)"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.start().await?;
        downtime += down_at.elapsed();
    }
    // Some load after the last restart, then stop and check.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    load.stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    server.check_alive()?;
    let verified = verify(&api, &owner, &load.projects, &load.ledger).await?;
    let expected = webhook_expectation(&api, &owner, &load.projects).await?;
    let (webhooks, webhook_problems) = receiver.check(&expected, Duration::from_secs(60)).await;
    server.stop().await;

    let mut problems = verified.problems;
    problems.extend(webhook_problems);
    let counts = &load.counts;
    let unexpected = load.unexpected();
    if counts.unexpected.load(Ordering::Relaxed) > 0 {
        problems.push(format!(
            "{} answers were neither 2xx nor 503: {unexpected:?}",
            counts.unexpected.load(Ordering::Relaxed)
        ));
    }
    if counts.acked.load(Ordering::Relaxed) == 0 {
        problems.push("no write was acknowledged: the load did not run".into());
    }
    let summary = json!({
        "requests_tried": counts.tried.load(Ordering::Relaxed),
        "writes_acknowledged": counts.acked.load(Ordering::Relaxed),
        "creates_acknowledged": verified.tasks_checked,
        "moves_acknowledged": load.ledger.moves_acked.load(Ordering::Relaxed),
        "no_answer_during_kills": counts.no_answer.load(Ordering::Relaxed),
        "answered_503": counts.unavailable.load(Ordering::Relaxed),
        "projects": verified.projects,
        "kills": args.kills,
        "server_starts": server.starts,
        "downtime_ms": downtime.as_millis() as u64,
        "tasks_verified": verified.tasks_checked,
        "moved_tasks_verified": verified.moves_checked,
        "events_verified": verified.events_checked,
        "seconds": started.elapsed().as_secs_f64().round(),
        "webhooks": webhooks,
    });
    finish("crash", summary, &problems)
}

/// The events each project's webhook must have delivered: every one after `project.created`
/// (seq 1, before the webhook) up to the project's current seq.
pub async fn webhook_expectation(
    api: &Api,
    owner: &User,
    projects: &[String],
) -> anyhow::Result<std::collections::HashMap<String, (i64, i64)>> {
    let mut expected = std::collections::HashMap::new();
    for project in projects {
        let board = api
            .must(
                Method::GET,
                &format!("/projects/{project}/board"),
                Some(&owner.token),
                None,
            )
            .await?;
        let head = board["seq"].as_i64().unwrap_or(0);
        expected.insert(project.clone(), (2, head));
    }
    Ok(expected)
}
