//! Fixed-window counters for login and registration limits.
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

use crate::core::clock::Clock;

/// The state of one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub count: u64,
    /// Whole seconds until the window closes (at least 1).
    pub retry_after_secs: u64,
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

    /// Adds one to `key`, opening a window of `window` if none is open.
    pub async fn hit(&self, key: &str, window: Duration) {
        let now = self.clock.now();
        let window_delta = TimeDelta::from_std(window).unwrap_or(TimeDelta::hours(1));
        match &self.store {
            Store::Local(map) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                if map.len() > 100_000 {
                    // Bound memory under a flood of distinct keys: drop closed windows.
                    map.retain(|_, (_, reset)| *reset > now);
                }
                let entry = map.entry(key.to_string()).or_insert((0, now));
                if entry.1 <= now {
                    *entry = (0, now + window_delta);
                }
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
}
