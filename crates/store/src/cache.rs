//! Caches. The authenticated-user cache: a request costs no database read for auth.
//!
//! Entries live a short time and are dropped at once when the user changes (role, activity,
//! email…), so a deactivated user's tokens stop working immediately on this instance.

use std::sync::Arc;
use std::time::Duration;

use flowtrack_core::thread_cache::ThreadCache;
use moka::future::Cache;

use crate::bus::Event;
use crate::models::project_members::ProjectRole;
use crate::services::event::Access;
use redis::aio::ConnectionManager;
use uuid::Uuid;

use crate::models::{api_tokens, users};

mod board;

pub use board::CachedBoard;

pub struct UserCache {
    users: moka::sync::Cache<Uuid, Arc<users::Model>>,
    /// Each thread's copies of `users` entries (see `ThreadCache`).
    users_here: ThreadCache<Uuid, Arc<users::Model>>,
}

/// How long a thread keeps its copy of a cached entry: short, since it may have been filled
/// from a shared entry near the end of its own life.
const HERE_TTL: Duration = Duration::from_millis(200);
/// Entries of each kind each thread keeps at most.
const HERE_CAPACITY: usize = 4096;

impl UserCache {
    pub fn new() -> Self {
        Self {
            users: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(30))
                .build(),
            users_here: ThreadCache::new(HERE_TTL, HERE_CAPACITY),
        }
    }

    pub fn get(&self, id: Uuid) -> Option<Arc<users::Model>> {
        // A copy of its own for the thread (see `ThreadCache::fill`).
        self.users_here.get_or_fill(&id, || {
            let shared = self.users.get(&id)?;
            Some(Arc::new(users::Model::clone(&shared)))
        })
    }

    pub fn put(&self, user: Arc<users::Model>) {
        self.users.insert(user.id, user);
    }

    pub fn invalidate(&self, id: Uuid) {
        self.users.invalidate(&id);
        // After the shared entry is gone: a copy read before this line is refused.
        self.users_here.invalidate_all();
    }
}

impl Default for UserCache {
    fn default() -> Self {
        Self::new()
    }
}

/// API tokens by the hash of their secret, for one second: a token check costs a hash and a
/// map read, and a deleted token stops working within that second on every instance (the
/// deleting instance drops it at once).
pub struct TokenCache {
    tokens: moka::sync::Cache<String, Arc<CachedToken>>,
    /// Each thread's copies of `tokens` entries (see `ThreadCache`).
    tokens_here: ThreadCache<String, Arc<CachedToken>>,
}

/// A token as its checks need it.
#[derive(Debug, Clone)]
pub struct CachedToken {
    pub token: api_tokens::Model,
    /// When this instance last wrote `last_used_at` (unix seconds; 0: not yet): one counter
    /// for the shared entry and every thread's copy of it.
    pub last_used_written: Arc<std::sync::atomic::AtomicI64>,
}

impl TokenCache {
    pub fn new() -> Self {
        Self {
            tokens: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(1).saturating_sub(HERE_TTL))
                .build(),
            tokens_here: ThreadCache::new(HERE_TTL, HERE_CAPACITY),
        }
    }

    pub fn get(&self, secret_hash: &str) -> Option<Arc<CachedToken>> {
        self.tokens_here.get_or_fill(secret_hash, || {
            let shared = self.tokens.get(secret_hash)?;
            Some(Arc::new(CachedToken::clone(&shared)))
        })
    }

    pub fn put(&self, token: api_tokens::Model) -> Arc<CachedToken> {
        let written = token.last_used_at.map_or(0, |t| t.timestamp());
        let cached = Arc::new(CachedToken {
            last_used_written: Arc::new(std::sync::atomic::AtomicI64::new(written)),
            token,
        });
        self.tokens
            .insert(cached.token.secret_hash.clone(), cached.clone());
        cached
    }

    pub fn invalidate(&self, secret_hash: &str) {
        self.tokens.invalidate(secret_hash);
        self.tokens_here.invalidate_all();
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new()
    }
}

/// Computed reports (JSON text) by key. Keys carry the project's `event_seq`, so an entry
/// can never be stale — only unused, and then it ages out. In process memory (bounded by
/// bytes), and in Redis too when configured, so instances share what one computed.
#[derive(Clone)]
pub struct ReportCache {
    local: Cache<String, Arc<str>>,
    /// The latest board of each project with the seq it was read at. One entry per project:
    /// a newer board replaces the older one, which could never be read again (keys carrying
    /// the seq would pile up superseded boards by the hundreds per minute on a busy project,
    /// in process memory and in Redis alike).
    boards: Cache<Uuid, Arc<CachedBoard>>,
    redis: Option<(ConnectionManager, String)>,
}

/// Bytes of reports kept in memory at most.
const REPORT_CACHE_BYTES: u64 = 64 * 1024 * 1024;
const REPORT_TTL: Duration = Duration::from_secs(3600);
/// Bytes of boards kept in memory at most.
const BOARD_CACHE_BYTES: u64 = 32 * 1024 * 1024;

impl ReportCache {
    pub fn new(redis: Option<(ConnectionManager, String)>) -> Self {
        Self {
            local: Cache::builder()
                .weigher(|k: &String, v: &Arc<str>| {
                    u32::try_from(k.len() + v.len()).unwrap_or(u32::MAX)
                })
                .max_capacity(REPORT_CACHE_BYTES)
                .time_to_idle(REPORT_TTL)
                .build(),
            boards: Cache::builder()
                .weigher(|_: &Uuid, board: &Arc<CachedBoard>| board.weight())
                .max_capacity(BOARD_CACHE_BYTES)
                .time_to_idle(REPORT_TTL)
                .build(),
            redis,
        }
    }

    pub async fn get(&self, key: &str) -> Option<Arc<str>> {
        if let Some(hit) = self.local.get(key).await {
            return Some(hit);
        }
        let text: Arc<str> = Arc::from(self.shared_get(&format!("report:{key}")).await?);
        self.local.insert(key.to_string(), text.clone()).await;
        Some(text)
    }

    pub async fn put(&self, key: String, value: String) {
        let value: Arc<str> = Arc::from(value);
        self.shared_set(&format!("report:{key}"), &value).await;
        self.local.insert(key, value).await;
    }

    /// The value other instances stored under `key` (None without Redis, or on any error:
    /// the caller computes it again).
    async fn shared_get(&self, key: &str) -> Option<String> {
        let (conn, prefix) = self.redis.as_ref()?;
        let found: redis::RedisResult<Option<String>> = redis::cmd("GET")
            .arg(format!("{prefix}:{key}"))
            .query_async(&mut conn.clone())
            .await;
        found.ok()?
    }

    /// Shares `value` with other instances for [`REPORT_TTL`] (best effort: a failure only
    /// means they compute it themselves).
    async fn shared_set(&self, key: &str, value: &str) {
        let Some((conn, prefix)) = &self.redis else {
            return;
        };
        let stored: redis::RedisResult<()> = redis::cmd("SET")
            .arg(format!("{prefix}:{key}"))
            .arg(value)
            .arg("EX")
            .arg(REPORT_TTL.as_secs())
            .query_async(&mut conn.clone())
            .await;
        if let Err(err) = stored {
            tracing::debug!(%err, key, "not shared through redis");
        }
    }
}

/// A single task as last read, serialized once.
#[derive(Debug)]
pub struct CachedTask {
    pub project_id: Uuid,
    pub version: i64,
    /// The task's JSON body.
    pub body: bytes::Bytes,
}

/// Hot-path read caches: single tasks and users' roles in projects, so an authenticated
/// `GET /tasks/{id}` usually costs no database round trip at all.
///
/// Entries are dropped on every committed change that touches them: synchronously by the
/// instance that commits (so a client reads its own writes), and through the bus on the
/// other instances. A fill that raced with an invalidation is discarded (generation check
/// under a lock), and entries live one second at most, which bounds staleness on other
/// instances even when a bus message is lost.
pub struct ReadCache {
    generation: std::sync::atomic::AtomicU64,
    fill_lock: std::sync::Mutex<()>,
    tasks: moka::sync::Cache<Uuid, Arc<CachedTask>>,
    roles: moka::sync::Cache<(Uuid, Uuid), Option<ProjectRole>>,
    /// Each thread's copies of `tasks` and `roles` entries (see `ThreadCache`).
    tasks_here: ThreadCache<Uuid, Arc<CachedTask>>,
    roles_here: ThreadCache<(Uuid, Uuid), Option<ProjectRole>>,
    /// Projects' `event_seq` (the key of their cached board; `None`: no such project).
    seqs: moka::sync::Cache<Uuid, Option<i64>>,
    /// The project of each task. Never stale: a task never changes project, and a deleted
    /// one is found missing when its change reads it under the project's lock.
    task_projects: moka::sync::Cache<Uuid, Uuid>,
}

/// The longest any entry is served without a database read: its life in the shared cache,
/// then at most [`HERE_TTL`] as a thread's copy.
const READ_TTL: Duration = Duration::from_secs(1);
const SHARED_READ_TTL: Duration = READ_TTL.saturating_sub(HERE_TTL);
/// How long a task's project is kept after its last use.
const TASK_PROJECT_TTI: Duration = Duration::from_secs(3600);

impl ReadCache {
    pub fn new() -> Self {
        Self {
            generation: std::sync::atomic::AtomicU64::new(0),
            fill_lock: std::sync::Mutex::new(()),
            tasks: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(SHARED_READ_TTL)
                .build(),
            roles: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(SHARED_READ_TTL)
                .build(),
            tasks_here: ThreadCache::new(HERE_TTL, HERE_CAPACITY),
            roles_here: ThreadCache::new(HERE_TTL, HERE_CAPACITY),
            seqs: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(SHARED_READ_TTL)
                .build(),
            task_projects: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(TASK_PROJECT_TTI)
                .build(),
        }
    }

    /// The generation to pass to `put_*` after reading the database.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn fill(&self, read_at: u64, insert: impl FnOnce()) {
        let _guard = self.fill_lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation() == read_at {
            insert();
        }
    }

    pub fn task(&self, id: Uuid) -> Option<Arc<CachedTask>> {
        self.tasks_here.get_or_fill(&id, || {
            let shared = self.tasks.get(&id)?;
            Some(Arc::new(CachedTask {
                project_id: shared.project_id,
                version: shared.version,
                // A copy of the body: `Bytes` clones would share one reference count.
                body: bytes::Bytes::copy_from_slice(&shared.body),
            }))
        })
    }

    pub fn put_task(&self, read_at: u64, id: Uuid, task: Arc<CachedTask>) {
        self.fill(read_at, || self.tasks.insert(id, task));
    }

    /// `Some(role)` when cached (the inner `None`: not a member).
    pub fn role(&self, user: Uuid, project: Uuid) -> Option<Option<ProjectRole>> {
        let key = (user, project);
        self.roles_here.get_or_fill(&key, || self.roles.get(&key))
    }

    pub fn put_role(&self, read_at: u64, user: Uuid, project: Uuid, role: Option<ProjectRole>) {
        self.fill(read_at, || self.roles.insert((user, project), role));
    }

    /// `Some(seq)` when cached (the inner `None`: the project does not exist).
    pub fn event_seq(&self, project: Uuid) -> Option<Option<i64>> {
        self.seqs.get(&project)
    }

    /// The project of a task, when known (no generation check: it never changes).
    pub fn task_project(&self, task: Uuid) -> Option<Uuid> {
        self.task_projects.get(&task)
    }

    pub fn put_task_project(&self, task: Uuid, project: Uuid) {
        self.task_projects.insert(task, project);
    }

    pub fn put_event_seq(&self, read_at: u64, project: Uuid, seq: Option<i64>) {
        self.fill(read_at, || self.seqs.insert(project, seq));
    }

    /// Drops what a committed event makes outdated.
    pub fn apply(&self, event: &Event) {
        let _guard = self.fill_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.seqs.invalidate(&event.project_id());
        let data = &event.event.data;
        if let Some(task) = data.task_id() {
            self.tasks.invalidate(&task);
        }
        // What else changed: every cached task and role (someone's access to a project ends), one
        // member's role (joins, leaves, role changes), or nothing more.
        let (every_task, roles_changed) = match (data.access(), data.member_id()) {
            (Some(Access::Ends), _) => {
                self.tasks.invalidate_all();
                self.roles.invalidate_all();
                (true, true)
            }
            (Some(Access::Joins(user) | Access::Leaves(user)), _) | (None, Some(user)) => {
                self.roles.invalidate(&(user, event.project_id()));
                (false, true)
            }
            (None, None) => (false, false),
        };
        // Threads' copies are dropped after the shared entries (a copy read from a shared
        // entry before it went is refused then).
        if roles_changed {
            self.roles_here.invalidate_all();
        }
        if every_task || data.task_id().is_some() {
            self.tasks_here.invalidate_all();
        }
    }
}

impl Default for ReadCache {
    fn default() -> Self {
        Self::new()
    }
}
