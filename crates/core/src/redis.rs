//! The optional Redis connection (`REDIS_URL`): shared rate-limit counters and readiness now,
//! the pub/sub bus and shared cache in later layers.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::RedisCa;

/// The client of `REDIS_URL`. A `rediss://` URL is TLS (rustls on ring), verified against
/// the CAs of `ca` when given, else against the public webpki roots: the machine's own
/// store is not read, so a container without ca-certificates behaves like any other host.
pub fn client(url: &str, ca: Option<&RedisCa>) -> anyhow::Result<redis::Client> {
    Ok(match ca {
        None => redis::Client::open(url)?,
        Some(ca) => redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(ca.pem.clone()),
            },
        )?,
    })
}

/// A lazily connecting, auto-reconnecting handle: the server starts (and REST keeps working)
/// even while Redis is down; `/ready` reports it.
pub fn connect(client: redis::Client) -> anyhow::Result<ConnectionManager> {
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
