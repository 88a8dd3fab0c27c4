//! Shared parts: the server process under test, a small API client, the ledger of
//! acknowledged writes and the check that every one of them (and every event) survived.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

pub const PASSWORD: &str = "robustness-password-1";
pub const STATUSES: [&str; 4] = ["todo", "in_progress", "review", "done"];

/// Where and how to run the FlowTrack server under test.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// The flowtrack binary (build it with `cargo build --release`).
    #[arg(long, default_value = "target/release/flowtrack")]
    pub server_bin: PathBuf,
    /// DATABASE_URL of the server (a fresh database).
    #[arg(long)]
    pub database_url: String,
    /// REDIS_URL of the server (unset: in-process bus).
    #[arg(long)]
    pub redis_url: Option<String>,
    /// The server's output goes here.
    #[arg(long, default_value = "robustness-server.log")]
    pub server_log: PathBuf,
    /// Extra `NAME=value` settings for the server.
    #[arg(long = "server-env", value_parser = parse_env)]
    pub server_env: Vec<(String, String)>,
}

fn parse_env(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected NAME=value, got {raw}"))
}

/// The server process; restartable on the same port and database.
pub struct Server {
    args: ServerArgs,
    pub port: u16,
    pub base: String,
    child: Option<Child>,
    pub starts: u32,
}

/// A free port below the ephemeral range, so that the many outgoing connections of a load
/// test can never take it while the server is down between a kill and its restart.
fn pick_port() -> anyhow::Result<u16> {
    let mut seed = std::process::id() as u64 ^ now_nanos();
    for _ in 0..500 {
        seed = xorshift(seed);
        let port = 20_000 + (seed % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port found")
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

pub fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// A tiny PRNG: the tool needs variety, not cryptography.
pub struct Rng(u64);

impl Rng {
    pub fn new(salt: u64) -> Self {
        Self(xorshift(now_nanos() ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = xorshift(self.0);
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

impl Server {
    pub fn new(args: ServerArgs) -> anyhow::Result<Self> {
        let port = pick_port()?;
        Ok(Self {
            args,
            port,
            base: format!("http://127.0.0.1:{port}"),
            child: None,
            starts: 0,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Starts the server and waits until `/health` answers (at most 60 s).
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.args.server_log)
            .with_context(|| format!("opening {}", self.args.server_log.display()))?;
        let mut command = Command::new(&self.args.server_bin);
        command
            .arg("serve")
            .env_remove("REDIS_URL")
            .env("DATABASE_URL", &self.args.database_url)
            .env("FLOWTRACK_BIND", format!("127.0.0.1:{}", self.port))
            .env(
                "FLOWTRACK_JWT_SECRET",
                "robustness-test-secret-0123456789abcdef",
            )
            .env("FLOWTRACK_REGISTER_PER_HOUR", "1000000")
            .env("FLOWTRACK_LOG_FORMAT", "json")
            .env(
                "RUST_LOG",
                std::env::var("ROBUSTNESS_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        if let Some(url) = &self.args.redis_url {
            command.env("REDIS_URL", url);
        }
        for (name, value) in &self.args.server_env {
            command.env(name, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", self.args.server_bin.display()))?;
        self.child = Some(child);
        self.starts += 1;
        let http = client()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "the server exited during start ({status}); see {}",
                    self.args.server_log.display()
                );
            }
            if let Ok(resp) = http.get(format!("{}/health", self.base)).send().await
                && resp.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the server did not answer /health within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `kill -9`: no shutdown, no flush, in-flight requests die with it.
    pub async fn kill9(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.start_kill().context("SIGKILL")?;
            child.wait().await?;
        }
        Ok(())
    }

    /// Graceful stop (SIGTERM), then SIGKILL after 10 s.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status()
                    .await;
            }
            if tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .is_err()
            {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
        }
    }

    /// Fails if the server died on its own.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            bail!(
                "the server died ({status}); see {}",
                self.args.server_log.display()
            );
        }
        Ok(())
    }
}

pub use flowtrack_bench::rss_kib;

pub fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// One answer: status, JSON body (Null if none), content type, and how long it took.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub content_type: String,
    pub elapsed: Duration,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }
    pub fn is_problem(&self, status: u16, code: &str) -> bool {
        self.status.as_u16() == status
            && self.content_type.starts_with("application/problem+json")
            && self.body["code"] == code
    }
}

#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: client()?,
            base: base.to_string(),
        })
    }

    /// Sends a request; `Err` only when no HTTP answer came back (connection refused, reset…).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer, reqwest::Error> {
        let started = Instant::now();
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = resp.bytes().await?;
        Ok(Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            content_type,
            elapsed: started.elapsed(),
        })
    }

    /// A request that must succeed (set-up and verification).
    pub async fn must(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let answer = self
            .call(method.clone(), path, token, body.as_ref())
            .await
            .with_context(|| format!("{method} {path}"))?;
        if !answer.ok() {
            bail!("{method} {path}: {} {}", answer.status, answer.body);
        }
        Ok(answer.body)
    }

    pub async fn register(&self, name: &str) -> anyhow::Result<User> {
        let email = format!("{name}-{}@example.com", uuid::Uuid::now_v7().simple());
        let pair = self
            .must(
                Method::POST,
                "/auth/register",
                None,
                Some(json!({"email": email, "password": PASSWORD, "full_name": name})),
            )
            .await?;
        Ok(User {
            id: pair["user"]["id"].as_str().context("user id")?.to_string(),
            token: pair["access_token"].as_str().context("token")?.to_string(),
        })
    }

    pub async fn create_project(&self, owner: &User, name: &str) -> anyhow::Result<String> {
        let project = self
            .must(
                Method::POST,
                "/projects",
                Some(&owner.token),
                Some(json!({"name": name})),
            )
            .await?;
        Ok(project["id"].as_str().context("project id")?.to_string())
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub token: String,
}

/// Every write that was acknowledged with a 2xx.
#[derive(Default)]
pub struct Ledger {
    /// task id → project id
    pub created: Mutex<HashMap<String, String>>,
    /// task id → highest version acknowledged by a move
    pub moved: Mutex<HashMap<String, i64>>,
    pub moves_acked: std::sync::atomic::AtomicU64,
}

impl Ledger {
    pub fn created(&self, task_id: String, project_id: String) {
        self.created
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(task_id, project_id);
    }

    pub fn moved(&self, task_id: &str, version: i64) {
        self.moves_acked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut moved = self.moved.lock().unwrap_or_else(|p| p.into_inner());
        let v = moved.entry(task_id.to_string()).or_insert(0);
        *v = (*v).max(version);
    }

    /// The acknowledged tasks of one project.
    pub fn tasks_of(&self, project_id: &str) -> Vec<String> {
        self.created
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, p)| p.as_str() == project_id)
            .map(|(t, _)| t.clone())
            .collect()
    }
}

/// What a verification found.
#[derive(Debug, Default)]
pub struct Verified {
    pub projects: usize,
    pub tasks_checked: usize,
    pub moves_checked: usize,
    pub events_checked: usize,
    pub problems: Vec<String>,
}

/// Reads every event of `projects` from seq 1 over a WebSocket resume, until each project's
/// `seqs` (from its board) are all in, or `timeout`.
pub async fn replay_events(
    base: &str,
    user: &User,
    seqs: &BTreeMap<String, i64>,
    timeout: Duration,
) -> anyhow::Result<HashMap<String, Vec<Value>>> {
    let resume: Vec<String> = seqs.keys().map(|p| format!("{p}:0")).collect();
    let url = format!(
        "{}/ws/notifications/{}?token={}&resume={}",
        base.replacen("http", "ws", 1),
        user.id,
        user.token,
        resume.join(",")
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .context("WebSocket resume")?;
    let mut events: HashMap<String, Vec<Value>> = HashMap::new();
    let done = |events: &HashMap<String, Vec<Value>>| {
        seqs.iter().all(|(p, &seq)| {
            seq == 0
                || events
                    .get(p)
                    .is_some_and(|e| e.iter().filter_map(|v| v["seq"].as_i64()).max() >= Some(seq))
        })
    };
    let deadline = Instant::now() + timeout;
    while !done(&events) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.next()).await {
            Err(_) => break,
            Ok(None) => bail!("the server closed the resume socket"),
            Ok(Some(Err(e))) => bail!("resume socket: {e}"),
            Ok(Some(Ok(Message::Text(text)))) => {
                let v: Value = serde_json::from_str(text.as_str())?;
                if v["type"] == "resync" {
                    bail!("the server answered resync: events are missing: {v}");
                }
                if let (Some(p), Some(_)) = (v["project_id"].as_str(), v["seq"].as_i64()) {
                    events.entry(p.to_string()).or_default().push(v);
                }
            }
            Ok(Some(Ok(_))) => {}
        }
    }
    let _ = socket.close(None).await;
    Ok(events)
}

/// The check after faults: every acknowledged create exists, every acknowledged move is at
/// least at its acknowledged version, each project's events are exactly seqs 1..=seq once
/// (the board's seq), each task's events carry versions 1..=its version exactly once, and
/// the board holds exactly the tasks that have a `task.created` event.
pub async fn verify(
    api: &Api,
    owner: &User,
    projects: &[String],
    ledger: &Ledger,
) -> anyhow::Result<Verified> {
    let mut out = Verified {
        projects: projects.len(),
        ..Verified::default()
    };
    let mut seqs = BTreeMap::new();
    let mut versions: HashMap<String, i64> = HashMap::new();
    let mut board_tasks: HashMap<String, HashSet<String>> = HashMap::new();
    for p in projects {
        let board = api
            .must(
                Method::GET,
                &format!("/projects/{p}/board"),
                Some(&owner.token),
                None,
            )
            .await?;
        seqs.insert(p.clone(), board["seq"].as_i64().context("board seq")?);
        let set = board_tasks.entry(p.clone()).or_default();
        for column in board["columns"].as_array().context("columns")? {
            for task in column["tasks"].as_array().context("tasks")? {
                let id = task["id"].as_str().context("task id")?.to_string();
                versions.insert(id.clone(), task["version"].as_i64().context("version")?);
                set.insert(id);
            }
        }
    }
    // Every acknowledged create is on its board, every acknowledged move is there too.
    {
        let created = ledger.created.lock().unwrap_or_else(|p| p.into_inner());
        for (task, project) in created.iter() {
            out.tasks_checked += 1;
            if !board_tasks.get(project).is_some_and(|s| s.contains(task)) {
                out.problems
                    .push(format!("acknowledged task {task} is missing"));
            }
        }
        let moved = ledger.moved.lock().unwrap_or_else(|p| p.into_inner());
        for (task, &version) in moved.iter() {
            out.moves_checked += 1;
            match versions.get(task) {
                Some(&v) if v >= version => {}
                Some(&v) => out.problems.push(format!(
                    "task {task}: a move was acknowledged at version {version}, the board has {v}"
                )),
                None => out.problems.push(format!("moved task {task} is missing")),
            }
        }
    }
    // Events: exactly 1..=seq once per project; per task versions 1..=v once.
    let events = replay_events(&api.base, owner, &seqs, Duration::from_secs(60)).await?;
    let mut task_versions: HashMap<String, Vec<i64>> = HashMap::new();
    for (p, &seq) in &seqs {
        let list = events.get(p).cloned().unwrap_or_default();
        out.events_checked += list.len();
        let mut got: Vec<i64> = list.iter().filter_map(|e| e["seq"].as_i64()).collect();
        got.sort_unstable();
        let expected: Vec<i64> = (1..=seq).collect();
        if got != expected {
            let dupes = got.windows(2).filter(|w| w[0] == w[1]).count();
            let have: HashSet<i64> = got.iter().copied().collect();
            let missing: Vec<i64> = expected
                .iter()
                .filter(|s| !have.contains(s))
                .take(10)
                .copied()
                .collect();
            out.problems.push(format!(
                "project {p}: events are not exactly 1..={seq} once: {} received, {dupes} duplicates, missing (first 10) {missing:?}",
                got.len()
            ));
        }
        let mut created_here = HashSet::new();
        for e in &list {
            let kind = e["type"].as_str().unwrap_or("");
            let task = &e["data"]["task"];
            if let (Some(id), Some(v)) = (task["id"].as_str(), task["version"].as_i64())
                && kind.starts_with("task.")
                && kind != "task.deleted"
            {
                task_versions.entry(id.to_string()).or_default().push(v);
                if kind == "task.created" && !created_here.insert(id.to_string()) {
                    out.problems
                        .push(format!("task {id}: two task.created events"));
                }
            }
        }
        let on_board = board_tasks.get(p).cloned().unwrap_or_default();
        if created_here != on_board {
            out.problems.push(format!(
                "project {p}: {} tasks on the board but {} task.created events",
                on_board.len(),
                created_here.len()
            ));
        }
    }
    for (task, mut vs) in task_versions {
        vs.sort_unstable();
        let want = versions.get(&task).copied().unwrap_or(0);
        if vs != (1..=want).collect::<Vec<_>>() {
            out.problems.push(format!(
                "task {task}: event versions {vs:?} are not exactly 1..={want}"
            ));
        }
    }
    Ok(out)
}

/// Percentile of a sorted slice.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Prints a result line and fails the run when there are problems.
pub fn finish(name: &str, summary: Value, problems: &[String]) -> anyhow::Result<()> {
    println!("{name}: {summary}");
    if problems.is_empty() {
        println!("{name}: PASS");
        Ok(())
    } else {
        for p in problems.iter().take(50) {
            eprintln!("{name}: FAIL: {p}");
        }
        if problems.len() > 50 {
            eprintln!("{name}: … and {} more problems", problems.len() - 50);
        }
        bail!("{name}: {} problem(s)", problems.len())
    }
}
