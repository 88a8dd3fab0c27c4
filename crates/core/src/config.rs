//! Configuration: every setting is a flag with an environment variable (a `.env` file is read
//! too), defined once in [`Settings`]: its flag, its variable, its default and the parser of
//! its value.
//!
//! clap reads and checks each value, so `flowtrack --help` lists every setting with its
//! variable and default, and [`Config::default`] is what an empty command line gives.
//! [`ConfigError::from_clap`] turns clap's report of a bad value into one line naming the
//! variable; [`Settings::into_config`] adds the checks that span several settings.

mod error;
mod parse;
#[cfg(test)]
mod tests;
mod webhooks;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::time::Duration;

use clap::builder::Resettable;
use clap::{Args, Command, FromArgMatches, ValueEnum, value_parser};

pub use error::ConfigError;
use parse::CorsOrigins;

use crate::client_addr::TrustedProxies;
pub use webhooks::{WebhookConfig, WebhookSettings};

const DAY_SECONDS: i64 = 86_400;

/// Every setting, as given on the command line or in the environment.
///
/// An empty variable of an optional setting counts as unset (as `REDIS_URL=` in a `.env`
/// file means).
#[derive(Clone, Args)]
#[command(next_help_heading = "Settings")]
pub struct Settings {
    /// Listen address.
    #[arg(
        long,
        global = true,
        env = "FLOWTRACK_BIND",
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:8000",
        value_parser = parse::socket_addr
    )]
    bind: SocketAddr,
    /// SQLite file (embedded default) or postgres://user:pass@host/db.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "URL",
        default_value = "sqlite://flowtrack.db?mode=rwc",
        value_parser = parse::database_url
    )]
    database_url: String,
    /// Unset: in-process event bus, cache and rate-limit counters (one instance); set: Redis
    /// pub/sub, shared cache and counters (many instances).
    #[arg(
        long,
        global = true,
        env = "REDIS_URL",
        hide_env_values = true,
        value_name = "URL",
        value_parser = parse::redis_url
    )]
    redis_url: Option<String>,
    /// PEM file of the certificate authorities that a `rediss://` server's certificate must
    /// chain to, instead of the public (webpki) roots: for a self-signed or private CA.
    #[arg(
        long,
        global = true,
        env = "FLOWTRACK_REDIS_CA_FILE",
        value_name = "FILE"
    )]
    redis_ca_file: Option<String>,
    /// Prefix of every Redis key and channel, so several deployments can share one Redis.
    #[arg(
        long,
        global = true,
        env = "FLOWTRACK_REDIS_PREFIX",
        value_name = "PREFIX",
        default_value = "flowtrack",
        value_parser = parse::redis_prefix
    )]
    redis_prefix: String,
    /// HS256 signing secret (at least 32 bytes). Unset: generated once and kept in the database.
    #[arg(
        long,
        global = true,
        env = "FLOWTRACK_JWT_SECRET",
        hide_env_values = true,
        value_name = "SECRET",
        value_parser = parse::jwt_secret
    )]
    jwt_secret: Option<String>,
    /// Access token lifetime, seconds (at most 7 days).
    #[arg(
        long,
        global = true,
        env = "FLOWTRACK_ACCESS_TTL",
        value_name = "SECONDS",
        default_value_t = 900,
        value_parser = value_parser!(u32).range(1..=7 * DAY_SECONDS)
    )]
    access_ttl: u32,
    /// Refresh token lifetime, seconds (30 days by default, at most 10 years).
    #[arg(
        long,
        global = true,
        env = "FLOWTRACK_REFRESH_TTL",
        value_name = "SECONDS",
        default_value_t = 2_592_000,
        value_parser = value_parser!(u32).range(1..=3650 * DAY_SECONDS)
    )]
    refresh_ttl: u32,
    /// Whether anyone may sign up (closed: `POST /auth/register` answers 403).
    #[arg(
        long,
        global = true,
        env = "FLOWTRACK_REGISTRATION",
        value_enum,
        default_value_t = Registration::Open
    )]
    registration: Registration,
    /// With --admin-password (both or neither): an active admin with this email exists after
    /// start (created if missing).
    #[arg(
        long,
        global = true,
        env = "FLOWTRACK_ADMIN_EMAIL",
        value_name = "EMAIL",
        value_parser = parse::admin_email
    )]
    admin_email: Option<String>,
    /// Password of the bootstrap admin (an existing admin's password is not changed).
    #[arg(
        long,
        global = true,
        env = "FLOWTRACK_ADMIN_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD",
        value_parser = parse::admin_password
    )]
    admin_password: Option<String>,
    /// Comma-separated allowed CORS origins, `*` for any (none by default).
    #[arg(
        long,
        global = true,
        env = "FLOWTRACK_CORS_ORIGINS",
        value_name = "ORIGINS",
        value_parser = parse::cors_origins
    )]
    cors_origins: Option<CorsOrigins>,
    /// Comma-separated IPs or CIDRs of reverse proxies whose `X-Forwarded-For` is believed
    /// (none by default: the header is ignored).
    #[arg(
        long,
        global = true,
        env = "FLOWTRACK_TRUSTED_PROXIES",
        value_name = "ADDRESSES",
        value_parser = TrustedProxies::parse
    )]
    trusted_proxies: Option<TrustedProxies>,
    /// Failed logins allowed per account per 15 minutes (per client address: 10×).
    #[arg(
        long,
        global = true,
        env = "FLOWTRACK_LOGIN_MAX_FAILURES",
        value_name = "N",
        default_value_t = 5,
        value_parser = value_parser!(u32).range(1..=1_000_000)
    )]
    login_max_failures: u32,
    /// Registrations allowed per client address per hour.
    #[arg(
        long,
        global = true,
        env = "FLOWTRACK_REGISTER_PER_HOUR",
        value_name = "N",
        default_value_t = 20,
        value_parser = value_parser!(u32).range(1..=1_000_000)
    )]
    register_per_hour: u32,
    /// Days events are kept for WebSocket resume.
    #[arg(
        long,
        global = true,
        env = "FLOWTRACK_EVENT_RETENTION_DAYS",
        value_name = "DAYS",
        default_value_t = 7,
        value_parser = value_parser!(u32).range(1..=3650)
    )]
    event_retention_days: u32,
    /// Open client connections (WebSockets included) served at once; at the limit new ones
    /// wait until one closes. Keep it below the process's open-files limit (`ulimit -n`).
    #[arg(
        long,
        global = true,
        env = "FLOWTRACK_MAX_CONNECTIONS",
        value_name = "N",
        default_value_t = 16_384,
        value_parser = value_parser!(u32).range(1..=1_000_000)
    )]
    max_connections: u32,
    /// Database connections of this instance for reads: the PostgreSQL read pool (default
    /// 32; writes have their own of at most 8, fewer if this is smaller), or the SQLite
    /// readers beside the one writer (default 8).
    #[arg(
        long,
        global = true,
        env = "FLOWTRACK_DB_POOL_SIZE",
        value_name = "N",
        value_parser = value_parser!(u32).range(1..=1_000)
    )]
    db_pool_size: Option<u32>,
    /// Log lines for people or for machines (the level comes from RUST_LOG).
    #[arg(
        long,
        global = true,
        env = "FLOWTRACK_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Pretty
    )]
    log_format: LogFormat,
    #[command(flatten)]
    webhooks: WebhookSettings,
}

/// Whether anyone may sign up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Registration {
    Open,
    Closed,
}

/// Log lines for people (`pretty`) or for machines (`json`, one object a line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The configuration the server runs with.
#[derive(Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database_url: String,
    pub redis_url: Option<String>,
    /// The trusted CAs of `FLOWTRACK_REDIS_CA_FILE`, read and checked at start.
    pub redis_ca: Option<RedisCa>,
    pub redis_prefix: String,
    pub jwt_secret: Option<String>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub registration: Registration,
    pub admin: Option<AdminBootstrap>,
    pub cors_origins: Vec<String>,
    pub trusted_proxies: TrustedProxies,
    pub login_max_failures: u32,
    pub register_per_hour: u32,
    pub event_retention_days: u32,
    pub max_connections: usize,
    pub db_pool_size: Option<u32>,
    pub log_format: LogFormat,
    pub webhooks: WebhookConfig,
}

// Secrets stay out of logs even when the config is debug-printed.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("database_url", &redact_url(&self.database_url))
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("redis_ca", &self.redis_ca.as_ref().map(|ca| &ca.path))
            .field("redis_prefix", &self.redis_prefix)
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "<set>"))
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("registration", &self.registration)
            .field("admin", &self.admin.as_ref().map(|a| &a.email))
            .field("cors_origins", &self.cors_origins)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("login_max_failures", &self.login_max_failures)
            .field("register_per_hour", &self.register_per_hour)
            .field("event_retention_days", &self.event_retention_days)
            .field("max_connections", &self.max_connections)
            .field("db_pool_size", &self.db_pool_size)
            .field("log_format", &self.log_format)
            .field("webhooks", &self.webhooks)
            .finish()
    }
}

#[derive(Clone)]
pub struct AdminBootstrap {
    pub email: String,
    pub password: String,
}

impl Settings {
    /// The configuration these settings describe, once the checks that span several settings
    /// pass (each value was checked by its parser already).
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let admin = admin_bootstrap(self.admin_email, self.admin_password)?;
        let redis_url = given(self.redis_url);
        let redis_ca = redis_ca(redis_url.as_deref(), given(self.redis_ca_file))?;
        Ok(Config {
            bind: self.bind,
            database_url: self.database_url,
            redis_url,
            redis_ca,
            redis_prefix: self.redis_prefix,
            jwt_secret: given(self.jwt_secret),
            access_ttl: Duration::from_secs(self.access_ttl.into()),
            refresh_ttl: Duration::from_secs(self.refresh_ttl.into()),
            registration: self.registration,
            admin,
            cors_origins: self.cors_origins.unwrap_or_default().0,
            trusted_proxies: self.trusted_proxies.unwrap_or_default(),
            login_max_failures: self.login_max_failures,
            register_per_hour: self.register_per_hour,
            event_retention_days: self.event_retention_days,
            max_connections: self.max_connections as usize,
            db_pool_size: self.db_pool_size,
            log_format: self.log_format,
            webhooks: self.webhooks.into(),
        })
    }

    /// The defaults of every setting: an empty command line, whatever the environment holds.
    fn defaults() -> Self {
        Self::parse_without_env(["flowtrack"])
            .unwrap_or_else(|e| unreachable!("the built-in defaults parse: {e}"))
    }

    fn parse_without_env<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let command = without_env(Self::augment_args(Command::new("flowtrack")));
        Self::from_arg_matches(&command.try_get_matches_from(args)?)
    }
}

/// `command` with the environment variables of its arguments forgotten. clap reads each
/// variable when the argument is defined, so this is how a parse ignores the environment:
/// for the defaults, and to recognise a command that needs no settings.
pub fn without_env(command: Command) -> Command {
    command.mut_args(|arg| arg.env(Resettable::Reset))
}

/// An optional setting given as an empty value is unset.
fn given(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// The bootstrap admin needs both its email and its password: one without the other is
/// most likely a mistake (a missing secret), so it stops the start.
fn admin_bootstrap(
    email: Option<String>,
    password: Option<String>,
) -> Result<Option<AdminBootstrap>, ConfigError> {
    match (given(email), given(password)) {
        (Some(email), Some(password)) => Ok(Some(AdminBootstrap { email, password })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError::of_setting(
            "admin_password",
            "missing: the admin email is set (set both or neither)",
        )),
        (None, Some(_)) => Err(ConfigError::of_setting(
            "admin_email",
            "missing: the admin password is set (set both or neither)",
        )),
    }
}

/// The certificate authorities trusted for a `rediss://` Redis (`FLOWTRACK_REDIS_CA_FILE`).
#[derive(Clone)]
pub struct RedisCa {
    pub path: String,
    /// The file as read: one or more PEM certificates.
    pub pem: Vec<u8>,
}

/// Reads the CA file now, so that a missing or unreadable one stops the start with a line
/// naming the setting, rather than every Redis connection failing later with a TLS error.
fn redis_ca(redis_url: Option<&str>, path: Option<String>) -> Result<Option<RedisCa>, ConfigError> {
    let Some(path) = path else {
        return Ok(None);
    };
    // A CA file with a plain redis:// URL is most likely a belief that traffic is encrypted.
    if !redis_url.is_some_and(|url| url.trim_start().starts_with("rediss://")) {
        return Err(ConfigError::of_setting(
            "redis_ca_file",
            "set, but REDIS_URL is not a rediss:// (TLS) URL",
        ));
    }
    let pem = std::fs::read(&path).map_err(|e| {
        ConfigError::of_setting("redis_ca_file", &format!("cannot read `{path}`: {e}"))
    })?;
    parse::pem_certificates(&pem)
        .map_err(|e| ConfigError::of_setting("redis_ca_file", &format!("`{path}`: {e}")))?;
    Ok(Some(RedisCa { path, pem }))
}

impl Default for Config {
    /// The documented defaults (what an empty command line and environment give).
    fn default() -> Self {
        Settings::defaults()
            .into_config()
            .unwrap_or_else(|e| unreachable!("the built-in defaults are valid: {e}"))
    }
}

/// Hides the password part of a connection URL.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => raw.to_string(),
    }
}
