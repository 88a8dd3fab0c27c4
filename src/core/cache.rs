//! Caches. The authenticated-user cache: a request costs no database read for auth.
//!
//! Entries live a short time and are dropped at once when the user changes (role, activity,
//! email…), so a deactivated user's tokens stop working immediately on this instance.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use redis::aio::ConnectionManager;
use uuid::Uuid;

use crate::models::users;

#[derive(Clone)]
pub struct UserCache {
    users: Cache<Uuid, Arc<users::Model>>,
}

impl UserCache {
    pub fn new() -> Self {
        Self {
            users: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(30))
                .build(),
        }
    }

    pub async fn get(&self, id: Uuid) -> Option<Arc<users::Model>> {
        self.users.get(&id).await
    }

    pub async fn put(&self, user: Arc<users::Model>) {
        self.users.insert(user.id, user).await;
    }

    pub async fn invalidate(&self, id: Uuid) {
        self.users.invalidate(&id).await;
    }
}

impl Default for UserCache {
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
    redis: Option<(ConnectionManager, String)>,
}

/// Bytes of reports kept in memory at most.
const REPORT_CACHE_BYTES: u64 = 64 * 1024 * 1024;
const REPORT_TTL: Duration = Duration::from_secs(3600);

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
            redis,
        }
    }

    pub async fn get(&self, key: &str) -> Option<Arc<str>> {
        if let Some(hit) = self.local.get(key).await {
            return Some(hit);
        }
        let (conn, prefix) = self.redis.as_ref()?;
        let mut conn = conn.clone();
        let found: redis::RedisResult<Option<String>> = redis::cmd("GET")
            .arg(format!("{prefix}:report:{key}"))
            .query_async(&mut conn)
            .await;
        let text: Arc<str> = Arc::from(found.ok()??);
        self.local.insert(key.to_string(), text.clone()).await;
        Some(text)
    }

    pub async fn put(&self, key: String, value: String) {
        let value: Arc<str> = Arc::from(value);
        if let Some((conn, prefix)) = &self.redis {
            let mut conn = conn.clone();
            let stored: redis::RedisResult<()> = redis::cmd("SET")
                .arg(format!("{prefix}:report:{key}"))
                .arg(value.as_ref())
                .arg("EX")
                .arg(REPORT_TTL.as_secs())
                .query_async(&mut conn)
                .await;
            if let Err(err) = stored {
                tracing::debug!(%err, "report not shared through redis");
            }
        }
        self.local.insert(key, value).await;
    }
}
