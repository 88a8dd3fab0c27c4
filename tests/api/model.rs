//! A randomized, seeded model test of the real-time contract.
//!
//! Several users (one admin) with several WebSocket connections each drive a few hundred
//! random operations over HTTP — allowed and forbidden ones, some in concurrent bursts —
//! while connections drop and come back with resume cursors. A model tracks, from the HTTP
//! answers only, which project every successful write changed and who was a member when.
//! At the end every connection's stream is checked against the model: per project gapless,
//! in order, exactly once, nothing it could not see, and every project's event stream
//! rebuilds exactly the board the server answers.
//!
//! Seed: `FLOWTRACK_MODEL_SEED` (else random, printed first); operations:
//! `FLOWTRACK_MODEL_OPS` (default 300). On PostgreSQL + Redis two instances share the work.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::helpers::*;

// ---------------------------------------------------------------------------------------
// A small deterministic PRNG (splitmix64): no dependency, stable across crate versions.

struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

// ---------------------------------------------------------------------------------------
// The model

const USERS: usize = 4;
const ADMIN: usize = 0;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Owner,
    Editor,
    Viewer,
}

const ROLES: [Role; 3] = [Role::Owner, Role::Editor, Role::Viewer];

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
        }
    }

    fn can_edit(self) -> bool {
        matches!(self, Role::Owner | Role::Editor)
    }
}

#[derive(Clone, Debug)]
struct TaskM {
    project: usize,
    version: i64,
    status: String,
    position: String,
}

#[derive(Clone, Debug)]
struct CommentM {
    project: usize,
    task: String,
    author: usize,
}

/// What the model knows of one event (one seq) of a project.
#[derive(Clone, Debug)]
struct SeqInfo {
    /// Members (bit per user) just before and just after the event.
    before: u8,
    after: u8,
    /// `(type, actor, member subject)`; `None` inside a concurrent burst (order unknown).
    expect: Option<(&'static str, usize, Option<usize>)>,
}

#[derive(Debug)]
struct ProjectM {
    id: String,
    alive: bool,
    members: BTreeMap<usize, Role>,
    seqs: Vec<SeqInfo>,
    /// Concurrent bursts: first seq and the multiset of `(type, actor)` of its events.
    bursts: Vec<(i64, Vec<(&'static str, usize)>)>,
}

impl ProjectM {
    fn head(&self) -> i64 {
        self.seqs.len() as i64
    }

    fn mask(&self) -> u8 {
        self.members.keys().fold(0, |m, u| m | (1 << u))
    }

    fn owners(&self) -> usize {
        self.members.values().filter(|r| **r == Role::Owner).count()
    }

    /// The seqs a user is entitled to receive live: those where it was a member just
    /// before or just after (its own `member.added`/`member.removed`, `project.deleted`).
    fn visible(&self, user: usize) -> Vec<i64> {
        self.seqs
            .iter()
            .enumerate()
            .filter(|(_, s)| (s.before | s.after) & (1 << user) != 0)
            .map(|(i, _)| i as i64 + 1)
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// Operations

#[derive(Clone, Debug)]
enum Kind {
    CreateProject,
    UpdateProject,
    CreateTask,
    UpdateTask {
        task: String,
    },
    MoveTask {
        task: String,
        after: Option<String>,
        before: Option<String>,
    },
    DeleteTask {
        task: String,
    },
    CreateComment {
        task: String,
    },
    UpdateComment,
    DeleteComment {
        comment: String,
    },
    AddMember {
        target: Option<usize>,
    },
    ChangeRole {
        target: usize,
    },
    RemoveMember {
        target: usize,
    },
    DeleteProject,
}

impl Kind {
    fn event(&self) -> &'static str {
        match self {
            Kind::CreateProject => "project.created",
            Kind::UpdateProject => "project.updated",
            Kind::CreateTask => "task.created",
            Kind::UpdateTask { .. } => "task.updated",
            Kind::MoveTask { .. } => "task.moved",
            Kind::DeleteTask { .. } => "task.deleted",
            Kind::CreateComment { .. } => "comment.created",
            Kind::UpdateComment => "comment.updated",
            Kind::DeleteComment { .. } => "comment.deleted",
            Kind::AddMember { .. } => "member.added",
            Kind::ChangeRole { .. } => "member.updated",
            Kind::RemoveMember { .. } => "member.removed",
            Kind::DeleteProject => "project.deleted",
        }
    }

    fn subject(&self) -> Option<usize> {
        match self {
            Kind::AddMember { target } => *target,
            Kind::ChangeRole { target } | Kind::RemoveMember { target } => Some(*target),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
struct Req {
    method: Method,
    path: String,
    body: Option<Value>,
    if_match: Option<String>,
    actor: usize,
    instance: usize,
}

#[derive(Clone, Debug)]
struct Op {
    kind: Kind,
    /// `None` only for a project creation.
    project: Option<usize>,
    actor: usize,
    req: Req,
    /// The statuses the model allows (exactly one outside chaos bursts).
    expect: Vec<u16>,
    desc: String,
}

async fn exec(apps: &[TestApp], users: &[TestUser], req: &Req) -> (u16, Value) {
    let app = &apps[req.instance];
    let mut request = app
        .request(req.method.clone(), &req.path)
        .bearer_auth(&users[req.actor].access);
    if let Some(body) = &req.body {
        request = request.json(body);
    }
    if let Some(tag) = &req.if_match {
        request = request.header("If-Match", tag);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{} {}: {e}", req.method, req.path));
    let status = response.status().as_u16();
    let text = response.text().await.expect("response body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

// ---------------------------------------------------------------------------------------
// WebSocket connections

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// No cursor: live events only.
    Fresh,
    /// `?resume=` at the upgrade.
    Upgrade,
    /// A `resume` message right after the upgrade.
    Message,
}

#[derive(Default)]
struct SocketLog {
    events: Vec<Value>,
    problems: Vec<String>,
    notifications: usize,
    pong: Option<oneshot::Sender<()>>,
}

struct SocketRec {
    mode: Mode,
    instance: usize,
    cursors: BTreeMap<usize, i64>,
    /// Per project (by index): its head and whether the user was a member when it opened.
    open_heads: Vec<i64>,
    open_member: Vec<bool>,
    close_heads: Option<Vec<i64>>,
    /// The event of an operation made while this socket was opening: it may or may not
    /// reach the socket (it may be older than it), everything after it must.
    racing: Option<(usize, i64)>,
    log: Arc<Mutex<SocketLog>>,
}

struct Live {
    stop: oneshot::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

struct Conn {
    user: usize,
    instance: usize,
    sockets: Vec<SocketRec>,
    live: Option<Live>,
}

/// Reads a socket until told to stop (gracefully: with a close frame) or until it ends
/// (which is a problem: the server never closes these sockets on its own here).
async fn reader(mut ws: WsClient, log: Arc<Mutex<SocketLog>>, mut stop: oneshot::Receiver<bool>) {
    loop {
        tokio::select! {
            biased;
            graceful = &mut stop => {
                if graceful.unwrap_or(false) {
                    let _ = tokio::time::timeout(Duration::from_secs(2), ws.stream.close(None)).await;
                }
                return;
            }
            message = ws.stream.next() => {
                let mut log = log.lock().expect("log");
                match message {
                    Some(Ok(Message::Text(text))) => {
                        let value: Value = match serde_json::from_str(text.as_str()) {
                            Ok(v) => v,
                            Err(e) => {
                                log.problems.push(format!("not JSON ({e}): {text}"));
                                continue;
                            }
                        };
                        if value["seq"].is_i64() {
                            log.events.push(value);
                        } else if value["type"] == "pong" {
                            if let Some(tx) = log.pong.take() {
                                let _ = tx.send(());
                            }
                        } else if value["type"] == "notification" {
                            log.notifications += 1;
                        } else {
                            log.problems.push(format!("unexpected message {value}"));
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        log.problems.push(format!("the server closed the socket: {frame:?}"));
                        return;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        log.problems.push(format!("socket error: {e}"));
                        return;
                    }
                    None => {
                        log.problems.push("the socket ended".into());
                        return;
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The world: servers, users, model, connections, figures

#[derive(Default)]
struct Figures {
    ops: usize,
    requests: usize,
    by_status: BTreeMap<u16, usize>,
    bursts: usize,
    chaos_bursts: usize,
    races: usize,
    sockets: usize,
    reconnects: usize,
    events_checked: usize,
    notifications: usize,
}

struct World {
    seed: u64,
    rng: Rng,
    apps: Vec<TestApp>,
    users: Vec<TestUser>,
    projects: Vec<ProjectM>,
    by_id: HashMap<String, usize>,
    tasks: BTreeMap<String, TaskM>,
    comments: BTreeMap<String, CommentM>,
    conns: Vec<Conn>,
    counter: u64,
    log: Vec<String>,
    figures: Figures,
}

impl World {
    fn fail(&self, message: String) -> ! {
        let path = std::env::temp_dir().join(format!("flowtrack-model-{}.log", self.seed));
        let written = std::fs::write(
            &path,
            format!("{}\n--- failure ---\n{message}\n", self.log.join("\n")),
        )
        .is_ok();
        if written {
            eprintln!(
                "model test: the whole operation log is in {}",
                path.display()
            );
        }
        let tail: Vec<&String> = self.log.iter().rev().take(40).collect();
        let tail: Vec<&String> = tail.into_iter().rev().collect();
        panic!(
            "model test failed (seed {seed}; replay: FLOWTRACK_MODEL_SEED={seed} scripts/test model)\n\
             {message}\n--- last operations ---\n{}",
            tail.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            seed = self.seed,
        );
    }

    fn unique(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix} {}", self.counter)
    }

    fn instance(&mut self) -> usize {
        self.rng.below(self.apps.len())
    }

    /// The role the user acts with: admins act as owner everywhere; `None`: no access (or
    /// the project is gone).
    fn effective(&self, user: usize, p: usize) -> Option<Role> {
        let project = &self.projects[p];
        if !project.alive {
            None
        } else if user == ADMIN {
            Some(Role::Owner)
        } else {
            project.members.get(&user).copied()
        }
    }

    fn edit_status(&self, user: usize, p: usize, ok: u16) -> u16 {
        match self.effective(user, p) {
            None => 404,
            Some(r) if !r.can_edit() => 403,
            Some(_) => ok,
        }
    }

    fn alive(&self) -> Vec<usize> {
        (0..self.projects.len())
            .filter(|p| self.projects[*p].alive)
            .collect()
    }

    /// A project for the next operation: mostly a live one, now and then a deleted one.
    fn some_project(&mut self) -> Option<usize> {
        let alive = self.alive();
        if alive.is_empty() || (self.rng.chance(3) && alive.len() < self.projects.len()) {
            if self.projects.is_empty() {
                return None;
            }
            return Some(self.rng.below(self.projects.len()));
        }
        Some(self.rng.pick(&alive))
    }

    /// An actor for an operation on `p`: mostly one of its members, sometimes anyone.
    fn some_actor(&mut self, p: usize) -> usize {
        let members: Vec<usize> = self.projects[p].members.keys().copied().collect();
        if !members.is_empty() && self.rng.chance(70) {
            self.rng.pick(&members)
        } else {
            self.rng.below(USERS)
        }
    }

    fn tasks_of(&self, p: usize) -> Vec<String> {
        self.tasks
            .iter()
            .filter(|(_, t)| t.project == p)
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn comments_of(&self, p: usize) -> Vec<String> {
        self.comments
            .iter()
            .filter(|(_, c)| c.project == p)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Task ids of a column of the model, in board order, without `except`.
    fn column(&self, p: usize, status: &str, except: &str) -> Vec<String> {
        let mut column: Vec<(&String, &TaskM)> = self
            .tasks
            .iter()
            .filter(|(id, t)| t.project == p && t.status == status && id.as_str() != except)
            .collect();
        column.sort_by(|a, b| a.1.position.as_bytes().cmp(b.1.position.as_bytes()));
        column.into_iter().map(|(id, _)| id.clone()).collect()
    }

    fn heads(&self) -> Vec<i64> {
        self.projects.iter().map(ProjectM::head).collect()
    }

    fn op(&mut self, kind: Kind, p: Option<usize>, actor: usize, req: Req, expect: u16) -> Op {
        let desc = format!(
            "u{actor}@i{} {} {}{} p{}",
            req.instance,
            req.method,
            req.path,
            req.if_match
                .as_ref()
                .map(|t| format!(" If-Match {t}"))
                .unwrap_or_default(),
            p.map(|p| p.to_string()).unwrap_or("-".into())
        );
        Op {
            kind,
            project: p,
            actor,
            req,
            expect: vec![expect],
            desc,
        }
    }

    fn req(&mut self, method: Method, path: String, body: Option<Value>, actor: usize) -> Req {
        let instance = self.instance();
        Req {
            method,
            path,
            body,
            if_match: None,
            actor,
            instance,
        }
    }

    // --- generators -------------------------------------------------------------------

    fn gen_create_project(&mut self) -> Op {
        let actor = self.rng.below(USERS);
        let name = self.unique("Project");
        let req = self.req(
            Method::POST,
            "/projects".into(),
            Some(json!({"name": name})),
            actor,
        );
        self.op(Kind::CreateProject, None, actor, req, 201)
    }

    fn gen_update_project(&mut self, p: usize, actor: usize) -> Op {
        let mut body = json!({"name": self.unique("Renamed")});
        if self.rng.chance(30) {
            body["status"] = json!(self.rng.pick(&["active", "on_hold", "completed"]));
        }
        let path = format!("/projects/{}", self.projects[p].id);
        let req = self.req(Method::PATCH, path, Some(body), actor);
        let expect = self.edit_status(actor, p, 200);
        self.op(Kind::UpdateProject, Some(p), actor, req, expect)
    }

    fn gen_create_task(&mut self, p: usize, actor: usize) -> Op {
        let mut body = json!({"project_id": self.projects[p].id, "title": self.unique("Task")});
        if self.rng.chance(30) {
            body["status"] = json!(self.rng.pick(&STATUSES));
        }
        if self.rng.chance(20) {
            body["priority"] = json!(self.rng.pick(&["low", "high", "urgent"]));
        }
        let req = self.req(Method::POST, "/tasks".into(), Some(body), actor);
        let expect = self.edit_status(actor, p, 201);
        self.op(Kind::CreateTask, Some(p), actor, req, expect)
    }

    /// `If-Match` for a task op: sometimes the current version (succeeds), sometimes a stale
    /// one (412), sometimes `*`. Returns the header and whether it is stale.
    fn if_match(&mut self, task: &str, allow: bool) -> (Option<String>, bool) {
        if !allow || !self.rng.chance(25) {
            return (None, false);
        }
        let version = self.tasks[task].version;
        match self.rng.below(3) {
            0 => (Some(format!("\"{version}\"")), false),
            1 => (Some("*".into()), false),
            _ => {
                let stale = if version > 1 {
                    version - 1
                } else {
                    version + 7
                };
                (Some(format!("\"{stale}\"")), true)
            }
        }
    }

    fn gen_update_task(&mut self, p: usize, actor: usize, task: String, safe: bool) -> Op {
        let mut body = json!({"title": self.unique("Retitled")});
        if self.rng.chance(30) {
            body["priority"] = json!(self.rng.pick(&["low", "medium", "high", "urgent"]));
        }
        if self.rng.chance(20) {
            body["labels"] = json!([self.unique("label")]);
        }
        let (tag, stale) = self.if_match(&task, !safe);
        let mut req = self.req(Method::PATCH, format!("/tasks/{task}"), Some(body), actor);
        req.if_match = tag;
        let expect = match self.edit_status(actor, p, 200) {
            200 if stale => 412,
            s => s,
        };
        self.op(Kind::UpdateTask { task }, Some(p), actor, req, expect)
    }

    fn gen_move_task(&mut self, p: usize, actor: usize, task: String, safe: bool) -> Op {
        let status = self.rng.pick(&STATUSES);
        let column = self.column(p, status, &task);
        let n = column.len();
        let mut after = None;
        let mut before = None;
        let mut invalid = false;
        if !safe {
            let gap = self.rng.below(n + 1);
            match self.rng.below(10) {
                // Neighbours that are not adjacent: 422.
                0 if n >= 3 && gap + 1 < n && gap > 0 => {
                    after = Some(column[gap - 1].clone());
                    before = Some(column[gap + 1].clone());
                    invalid = true;
                }
                // The task itself as its neighbour: 422.
                1 => {
                    before = Some(task.clone());
                    invalid = true;
                }
                2..=4 if gap < n => before = Some(column[gap].clone()),
                5..=7 if gap > 0 => after = Some(column[gap - 1].clone()),
                8 if gap > 0 && gap < n => {
                    after = Some(column[gap - 1].clone());
                    before = Some(column[gap].clone());
                }
                _ => {}
            }
        }
        let mut body = json!({"status": status});
        if let Some(a) = &after {
            body["after_id"] = json!(a);
        }
        if let Some(b) = &before {
            body["before_id"] = json!(b);
        }
        let (tag, stale) = self.if_match(&task, !safe);
        let mut req = self.req(
            Method::PATCH,
            format!("/tasks/{task}/move"),
            Some(body),
            actor,
        );
        req.if_match = tag;
        let expect = match self.edit_status(actor, p, 200) {
            200 if stale => 412,
            200 if invalid => 422,
            s => s,
        };
        self.op(
            Kind::MoveTask {
                task,
                after,
                before,
            },
            Some(p),
            actor,
            req,
            expect,
        )
    }

    fn gen_delete_task(&mut self, p: usize, actor: usize, task: String) -> Op {
        let (tag, stale) = self.if_match(&task, true);
        let mut req = self.req(Method::DELETE, format!("/tasks/{task}"), None, actor);
        req.if_match = tag;
        let expect = match self.edit_status(actor, p, 204) {
            204 if stale => 412,
            s => s,
        };
        self.op(Kind::DeleteTask { task }, Some(p), actor, req, expect)
    }

    fn gen_create_comment(&mut self, p: usize, actor: usize, task: String) -> Op {
        let body = json!({"body": self.unique("Comment")});
        let req = self.req(
            Method::POST,
            format!("/tasks/{task}/comments"),
            Some(body),
            actor,
        );
        let expect = if self.effective(actor, p).is_some() {
            201
        } else {
            404
        };
        self.op(Kind::CreateComment { task }, Some(p), actor, req, expect)
    }

    fn comment_status(&self, actor: usize, p: usize, comment: &str, ok: u16) -> u16 {
        match self.effective(actor, p) {
            None => 404,
            Some(Role::Owner) => ok,
            Some(_) if self.comments[comment].author == actor => ok,
            Some(_) => 403,
        }
    }

    fn gen_update_comment(&mut self, p: usize, actor: usize, comment: String) -> Op {
        let body = json!({"body": self.unique("Edited")});
        let req = self.req(
            Method::PATCH,
            format!("/comments/{comment}"),
            Some(body),
            actor,
        );
        let expect = self.comment_status(actor, p, &comment, 200);
        self.op(Kind::UpdateComment, Some(p), actor, req, expect)
    }

    fn gen_delete_comment(&mut self, p: usize, actor: usize, comment: String) -> Op {
        let req = self.req(Method::DELETE, format!("/comments/{comment}"), None, actor);
        let expect = self.comment_status(actor, p, &comment, 204);
        self.op(Kind::DeleteComment { comment }, Some(p), actor, req, expect)
    }

    fn gen_add_member(&mut self, p: usize, actor: usize) -> Op {
        let role = self.rng.pick(&ROLES);
        let unknown = self.rng.chance(8);
        let target = (!unknown).then(|| {
            let outsiders: Vec<usize> = (0..USERS)
                .filter(|u| !self.projects[p].members.contains_key(u))
                .collect();
            if !outsiders.is_empty() && self.rng.chance(85) {
                self.rng.pick(&outsiders)
            } else {
                self.rng.below(USERS)
            }
        });
        let body = match target {
            Some(t) if self.rng.chance(25) => {
                json!({"email": self.users[t].email, "role": role.as_str()})
            }
            Some(t) => json!({"user_id": self.users[t].id, "role": role.as_str()}),
            None => json!({"user_id": Uuid::now_v7(), "role": role.as_str()}),
        };
        let path = format!("/projects/{}/members", self.projects[p].id);
        let req = self.req(Method::POST, path, Some(body), actor);
        let expect = match self.effective(actor, p) {
            None => 404,
            Some(r) if r != Role::Owner => 403,
            Some(_) => match target {
                None => 422,
                Some(t) if self.projects[p].members.contains_key(&t) => 409,
                Some(_) => 201,
            },
        };
        let mut op = self.op(Kind::AddMember { target }, Some(p), actor, req, expect);
        op.desc += &format!(
            " add {} as {}",
            target.map(|t| format!("u{t}")).unwrap_or("unknown".into()),
            role.as_str()
        );
        op
    }

    fn gen_change_role(&mut self, p: usize, actor: usize) -> Op {
        let members: Vec<usize> = self.projects[p].members.keys().copied().collect();
        let target = if !members.is_empty() && self.rng.chance(85) {
            self.rng.pick(&members)
        } else {
            self.rng.below(USERS)
        };
        let current = self.projects[p].members.get(&target).copied();
        // Always a different role: setting the same role is a no-op without an event.
        let choices: Vec<Role> = ROLES.into_iter().filter(|r| Some(*r) != current).collect();
        let role = self.rng.pick(&choices);
        let path = format!(
            "/projects/{}/members/{}",
            self.projects[p].id, self.users[target].id
        );
        let req = self.req(
            Method::PATCH,
            path,
            Some(json!({"role": role.as_str()})),
            actor,
        );
        let expect = match self.effective(actor, p) {
            None => 404,
            Some(r) if r != Role::Owner => 403,
            Some(_) => match current {
                None => 404,
                Some(Role::Owner) if self.projects[p].owners() <= 1 => 409,
                Some(_) => 200,
            },
        };
        let mut op = self.op(Kind::ChangeRole { target }, Some(p), actor, req, expect);
        op.desc += &format!(" u{target} -> {}", role.as_str());
        op
    }

    fn gen_remove_member(&mut self, p: usize, actor: usize) -> Op {
        let members: Vec<usize> = self.projects[p].members.keys().copied().collect();
        let target = match self.rng.below(10) {
            0..=2 => actor, // leaving
            3 => self.rng.below(USERS),
            _ if !members.is_empty() => self.rng.pick(&members),
            _ => self.rng.below(USERS),
        };
        let path = format!(
            "/projects/{}/members/{}",
            self.projects[p].id, self.users[target].id
        );
        let req = self.req(Method::DELETE, path, None, actor);
        let current = self.projects[p].members.get(&target).copied();
        let expect = match self.effective(actor, p) {
            None => 404,
            Some(r) if r != Role::Owner && target != actor => 403,
            Some(_) => match current {
                None => 404,
                Some(Role::Owner) if self.projects[p].owners() <= 1 => 409,
                Some(_) => 204,
            },
        };
        let mut op = self.op(Kind::RemoveMember { target }, Some(p), actor, req, expect);
        op.desc += &format!(" remove u{target}");
        op
    }

    fn gen_delete_project(&mut self, p: usize, actor: usize) -> Op {
        let path = format!("/projects/{}", self.projects[p].id);
        let req = self.req(Method::DELETE, path, None, actor);
        let expect = match self.effective(actor, p) {
            None => 404,
            Some(Role::Owner) => 204,
            Some(_) => 403,
        };
        self.op(Kind::DeleteProject, Some(p), actor, req, expect)
    }

    /// One random operation on the current state (sequential: its outcome is predicted
    /// exactly).
    fn gen_op(&mut self) -> Op {
        loop {
            let alive = self.alive().len();
            if alive < 2 || (alive < 6 && self.rng.chance(4)) {
                return self.gen_create_project();
            }
            let Some(p) = self.some_project() else {
                continue;
            };
            let actor = self.some_actor(p);
            let tasks = self.tasks_of(p);
            let comments = self.comments_of(p);
            let roll = self.rng.below(100);
            let op = match roll {
                0..=5 => self.gen_update_project(p, actor),
                6..=23 => self.gen_create_task(p, actor),
                24..=35 if !tasks.is_empty() => {
                    let t = tasks[self.rng.below(tasks.len())].clone();
                    self.gen_update_task(p, actor, t, false)
                }
                36..=52 if !tasks.is_empty() => {
                    let t = tasks[self.rng.below(tasks.len())].clone();
                    self.gen_move_task(p, actor, t, false)
                }
                53..=58 if !tasks.is_empty() => {
                    let t = tasks[self.rng.below(tasks.len())].clone();
                    self.gen_delete_task(p, actor, t)
                }
                59..=67 if !tasks.is_empty() => {
                    let t = tasks[self.rng.below(tasks.len())].clone();
                    self.gen_create_comment(p, actor, t)
                }
                68..=71 if !comments.is_empty() => {
                    let c = comments[self.rng.below(comments.len())].clone();
                    self.gen_update_comment(p, actor, c)
                }
                72..=74 if !comments.is_empty() => {
                    let c = comments[self.rng.below(comments.len())].clone();
                    self.gen_delete_comment(p, actor, c)
                }
                75..=85 => self.gen_add_member(p, actor),
                86..=90 => self.gen_change_role(p, actor),
                91..=97 => self.gen_remove_member(p, actor),
                98 if alive > 3 => self.gen_delete_project(p, actor),
                _ => continue,
            };
            return op;
        }
    }

    /// An operation that changes who sees a project (mostly allowed): to race with a
    /// socket of the user it concerns.
    fn gen_membership_op(&mut self) -> Op {
        let alive = self.alive();
        if alive.is_empty() || self.rng.chance(20) {
            return self.gen_create_project();
        }
        let p = self.rng.pick(&alive);
        let owners: Vec<usize> = (0..USERS)
            .filter(|u| self.effective(*u, p) == Some(Role::Owner))
            .collect();
        let actor = self.rng.pick(&owners);
        match self.rng.below(3) {
            0 => self.gen_add_member(p, actor),
            1 => self.gen_remove_member(p, actor),
            _ => self.gen_op(),
        }
    }

    // --- applying answers -------------------------------------------------------------

    /// Records the next event of `p`; returns its seq.
    fn record(&mut self, p: usize, info: SeqInfo) -> i64 {
        self.projects[p].seqs.push(info);
        self.projects[p].head()
    }

    fn put_task(&mut self, p: usize, task: &Value) -> Option<String> {
        let id = task["id"].as_str()?.to_string();
        self.tasks.insert(
            id.clone(),
            TaskM {
                project: p,
                version: task["version"].as_i64()?,
                status: task["status"].as_str()?.to_string(),
                position: task["position"].as_str()?.to_string(),
            },
        );
        Some(id)
    }

    fn drop_task(&mut self, id: &str) {
        self.tasks.remove(id);
        self.comments.retain(|_, c| c.task != id);
    }

    /// Applies a successful operation to the model (membership, tasks, comments); returns
    /// the project it changed.
    fn apply_success(&mut self, op: &Op, body: &Value) -> Result<usize, String> {
        let actor = op.actor;
        match &op.kind {
            Kind::CreateProject => {
                let id = body["id"]
                    .as_str()
                    .ok_or(format!("no project id in {body}"))?
                    .to_string();
                let p = self.projects.len();
                self.by_id.insert(id.clone(), p);
                self.projects.push(ProjectM {
                    id,
                    alive: true,
                    members: BTreeMap::from([(actor, Role::Owner)]),
                    seqs: Vec::new(),
                    bursts: Vec::new(),
                });
                Ok(p)
            }
            Kind::CreateTask | Kind::UpdateTask { .. } | Kind::MoveTask { .. } => {
                let p = op.project.expect("project");
                self.put_task(p, body)
                    .ok_or(format!("not a task: {body}"))?;
                Ok(p)
            }
            Kind::DeleteTask { task } => {
                self.drop_task(task);
                Ok(op.project.expect("project"))
            }
            Kind::CreateComment { task } => {
                let p = op.project.expect("project");
                let id = body["id"]
                    .as_str()
                    .ok_or(format!("no comment id in {body}"))?;
                self.comments.insert(
                    id.to_string(),
                    CommentM {
                        project: p,
                        task: task.clone(),
                        author: actor,
                    },
                );
                Ok(p)
            }
            Kind::UpdateComment | Kind::UpdateProject => Ok(op.project.expect("project")),
            Kind::DeleteComment { comment } => {
                self.comments.remove(comment);
                Ok(op.project.expect("project"))
            }
            Kind::AddMember { target } => {
                let p = op.project.expect("project");
                let target = target.ok_or("an unknown user was added")?;
                let role = body["role"].as_str().unwrap_or("");
                let role = ROLES
                    .into_iter()
                    .find(|r| r.as_str() == role)
                    .ok_or(format!("bad member {body}"))?;
                self.projects[p].members.insert(target, role);
                Ok(p)
            }
            Kind::ChangeRole { target } => {
                let p = op.project.expect("project");
                let role = body["role"].as_str().unwrap_or("");
                let role = ROLES
                    .into_iter()
                    .find(|r| r.as_str() == role)
                    .ok_or(format!("bad member {body}"))?;
                self.projects[p].members.insert(*target, role);
                Ok(p)
            }
            Kind::RemoveMember { target } => {
                let p = op.project.expect("project");
                self.projects[p].members.remove(target);
                Ok(p)
            }
            Kind::DeleteProject => {
                let p = op.project.expect("project");
                self.projects[p].alive = false;
                self.projects[p].members.clear();
                let gone: Vec<String> = self.tasks_of(p);
                for t in gone {
                    self.drop_task(&t);
                }
                Ok(p)
            }
        }
    }

    fn count(&mut self, status: u16) {
        self.figures.requests += 1;
        *self.figures.by_status.entry(status).or_default() += 1;
    }

    /// Runs one operation alone: its status must be the predicted one.
    async fn run_sequential(&mut self, op: Op) {
        let (status, body) = exec(&self.apps, &self.users, &op.req).await;
        self.apply_answer(op, status, body);
    }

    /// Checks and applies the answer of an operation made alone (or alongside a socket's
    /// opening); returns the project and seq of its event, if it made one.
    fn apply_answer(&mut self, op: Op, status: u16, body: Value) -> Option<(usize, i64)> {
        self.count(status);
        let n = self.figures.ops;
        if !op.expect.contains(&status) {
            self.log.push(format!("#{n} {} -> {status}", op.desc));
            self.fail(format!(
                "operation #{n} {} answered {status}, the model expected {:?}; body: {body}",
                op.desc, op.expect
            ));
        }
        if !(200..300).contains(&status) {
            self.log.push(format!("#{n} {} -> {status}", op.desc));
            return None;
        }
        let before = op.project.map(|p| self.projects[p].mask()).unwrap_or(0);
        let old_version = match &op.kind {
            Kind::MoveTask { task, .. } | Kind::UpdateTask { task } => {
                self.tasks.get(task).map(|t| t.version)
            }
            _ => None,
        };
        let p = match self.apply_success(&op, &body) {
            Ok(p) => p,
            Err(e) => self.fail(format!("operation #{n} {}: {e}", op.desc)),
        };
        let after = self.projects[p].mask();
        let seq = self.record(
            p,
            SeqInfo {
                before,
                after,
                expect: Some((op.kind.event(), op.actor, op.kind.subject())),
            },
        );
        self.log
            .push(format!("#{n} {} -> {status} p{p} seq {seq}", op.desc));
        // Only the changed task changes, by one version; a move lands where it was asked.
        if let Kind::MoveTask { task, .. } | Kind::UpdateTask { task } = &op.kind {
            let version = self.tasks[task].version;
            if old_version.map(|v| v + 1) != Some(version) {
                self.fail(format!(
                    "operation #{n} {}: version {old_version:?} became {version}",
                    op.desc
                ));
            }
        }
        if let Kind::MoveTask {
            task,
            after,
            before,
        } = &op.kind
        {
            let status = self.tasks[task].status.clone();
            let column = self.column(p, &status, "");
            let at = column
                .iter()
                .position(|t| t == task)
                .expect("in its column");
            let wrong = match (after, before) {
                (None, None) => at + 1 != column.len(),
                (a, b) => {
                    a.as_ref().is_some_and(|a| at == 0 || &column[at - 1] != a)
                        || b.as_ref().is_some_and(|b| column.get(at + 1) != Some(b))
                }
            };
            if wrong {
                self.fail(format!(
                    "operation #{n} {}: the task landed at {at} of {column:?}",
                    op.desc
                ));
            }
        }
        Some((p, seq))
    }

    /// Several membership-neutral operations at once (distinct tasks and comments, no
    /// `If-Match`, no neighbours): each outcome is still predicted exactly; only the order
    /// of their events within a project is unknown.
    fn gen_burst(&mut self) -> Vec<Op> {
        let size = 3 + self.rng.below(4);
        let mut used: HashSet<String> = HashSet::new();
        let mut ops = Vec::new();
        let alive = self.alive();
        for _ in 0..size * 3 {
            if ops.len() >= size || alive.is_empty() {
                break;
            }
            let p = self.rng.pick(&alive);
            let actor = self.some_actor(p);
            let tasks: Vec<String> = self
                .tasks_of(p)
                .into_iter()
                .filter(|t| !used.contains(t))
                .collect();
            let comments: Vec<String> = self
                .comments_of(p)
                .into_iter()
                .filter(|c| !used.contains(c) && !used.contains(&self.comments[c].task))
                .collect();
            let op = match self.rng.below(6) {
                0 => self.gen_create_task(p, actor),
                1 if !tasks.is_empty() => {
                    let t = tasks[self.rng.below(tasks.len())].clone();
                    used.insert(t.clone());
                    self.gen_update_task(p, actor, t, true)
                }
                2 if !tasks.is_empty() => {
                    let t = tasks[self.rng.below(tasks.len())].clone();
                    used.insert(t.clone());
                    self.gen_move_task(p, actor, t, true)
                }
                3 if !tasks.is_empty() => {
                    let t = tasks[self.rng.below(tasks.len())].clone();
                    self.gen_create_comment(p, actor, t)
                }
                4 if !comments.is_empty() => {
                    let c = comments[self.rng.below(comments.len())].clone();
                    used.insert(c.clone());
                    self.gen_update_comment(p, actor, c)
                }
                5 => self.gen_update_project(p, actor),
                _ => continue,
            };
            ops.push(op);
        }
        ops
    }

    /// Several conflicting operations on one task at once: only the set of allowed
    /// outcomes is known; whatever succeeded must be exactly one event each.
    fn gen_chaos(&mut self) -> Vec<Op> {
        let candidates: Vec<(String, usize)> = self
            .tasks
            .iter()
            .filter(|(_, t)| self.projects[t.project].alive)
            .map(|(id, t)| (id.clone(), t.project))
            .collect();
        if candidates.is_empty() {
            return Vec::new();
        }
        let (task, p) = candidates[self.rng.below(candidates.len())].clone();
        let editors: Vec<usize> = (0..USERS)
            .filter(|u| self.effective(*u, p).is_some_and(Role::can_edit))
            .collect();
        let version = self.tasks[&task].version;
        let mut ops = Vec::new();
        for i in 0..(3 + self.rng.below(3)) {
            let actor = self.rng.pick(&editors);
            let mut op = match (i + self.rng.below(5)) % 5 {
                0 => self.gen_update_task(p, actor, task.clone(), true),
                1 => {
                    let mut op = self.gen_update_task(p, actor, task.clone(), true);
                    op.req.if_match = Some(format!("\"{version}\""));
                    op
                }
                2 => self.gen_move_task(p, actor, task.clone(), true),
                3 => {
                    let mut op = self.gen_delete_task(p, actor, task.clone());
                    op.req.if_match = Some(format!("\"{version}\""));
                    op
                }
                _ => self.gen_create_comment(p, actor, task.clone()),
            };
            op.expect = match &op.kind {
                Kind::UpdateTask { .. } | Kind::MoveTask { .. } => vec![200, 404, 412],
                Kind::DeleteTask { .. } => vec![204, 404, 412],
                _ => vec![201, 404],
            };
            if op.req.if_match.is_none() {
                op.expect.retain(|s| *s != 412);
            }
            op.desc += " (chaos)";
            ops.push(op);
        }
        ops
    }

    async fn run_concurrent(&mut self, ops: Vec<Op>) {
        let results = join_all(ops.iter().map(|op| exec(&self.apps, &self.users, &op.req))).await;
        let n = self.figures.ops;
        let mut per_project: BTreeMap<usize, Vec<(&'static str, usize)>> = BTreeMap::new();
        let mut deleted: Vec<String> = Vec::new();
        let mut latest: BTreeMap<String, Value> = BTreeMap::new();
        for (op, (status, body)) in ops.iter().zip(&results) {
            self.count(*status);
            self.log
                .push(format!("#{n} (burst) {} -> {status}", op.desc));
            if !op.expect.contains(status) {
                self.fail(format!(
                    "operation #{n} {} (in a burst) answered {status}, the model expected {:?}; body: {body}",
                    op.desc, op.expect
                ));
            }
            if !(200..300).contains(status) {
                continue;
            }
            let p = op.project.expect("bursts never create projects");
            per_project
                .entry(p)
                .or_default()
                .push((op.kind.event(), op.actor));
            match &op.kind {
                Kind::DeleteTask { task } => deleted.push(task.clone()),
                Kind::UpdateTask { task } | Kind::MoveTask { task, .. } => {
                    let newer = latest
                        .get(task)
                        .is_none_or(|t| t["version"].as_i64() < body["version"].as_i64());
                    if newer {
                        latest.insert(task.clone(), body.clone());
                    }
                }
                _ => {
                    if let Err(e) = self.apply_success(op, body) {
                        self.fail(format!("operation #{n} {}: {e}", op.desc));
                    }
                }
            }
        }
        for (task, body) in latest {
            if let Some(p) = self.tasks.get(&task).map(|t| t.project) {
                self.put_task(p, &body);
            }
        }
        for task in deleted {
            self.drop_task(&task);
        }
        for (p, events) in per_project {
            let mask = self.projects[p].mask();
            let first = self.projects[p].head() + 1;
            for _ in &events {
                self.record(
                    p,
                    SeqInfo {
                        before: mask,
                        after: mask,
                        expect: None,
                    },
                );
            }
            self.log.push(format!(
                "#{n} (burst) p{p} seqs {first}..={}",
                self.projects[p].head()
            ));
            self.projects[p].bursts.push((first, events));
        }
    }

    // --- connections ------------------------------------------------------------------

    async fn open_socket(
        &mut self,
        c: usize,
        mode: Mode,
        cursors: BTreeMap<usize, i64>,
        wait_pong: bool,
    ) {
        let user = self.conns[c].user;
        let instance = self.conns[c].instance;
        let resume = cursors
            .iter()
            .map(|(p, s)| format!("{}:{s}", self.projects[*p].id))
            .collect::<Vec<_>>()
            .join(",");
        let extra = if mode == Mode::Upgrade && !cursors.is_empty() {
            format!("&resume={resume}")
        } else {
            String::new()
        };
        let open_heads = self.heads();
        let open_member: Vec<bool> = self
            .projects
            .iter()
            .map(|p| p.alive && p.members.contains_key(&user))
            .collect();
        let mut ws = self.apps[instance].ws(&self.users[user], &extra).await;
        if mode == Mode::Message {
            let map: serde_json::Map<String, Value> = cursors
                .iter()
                .map(|(p, s)| (self.projects[*p].id.clone(), json!(s)))
                .collect();
            ws.send_json(json!({"type": "resume", "cursors": map}))
                .await;
        }
        let log = Arc::new(Mutex::new(SocketLog::default()));
        let (pong_tx, pong_rx) = oneshot::channel();
        if wait_pong {
            log.lock().expect("log").pong = Some(pong_tx);
            ws.send_json(json!({"type": "ping"})).await;
        }
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(reader(ws, log.clone(), stop_rx));
        self.conns[c].sockets.push(SocketRec {
            mode,
            instance,
            cursors: cursors.clone(),
            open_heads,
            open_member,
            close_heads: None,
            racing: None,
            log,
        });
        self.conns[c].live = Some(Live { stop, task });
        self.figures.sockets += 1;
        self.log.push(format!(
            "conn {c} (u{user}@i{instance}) opens socket {} {mode:?} cursors {:?}{}",
            self.conns[c].sockets.len() - 1,
            cursors,
            if wait_pong { " +pong" } else { "" }
        ));
        if wait_pong
            && tokio::time::timeout(Duration::from_secs(10), pong_rx)
                .await
                .is_err()
        {
            self.fail(format!("conn {c}: no pong within 10 s"));
        }
    }

    async fn new_connection(&mut self, user: usize) {
        let instance = self.instance();
        self.conns.push(Conn {
            user,
            instance,
            sockets: Vec::new(),
            live: None,
        });
        let c = self.conns.len() - 1;
        let member_of: Vec<usize> = (0..self.projects.len())
            .filter(|p| self.projects[*p].alive && self.projects[*p].members.contains_key(&user))
            .collect();
        match self.rng.below(4) {
            // A client that knows nothing yet.
            0 | 1 => {
                let pong = self.rng.chance(50);
                self.open_socket(c, Mode::Fresh, BTreeMap::new(), pong)
                    .await
            }
            // A client that replays everything of its projects.
            2 => {
                let cursors = member_of.iter().map(|p| (*p, 0)).collect();
                self.open_socket(c, Mode::Upgrade, cursors, true).await
            }
            // A client that loaded the boards and follows from their seq.
            _ => {
                let cursors = member_of
                    .iter()
                    .map(|p| (*p, self.projects[*p].head()))
                    .collect();
                let mode = if self.rng.chance(50) {
                    Mode::Upgrade
                } else {
                    Mode::Message
                };
                self.open_socket(c, mode, cursors, true).await
            }
        }
    }

    /// A new connection of the user an operation concerns (its member, or its actor) opens
    /// while the operation runs.
    async fn race_open(&mut self, op: Op) {
        let user = op.kind.subject().unwrap_or(op.actor);
        let instance = self.instance();
        self.conns.push(Conn {
            user,
            instance,
            sockets: Vec::new(),
            live: None,
        });
        let c = self.conns.len() - 1;
        let open_heads = self.heads();
        let open_member: Vec<bool> = self
            .projects
            .iter()
            .map(|p| p.alive && p.members.contains_key(&user))
            .collect();
        self.log.push(format!(
            "conn {c} (u{user}@i{instance}) opens socket 0 Fresh while: {}",
            op.desc
        ));
        let app = &self.apps[instance];
        let (ws, (status, body)) = tokio::join!(
            app.ws(&self.users[user], ""),
            exec(&self.apps, &self.users, &op.req)
        );
        let log = Arc::new(Mutex::new(SocketLog::default()));
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(reader(ws, log.clone(), stop_rx));
        self.conns[c].sockets.push(SocketRec {
            mode: Mode::Fresh,
            instance,
            cursors: BTreeMap::new(),
            open_heads,
            open_member,
            close_heads: None,
            racing: None,
            log,
        });
        self.conns[c].live = Some(Live { stop, task });
        self.figures.sockets += 1;
        self.figures.races += 1;
        let racing = self.apply_answer(op, status, body);
        if let Some(socket) = self.conns[c].sockets.last_mut() {
            socket.racing = racing;
        }
    }

    async fn disconnect(&mut self, c: usize) {
        let Some(live) = self.conns[c].live.take() else {
            return;
        };
        let graceful = self.rng.chance(50);
        let _ = live.stop.send(graceful);
        let _ = live.task.await;
        let heads = self.heads();
        if let Some(socket) = self.conns[c].sockets.last_mut() {
            socket.close_heads = Some(heads);
        }
        self.log.push(format!(
            "conn {c} closes ({})",
            if graceful { "close frame" } else { "dropped" }
        ));
    }

    /// The last seq this connection saw per project (what a client resumes from).
    fn last_seen(&self, c: usize) -> BTreeMap<usize, i64> {
        let mut seen = BTreeMap::new();
        for socket in &self.conns[c].sockets {
            for event in &socket.log.lock().expect("log").events {
                let Some(p) = event["project_id"]
                    .as_str()
                    .and_then(|id| self.by_id.get(id))
                else {
                    continue;
                };
                let seq = event["seq"].as_i64().unwrap_or(0);
                let entry = seen.entry(*p).or_insert(0);
                *entry = seq.max(*entry);
            }
        }
        seen
    }

    async fn reconnect(&mut self, c: usize, mode: Option<Mode>) {
        let cursors = self.last_seen(c);
        let mode = mode.unwrap_or(if self.rng.chance(65) {
            Mode::Upgrade
        } else {
            Mode::Message
        });
        self.figures.reconnects += 1;
        self.open_socket(c, mode, cursors, true).await;
    }

    async fn connection_step(&mut self) {
        let roll = self.rng.below(100);
        let live: Vec<usize> = (0..self.conns.len())
            .filter(|c| self.conns[*c].live.is_some())
            .collect();
        let down: Vec<usize> = (0..self.conns.len())
            .filter(|c| self.conns[*c].live.is_none())
            .collect();
        if roll < 3 && self.conns.len() < 16 {
            let user = self.rng.below(USERS);
            self.new_connection(user).await;
        } else if roll < 8 && live.len() > 2 {
            let c = self.rng.pick(&live);
            self.disconnect(c).await;
        } else if roll < 14 && !down.is_empty() {
            let c = self.rng.pick(&down);
            self.reconnect(c, None).await;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Checks

/// Problems of one socket's stream (`hard`), and whether it still lacks expected events
/// (`missing`: may be in flight while settling).
#[derive(Default)]
struct Verdict {
    hard: Vec<String>,
    missing: Vec<String>,
}

fn short(list: &[i64]) -> String {
    if list.len() <= 24 {
        format!("{list:?}")
    } else {
        format!(
            "{:?} … {:?} ({} items)",
            &list[..8],
            &list[list.len() - 8..],
            list.len()
        )
    }
}

/// Where `got` first leaves `expected` (as a prefix of it).
fn divergence(got: &[i64], expected: &[i64]) -> String {
    match got.iter().zip(expected).position(|(g, e)| g != e) {
        Some(i) => format!(
            "first difference at #{i}: got seq {}, expected {}",
            got[i], expected[i]
        ),
        None if got.len() > expected.len() => {
            format!(
                "unexpected seqs after the expected ones: {}",
                short(&got[expected.len()..])
            )
        }
        None => format!("{} of {} received", got.len(), expected.len()),
    }
}

impl World {
    /// Checks one socket against the model. `open`: the socket is still open (it must end
    /// complete once settled).
    fn check_socket(&self, c: usize, s: usize, verdict: &mut Verdict) {
        let conn = &self.conns[c];
        let socket = &conn.sockets[s];
        let user = conn.user;
        let log = socket.log.lock().expect("log");
        let who = format!(
            "conn {c} (u{user}@i{}) socket {s} ({:?}, cursors {:?})",
            socket.instance, socket.mode, socket.cursors
        );
        for problem in &log.problems {
            verdict.hard.push(format!("{who}: {problem}"));
        }
        let mut received: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
        for event in &log.events {
            let id = event["project_id"].as_str().unwrap_or("");
            match self.by_id.get(id) {
                Some(p) => received
                    .entry(*p)
                    .or_default()
                    .push(event["seq"].as_i64().unwrap_or(-1)),
                None => verdict
                    .hard
                    .push(format!("{who}: an event of an unknown project: {event}")),
            }
        }
        drop(log);
        let open = socket.close_heads.is_none();
        for (p, project) in self.projects.iter().enumerate() {
            let got = received.remove(&p).unwrap_or_default();
            let h_open = socket.open_heads.get(p).copied().unwrap_or(0);
            let h_close = socket
                .close_heads
                .as_ref()
                .and_then(|h| h.get(p).copied())
                .unwrap_or(project.head());
            let mut sorted = got.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() != got.len() {
                verdict
                    .hard
                    .push(format!("{who}: p{p}: duplicates in {}", short(&got)));
                continue;
            }
            let visible: Vec<i64> = project
                .visible(user)
                .into_iter()
                .filter(|s| *s <= h_close)
                .collect();
            let live: Vec<i64> = visible.iter().copied().filter(|s| *s > h_open).collect();
            let replayed =
                socket.mode != Mode::Fresh && socket.open_member.get(p).copied().unwrap_or(false);
            match socket.cursors.get(&p) {
                Some(&cursor) if replayed => {
                    // Replay of everything after the cursor (what it missed, members' or
                    // not: it is a member now), then the live events it may see.
                    let mut expected: Vec<i64> = (cursor + 1..=h_open).collect();
                    expected.extend(&live);
                    let normalized = if socket.mode == Mode::Message {
                        // Live events sent before the message was read may precede the
                        // replay; clients apply by seq. The live part stays in order.
                        let after: Vec<i64> = got.iter().copied().filter(|s| *s > h_open).collect();
                        if !after.is_sorted() {
                            verdict.hard.push(format!(
                                "{who}: p{p}: live events out of order: {}",
                                short(&got)
                            ));
                        }
                        sorted.clone()
                    } else {
                        got.clone()
                    };
                    if !expected.starts_with(&normalized) {
                        verdict.hard.push(format!(
                            "{who}: p{p}: resumed from {cursor} at head {h_open}: {}; got {}, expected {} (as a prefix)",
                            divergence(&normalized, &expected),
                            short(&got),
                            short(&expected)
                        ));
                    } else if open && normalized.len() < expected.len() {
                        verdict.missing.push(format!(
                            "{who}: p{p}: got {}, expected {}",
                            short(&got),
                            short(&expected)
                        ));
                    }
                }
                _ => {
                    // Live only: a contiguous run of the visible events that, once past
                    // the head at opening, misses none.
                    // An operation raced with the opening: its event may be missing.
                    let racing = socket
                        .racing
                        .filter(|(rp, seq)| *rp == p && live.first() == Some(seq))
                        .is_some();
                    let required = if racing { &live[1..] } else { &live[..] };
                    if got.is_empty() {
                        if open && !required.is_empty() {
                            verdict.missing.push(format!(
                                "{who}: p{p}: got nothing, expected {} (live after head {h_open})",
                                short(&live)
                            ));
                        }
                        continue;
                    }
                    let Some(start) = visible.iter().position(|s| *s == got[0]) else {
                        verdict.hard.push(format!(
                            "{who}: p{p}: seq {} is not one the user may see (visible: {}); got {}",
                            got[0],
                            short(&visible),
                            short(&got)
                        ));
                        continue;
                    };
                    let run = &visible[start..(start + got.len()).min(visible.len())];
                    if run != got.as_slice() {
                        verdict.hard.push(format!(
                            "{who}: p{p}: opened at head {h_open}: not a gapless run of the events it may see: {}; got {}, visible {}",
                            divergence(&got, &visible[start..]),
                            short(&got),
                            short(&visible)
                        ));
                        continue;
                    }
                    if let Some(first_live) = required.first()
                        && got[0] > *first_live
                    {
                        verdict.hard.push(format!(
                            "{who}: p{p}: opened at head {h_open}, missed {first_live}..{}: got {}",
                            got[0] - 1,
                            short(&got)
                        ));
                        continue;
                    }
                    if open && got.last() != visible.last() {
                        verdict.missing.push(format!(
                            "{who}: p{p}: got {}, visible {}",
                            short(&got),
                            short(&visible)
                        ));
                    }
                }
            }
        }
    }

    /// A connection's stream is the concatenation of its sockets: per project strictly
    /// increasing (no duplicate across reconnects, nothing older than what it had).
    fn check_connection(&self, c: usize, verdict: &mut Verdict) {
        let mut last: BTreeMap<String, i64> = BTreeMap::new();
        for (s, socket) in self.conns[c].sockets.iter().enumerate() {
            let mut events: Vec<(String, i64)> = socket
                .log
                .lock()
                .expect("log")
                .events
                .iter()
                .map(|e| {
                    (
                        e["project_id"].as_str().unwrap_or("").to_string(),
                        e["seq"].as_i64().unwrap_or(-1),
                    )
                })
                .collect();
            if socket.mode == Mode::Message {
                events.sort_by_key(|e| e.1);
            }
            let mut this_socket: BTreeMap<String, i64> = BTreeMap::new();
            for (project, seq) in events {
                let previous = this_socket
                    .get(&project)
                    .or(last.get(&project))
                    .copied()
                    .unwrap_or(0);
                if seq <= previous {
                    verdict.hard.push(format!(
                        "conn {c} socket {s}: seq {seq} of p{} after {previous}",
                        self.by_id.get(&project).copied().unwrap_or(usize::MAX)
                    ));
                }
                this_socket.insert(project, seq);
            }
            last.extend(this_socket);
        }
    }

    fn verdict(&self) -> Verdict {
        let mut verdict = Verdict::default();
        for c in 0..self.conns.len() {
            for s in 0..self.conns[c].sockets.len() {
                self.check_socket(c, s, &mut verdict);
            }
            self.check_connection(c, &mut verdict);
        }
        verdict
    }

    /// Every copy of an event (same project and seq) is identical; each is of the
    /// expected type, actor and member; bursts hold the expected multiset.
    fn check_payloads(
        &self,
        extra: &[Value],
        problems: &mut Vec<String>,
    ) -> BTreeMap<(usize, i64), Value> {
        let mut canonical: BTreeMap<(usize, i64), Value> = BTreeMap::new();
        let mut all: Vec<Value> = extra.to_vec();
        for conn in &self.conns {
            for socket in &conn.sockets {
                all.extend(socket.log.lock().expect("log").events.iter().cloned());
            }
        }
        for event in all {
            let Some(p) = event["project_id"]
                .as_str()
                .and_then(|id| self.by_id.get(id))
            else {
                continue;
            };
            let seq = event["seq"].as_i64().unwrap_or(-1);
            match canonical.get(&(*p, seq)) {
                Some(first) if *first != event => problems.push(format!(
                    "p{p} seq {seq} differs between connections: {first} vs {event}"
                )),
                Some(_) => {}
                None => {
                    canonical.insert((*p, seq), event);
                }
            }
        }
        for (p, project) in self.projects.iter().enumerate() {
            for (i, info) in project.seqs.iter().enumerate() {
                let seq = i as i64 + 1;
                let (Some((kind, actor, subject)), Some(event)) =
                    (info.expect, canonical.get(&(p, seq)))
                else {
                    continue;
                };
                let member = event["data"]["member"]["user"]["id"].as_str();
                if event["type"] != kind
                    || event["actor_id"] != self.users[actor].id.to_string()
                    || subject.is_some_and(|u| member != Some(&self.users[u].id.to_string()))
                {
                    problems.push(format!(
                        "p{p} seq {seq}: expected {kind} by u{actor} (member {subject:?}), got {event}"
                    ));
                }
            }
            for (first, expected) in &project.bursts {
                let mut expected: Vec<(String, String)> = expected
                    .iter()
                    .map(|(k, a)| (k.to_string(), self.users[*a].id.to_string()))
                    .collect();
                let mut got = Vec::new();
                for seq in *first..*first + expected.len() as i64 {
                    if let Some(e) = canonical.get(&(p, seq)) {
                        got.push((
                            e["type"].as_str().unwrap_or("").to_string(),
                            e["actor_id"].as_str().unwrap_or("").to_string(),
                        ));
                    }
                }
                if got.len() == expected.len() {
                    expected.sort();
                    got.sort();
                    if got != expected {
                        problems.push(format!(
                            "p{p} burst at seq {first}: events {got:?}, expected {expected:?}"
                        ));
                    }
                }
            }
        }
        canonical
    }
}

/// A board as `(status, [(task id, version, position)])` per column, in board order.
type Board = Vec<(String, Vec<(String, i64, String)>)>;

/// Applies task events to a map id → task; returns the board as `(status, [(id, version,
/// position)])` in board order.
fn rebuild(events: &[Value]) -> Board {
    let mut tasks: BTreeMap<String, Value> = BTreeMap::new();
    for event in events {
        let task = &event["data"]["task"];
        let id = task["id"].as_str().unwrap_or("").to_string();
        match event["type"].as_str() {
            Some("task.created" | "task.updated" | "task.moved") => {
                tasks.insert(id, task.clone());
            }
            Some("task.deleted") => {
                tasks.remove(&id);
            }
            _ => {}
        }
    }
    STATUSES
        .iter()
        .map(|status| {
            let mut column: Vec<(String, i64, String)> = tasks
                .values()
                .filter(|t| t["status"] == *status)
                .map(|t| {
                    (
                        t["id"].as_str().unwrap_or("").to_string(),
                        t["version"].as_i64().unwrap_or(-1),
                        t["position"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            column.sort_by(|a, b| a.2.as_bytes().cmp(b.2.as_bytes()));
            (status.to_string(), column)
        })
        .collect()
}

fn board_columns(board: &Value) -> Board {
    board["columns"]
        .as_array()
        .map(|columns| {
            columns
                .iter()
                .map(|c| {
                    let tasks = c["tasks"]
                        .as_array()
                        .map(|tasks| {
                            tasks
                                .iter()
                                .map(|t| {
                                    assert_eq!(t["status"], c["status"], "task in its column");
                                    (
                                        t["id"].as_str().unwrap_or("").to_string(),
                                        t["version"].as_i64().unwrap_or(-1),
                                        t["position"].as_str().unwrap_or("").to_string(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    (c["status"].as_str().unwrap_or("").to_string(), tasks)
                })
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// The test

#[tokio::test]
async fn random_operations_keep_every_stream_gapless_private_and_true_to_the_board() {
    let seed = env_number("FLOWTRACK_MODEL_SEED").unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Rng(t ^ u64::from(std::process::id())).next_u64()
    });
    eprintln!("model test seed: {seed} (replay: FLOWTRACK_MODEL_SEED={seed} scripts/test model)");
    let total_ops = env_number("FLOWTRACK_MODEL_OPS").unwrap_or(300) as usize;
    let started = Instant::now();

    let first = TestApp::spawn().await;
    let mut apps = vec![];
    let second = sibling_of(&first).await;
    apps.push(first);
    apps.extend(second);
    let mut users = vec![apps[0].admin().await];
    for _ in 1..USERS {
        users.push(apps[0].register().await);
    }
    let mut world = World {
        seed,
        rng: Rng(seed),
        apps,
        users,
        projects: Vec::new(),
        by_id: HashMap::new(),
        tasks: BTreeMap::new(),
        comments: BTreeMap::new(),
        conns: Vec::new(),
        counter: 0,
        log: Vec::new(),
        figures: Figures::default(),
    };

    // Every user starts with 2–3 connections, before anything exists.
    for user in 0..USERS {
        for _ in 0..(2 + world.rng.below(2)) {
            world.new_connection(user).await;
        }
    }

    while world.figures.ops < total_ops {
        world.figures.ops += 1;
        match world.rng.below(100) {
            0..=6 => {
                let ops = world.gen_burst();
                if ops.is_empty() {
                    world.figures.ops -= 1;
                    continue;
                }
                world.figures.ops += ops.len() - 1;
                world.figures.bursts += 1;
                world.run_concurrent(ops).await;
            }
            9..=12 => {
                let op = world.gen_membership_op();
                world.race_open(op).await;
            }
            7..=8 => {
                let ops = world.gen_chaos();
                if ops.is_empty() {
                    world.figures.ops -= 1;
                    continue;
                }
                world.figures.ops += ops.len() - 1;
                world.figures.chaos_bursts += 1;
                world.run_concurrent(ops).await;
            }
            _ => {
                let op = world.gen_op();
                world.run_sequential(op).await;
            }
        }
        world.connection_step().await;
    }
    let ops_elapsed = started.elapsed();

    // Every connection comes back, then things settle.
    for c in 0..world.conns.len() {
        if world.conns[c].live.is_none() {
            world.reconnect(c, Some(Mode::Upgrade)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let verdict = world.verdict();
        if !verdict.hard.is_empty() || verdict.missing.is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let settled = started.elapsed();
    // Nothing more may arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let verdict = world.verdict();
    let mut problems = verdict.hard;
    problems.extend(
        verdict
            .missing
            .into_iter()
            .map(|m| format!("missing after settling: {m}")),
    );

    // A full replay per member of every live project, and its board.
    let mut replays: Vec<Value> = Vec::new();
    let mut boards: Vec<(usize, Value, Vec<Value>)> = Vec::new();
    for p in world.alive() {
        let project = &world.projects[p];
        let member = *project
            .members
            .keys()
            .next()
            .expect("a project keeps an owner");
        let instance = world.rng.below(world.apps.len());
        let app = &world.apps[instance];
        let mut ws = app
            .ws(&world.users[member], &format!("&resume={}:0", project.id))
            .await;
        let mut events = Vec::new();
        while (events.len() as i64) < project.head() {
            match ws.next_json_within(Duration::from_secs(5)).await {
                Some(m) if m["seq"].is_i64() && m["project_id"] == project.id.as_str() => {
                    events.push(m)
                }
                Some(m) if m["type"] == "notification" => {}
                Some(m) => problems.push(format!("p{p} replay: unexpected {m}")),
                None => break,
            }
        }
        let seqs: Vec<i64> = events
            .iter()
            .map(|e| e["seq"].as_i64().unwrap_or(-1))
            .collect();
        if seqs != (1..=project.head()).collect::<Vec<_>>() {
            problems.push(format!(
                "p{p}: a replay from 0 gave {}, expected 1..={}",
                short(&seqs),
                project.head()
            ));
        }
        let board = app.board(&world.users[member], &project.id).await;
        replays.extend(events.iter().cloned());
        boards.push((p, board, events));
    }
    let canonical = world.check_payloads(&replays, &mut problems);
    let mut tasks_checked = 0;
    for (p, board, events) in &boards {
        let project = &world.projects[*p];
        if board["seq"].as_i64() != Some(project.head()) {
            problems.push(format!(
                "p{p}: board seq {} but {} successful writes",
                board["seq"],
                project.head()
            ));
        }
        let actual = board_columns(board);
        let rebuilt = rebuild(events);
        if rebuilt != actual {
            problems.push(format!(
                "p{p}: the events rebuild {rebuilt:?}\nbut the board is {actual:?}"
            ));
        }
        // The model built from the HTTP answers agrees too.
        let mut modelled: Board = Vec::new();
        for status in STATUSES {
            let column = world.column(*p, status, "");
            modelled.push((
                status.to_string(),
                column
                    .iter()
                    .map(|id| {
                        let t = &world.tasks[id];
                        (id.clone(), t.version, t.position.clone())
                    })
                    .collect(),
            ));
        }
        if modelled != actual {
            problems.push(format!(
                "p{p}: the HTTP answers give {modelled:?}\nbut the board is {actual:?}"
            ));
        }
        tasks_checked += actual.iter().map(|c| c.1.len()).sum::<usize>();
    }
    for p in 0..world.projects.len() {
        if !world.projects[p].alive {
            let owner = &world.users[ADMIN];
            let status = world.apps[0]
                .get(&format!("/projects/{}/board", world.projects[p].id))
                .bearer_auth(&owner.access)
                .send()
                .await
                .expect("board")
                .status();
            if status != 404 {
                problems.push(format!("p{p} was deleted but its board answers {status}"));
            }
        }
    }

    let f = &mut world.figures;
    for conn in &world.conns {
        for socket in &conn.sockets {
            let log = socket.log.lock().expect("log");
            f.events_checked += log.events.len();
            f.notifications += log.notifications;
        }
    }
    f.events_checked += replays.len();
    let total_events: i64 = world.projects.iter().map(ProjectM::head).sum();
    let ok = f
        .by_status
        .iter()
        .filter(|(s, _)| (200..300).contains(*s))
        .map(|(_, n)| n)
        .sum::<usize>();
    println!(
        "model test figures (seed {seed}, {} instance(s), {}): {} operations ({} requests: {ok} 2xx, {} 4xx; by status {:?}), {} bursts + {} chaos bursts, {} sockets opened during an operation, {} projects ({} deleted), {total_events} events, {} distinct events seen, {} tasks on final boards, {} connections, {} sockets, {} reconnects, {} events checked, {} notifications; operations {:.1}s, settled {:.1}s, total {:.1}s",
        world.apps.len(),
        if on_postgres() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        f.ops,
        f.requests,
        f.requests - ok,
        f.by_status,
        f.bursts,
        f.chaos_bursts,
        f.races,
        world.projects.len(),
        world.projects.iter().filter(|p| !p.alive).count(),
        canonical.len(),
        tasks_checked,
        world.conns.len(),
        f.sockets,
        f.reconnects,
        f.events_checked,
        f.notifications,
        ops_elapsed.as_secs_f64(),
        settled.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
    if !problems.is_empty() {
        let count = problems.len();
        problems.truncate(30);
        world.fail(format!("{count} problem(s):\n{}", problems.join("\n")));
    }
    for conn in &mut world.conns {
        if let Some(live) = conn.live.take() {
            let _ = live.stop.send(true);
            let _ = live.task.await;
        }
    }
}
