//! Fixed-window counters for login and registration limits.
//!
//! [`Counters::acquire`] checks and counts in one atomic step (so a burst of concurrent requests
//! cannot all pass the check before any is counted); [`Counters::release`] gives a unit back.
//!
//! A window opens at the first hit of a key and lasts `window`; while open, hits add up. With
//! Redis configured the counters live there, so every instance enforces the same limits;
//! otherwise in process memory. Windows are measured on the injectable clock (so tests can
//! let a window pass). If Redis cannot be reached the limiter lets requests through (and
//! logs it): availability of login beats strict limiting during an outage.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use redis::aio::ConnectionManager;

use crate::clock::Clock;

/// The state of one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub count: u64,
    /// Whole seconds until the window closes (at least 1).
    pub retry_after_secs: u64,
}

/// The local counter of `key` (count, end of its window), a new window opened when none is.
fn open_window<'a>(
    map: &'a mut HashMap<String, (u64, DateTime<Utc>)>,
    key: &str,
    now: DateTime<Utc>,
    window: TimeDelta,
) -> &'a mut (u64, DateTime<Utc>) {
    if map.len() > 100_000 {
        // Bound memory under a flood of distinct keys: drop closed windows.
        map.retain(|_, (_, reset)| *reset > now);
    }
    let entry = map.entry(key.to_string()).or_insert((0, now));
    if entry.1 <= now {
        *entry = (0, now + window);
    }
    entry
}

enum Store {
    Local(Mutex<HashMap<String, (u64, DateTime<Utc>)>>),
    Redis {
        conn: ConnectionManager,
        prefix: String,
    },
}

pub struct Counters {
    store: Store,
    clock: Clock,
}

const HIT_SCRIPT: &str = r"
local reset = tonumber(redis.call('HGET', KEYS[1], 'reset'))
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
if (not reset) or reset <= now then
  redis.call('HSET', KEYS[1], 'count', 1, 'reset', now + window)
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, now + window}
end
local count = redis.call('HINCRBY', KEYS[1], 'count', 1)
return {count, reset}
";

/// Takes one unit of a key's allowance, atomically: refused (`{0, count, reset}`) when the open
/// window already holds `limit`; otherwise counted (`{1, count, reset}`), opening a window if
/// none is open.
const ACQUIRE_SCRIPT: &str = r"
local reset = tonumber(redis.call('HGET', KEYS[1], 'reset'))
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
if (not reset) or reset <= now then
  redis.call('HSET', KEYS[1], 'count', 1, 'reset', now + window)
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 1, now + window}
end
local count = tonumber(redis.call('HGET', KEYS[1], 'count')) or 0
if count >= limit then
  return {0, count, reset}
end
count = redis.call('HINCRBY', KEYS[1], 'count', 1)
return {1, count, reset}
";

/// Gives back one unit taken by the acquire script, if its window is still open.
const RELEASE_SCRIPT: &str = r"
local reset = tonumber(redis.call('HGET', KEYS[1], 'reset'))
if reset and reset > tonumber(ARGV[1]) then
  local count = tonumber(redis.call('HGET', KEYS[1], 'count')) or 0
  if count > 0 then
    redis.call('HINCRBY', KEYS[1], 'count', -1)
  end
end
return 1
";

fn seconds_until(reset: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let ms = (reset - now).num_milliseconds().max(0) as u64;
    ms.div_ceil(1000).max(1)
}

impl Counters {
    pub fn local(clock: Clock) -> Self {
        Self {
            store: Store::Local(Mutex::new(HashMap::new())),
            clock,
        }
    }

    pub fn redis(conn: ConnectionManager, prefix: &str, clock: Clock) -> Self {
        Self {
            store: Store::Redis {
                conn,
                prefix: prefix.to_string(),
            },
            clock,
        }
    }

    /// The open window of `key`, if any.
    pub async fn peek(&self, key: &str) -> Option<Window> {
        let now = self.clock.now();
        match &self.store {
            Store::Local(map) => {
                let map = map.lock().unwrap_or_else(|p| p.into_inner());
                map.get(key)
                    .filter(|(_, reset)| *reset > now)
                    .map(|(count, reset)| Window {
                        count: *count,
                        retry_after_secs: seconds_until(*reset, now),
                    })
            }
            Store::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let result: redis::RedisResult<(Option<u64>, Option<i64>)> = redis::cmd("HMGET")
                    .arg(redis_key(prefix, key))
                    .arg("count")
                    .arg("reset")
                    .query_async(&mut conn)
                    .await;
                match result {
                    Ok((Some(count), Some(reset_ms))) => {
                        let reset = DateTime::from_timestamp_millis(reset_ms)?;
                        (reset > now).then(|| Window {
                            count,
                            retry_after_secs: seconds_until(reset, now),
                        })
                    }
                    Ok(_) => None,
                    Err(err) => {
                        tracing::warn!(%err, "rate-limit counters unavailable; not limiting");
                        None
                    }
                }
            }
        }
    }

    /// Takes one of the `limit` units `key` allows per `window`, atomically, so concurrent
    /// requests cannot all pass a check made before any of them is counted. `Err` with the open
    /// window (nothing counted) when the limit is reached. A unit taken for an attempt that
    /// turns out not to count (e.g. a successful login) is given back with [`Self::release`].
    pub async fn acquire(&self, key: &str, limit: u64, window: Duration) -> Result<(), Window> {
        let now = self.clock.now();
        let window_delta = TimeDelta::from_std(window).unwrap_or(TimeDelta::hours(1));
        match &self.store {
            Store::Local(map) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                let entry = open_window(&mut map, key, now, window_delta);
                if entry.0 >= limit {
                    return Err(Window {
                        count: entry.0,
                        retry_after_secs: seconds_until(entry.1, now),
                    });
                }
                entry.0 += 1;
                Ok(())
            }
            Store::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let result: redis::RedisResult<(i64, i64, i64)> =
                    redis::Script::new(ACQUIRE_SCRIPT)
                        .key(redis_key(prefix, key))
                        .arg(now.timestamp_millis())
                        .arg(window_delta.num_milliseconds())
                        .arg(limit)
                        .invoke_async(&mut conn)
                        .await;
                match result {
                    Ok((1, _, _)) => Ok(()),
                    Ok((_, count, reset_ms)) => {
                        let reset =
                            DateTime::from_timestamp_millis(reset_ms).unwrap_or(now + window_delta);
                        Err(Window {
                            count: u64::try_from(count).unwrap_or(limit),
                            retry_after_secs: seconds_until(reset, now),
                        })
                    }
                    Err(err) => {
                        tracing::warn!(%err, "rate-limit counters unavailable; not limiting");
                        Ok(())
                    }
                }
            }
        }
    }

    /// Gives back a unit taken with [`Self::acquire`] (if its window is still open).
    pub async fn release(&self, key: &str) {
        let now = self.clock.now();
        match &self.store {
            Store::Local(map) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(entry) = map.get_mut(key)
                    && entry.1 > now
                    && entry.0 > 0
                {
                    entry.0 -= 1;
                }
            }
            Store::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let result: redis::RedisResult<i64> = redis::Script::new(RELEASE_SCRIPT)
                    .key(redis_key(prefix, key))
                    .arg(now.timestamp_millis())
                    .invoke_async(&mut conn)
                    .await;
                if let Err(err) = result {
                    tracing::warn!(%err, "rate-limit counters unavailable; release lost");
                }
            }
        }
    }

    /// Adds one to `key`, opening a window of `window` if none is open.
    pub async fn hit(&self, key: &str, window: Duration) {
        let now = self.clock.now();
        let window_delta = TimeDelta::from_std(window).unwrap_or(TimeDelta::hours(1));
        match &self.store {
            Store::Local(map) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                let entry = open_window(&mut map, key, now, window_delta);
                entry.0 += 1;
            }
            Store::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let result: redis::RedisResult<(i64, i64)> = redis::Script::new(HIT_SCRIPT)
                    .key(redis_key(prefix, key))
                    .arg(now.timestamp_millis())
                    .arg(window_delta.num_milliseconds())
                    .invoke_async(&mut conn)
                    .await;
                if let Err(err) = result {
                    tracing::warn!(%err, "rate-limit counters unavailable; hit not counted");
                }
            }
        }
    }
}

fn redis_key(prefix: &str, key: &str) -> String {
    format!("{prefix}:limit:{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn windows_count_and_expire() {
        let clock = Clock::system();
        let counters = Counters::local(clock.clone());
        assert_eq!(counters.peek("k").await, None);
        counters.hit("k", Duration::from_secs(900)).await;
        counters.hit("k", Duration::from_secs(900)).await;
        let w = counters.peek("k").await.expect("open");
        assert_eq!(w.count, 2);
        assert!((899..=900).contains(&w.retry_after_secs));
        clock.advance(Duration::from_secs(901));
        assert_eq!(counters.peek("k").await, None);
        counters.hit("k", Duration::from_secs(900)).await;
        assert_eq!(counters.peek("k").await.map(|w| w.count), Some(1));
    }

    #[tokio::test]
    async fn acquire_refuses_past_the_limit_and_release_gives_back() {
        let clock = Clock::system();
        let counters = Counters::local(clock.clone());
        let window = Duration::from_secs(900);
        assert!(counters.acquire("k", 2, window).await.is_ok());
        assert!(counters.acquire("k", 2, window).await.is_ok());
        let refused = counters.acquire("k", 2, window).await.expect_err("full");
        assert_eq!(refused.count, 2);
        assert!((899..=900).contains(&refused.retry_after_secs));
        // A refusal is not counted; a release frees a unit.
        assert_eq!(counters.peek("k").await.map(|w| w.count), Some(2));
        counters.release("k").await;
        assert!(counters.acquire("k", 2, window).await.is_ok());
        // A new window starts empty.
        clock.advance(Duration::from_secs(901));
        counters.release("k").await;
        assert!(counters.acquire("k", 1, window).await.is_ok());
        assert!(counters.acquire("k", 1, window).await.is_err());
    }
}
