//! The optional Redis connection (`REDIS_URL`): shared rate-limit counters and readiness now,
//! the pub/sub bus and shared cache in later layers.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// A lazily connecting, auto-reconnecting handle: the server starts (and REST keeps working)
/// even while Redis is down; `/ready` reports it.
pub fn connect(url: &str) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(1)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    Ok(ConnectionManager::new_lazy_with_config(client, config)?)
}

pub async fn ping(conn: &ConnectionManager) -> redis::RedisResult<()> {
    let mut conn = conn.clone();
    redis::cmd("PING").query_async::<String>(&mut conn).await?;
    Ok(())
}
