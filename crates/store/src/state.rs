//! Everything a service needs (database, caches, bus, security, clock), built once at start.

use std::ops::Deref;
use std::sync::Arc;

use anyhow::Context as _;
use redis::aio::ConnectionManager;
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::cache::{ReadCache, ReportCache, TokenCache, UserCache};
use crate::db::Db;
use crate::models::settings;
use crate::services;
use flowtrack_core::clock::Clock;
use flowtrack_core::config::Config;
use flowtrack_core::limits::Counters;
use flowtrack_core::security::{self, JwtKeys, Passwords};

#[derive(Clone)]
pub struct Store(Arc<Resources>);

pub struct Resources {
    pub config: Config,
    pub db: Db,
    pub jwt: JwtKeys,
    pub passwords: Passwords,
    pub user_cache: UserCache,
    pub token_cache: TokenCache,
    pub report_cache: ReportCache,
    pub read_cache: ReadCache,
    pub counters: Counters,
    pub redis: Option<ConnectionManager>,
    pub clock: Clock,
    pub bus: Bus,
    /// Wakes this instance's webhook worker (a ping or redelivery was queued, or a change
    /// committed); it also polls, for what other instances commit.
    pub webhook_wake: Arc<tokio::sync::Notify>,
    /// Cancelled when the server starts shutting down (long-lived tasks and sockets stop).
    pub shutdown: CancellationToken,
}

impl Deref for Store {
    type Target = Resources;
    fn deref(&self) -> &Resources {
        &self.0
    }
}

impl Store {
    /// Connects to the database (applying migrations) and Redis, resolves the signing secret
    /// and bootstraps the configured admin.
    pub async fn init(config: Config, clock: Clock) -> anyhow::Result<Self> {
        let db = Db::connect(&config.database_url, config.db_pool_size)
            .await
            .context("connecting to the database (DATABASE_URL)")?;
        db.migrate().await.context("applying migrations")?;

        let secret = signing_secret(&config, &db).await?;

        let client = match &config.redis_url {
            Some(url) => Some(
                flowtrack_core::redis::client(url, config.redis_ca.as_ref())
                    .context("REDIS_URL")?,
            ),
            None => None,
        };
        let redis = match &client {
            Some(client) => {
                Some(flowtrack_core::redis::connect(client.clone()).context("REDIS_URL")?)
            }
            None => None,
        };
        let counters = match &redis {
            Some(conn) => Counters::redis(conn.clone(), &config.redis_prefix, clock.clone()),
            None => Counters::local(clock.clone()),
        };
        let shutdown = CancellationToken::new();
        let bus = match client {
            Some(client) => {
                Bus::redis(client, &config.redis_prefix, shutdown.clone()).context("REDIS_URL")?
            }
            None => Bus::in_process(),
        };
        let state = Store(Arc::new(Resources {
            jwt: JwtKeys::new(&secret),
            passwords: Passwords::new(hashing_threads()).map_err(|e| anyhow::anyhow!("{e}"))?,
            user_cache: UserCache::new(),
            token_cache: TokenCache::new(),
            read_cache: ReadCache::new(),
            report_cache: ReportCache::new(
                redis
                    .clone()
                    .map(|conn| (conn, config.redis_prefix.clone())),
            ),
            counters,
            redis,
            clock,
            bus,
            db,
            config,
            shutdown,
            webhook_wake: Arc::new(tokio::sync::Notify::new()),
        }));
        crate::maintenance::start(&state);

        if let Some(admin) = &state.config.admin {
            services::users::ensure_admin(&state, &admin.email, &admin.password)
                .await
                .map_err(|e| anyhow::anyhow!("bootstrapping FLOWTRACK_ADMIN_EMAIL: {e}"))?;
        }
        Ok(state)
    }
}

/// `FLOWTRACK_JWT_SECRET`, or the secret generated once and kept in the database (so every
/// instance signs with the same one).
async fn signing_secret(config: &Config, db: &Db) -> anyhow::Result<String> {
    match &config.jwt_secret {
        Some(secret) => Ok(secret.clone()),
        None => settings::get_or_insert(
            &db.write,
            settings::JWT_SECRET_KEY,
            security::generate_secret,
        )
        .await
        .context("loading the generated JWT secret"),
    }
}

/// Password hashing may use all cores but one: a login storm must leave a core for
/// everything else (on 2 cores: one hash at a time, the other logins queue).
fn hashing_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1).max(1))
        .unwrap_or(1)
}
