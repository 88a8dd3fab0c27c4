//! Configuration: environment variables (and a `.env` file) with a matching CLI flag each.
//!
//! clap reads the raw strings (so `--help` lists every setting with its variable); this module
//! then validates them itself, so that a bad value stops the start with one line naming the
//! setting, e.g. `invalid FLOWTRACK_REGISTRATION (--registration): expected open or closed`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

/// The raw settings as given on the command line or in the environment.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Listen address.
    #[arg(
        global = true,
        long = "bind",
        env = "FLOWTRACK_BIND",
        default_value = "127.0.0.1:8000"
    )]
    pub bind: String,
    /// SQLite file (embedded default) or postgres://… URL.
    #[arg(
        global = true,
        long = "database-url",
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://flowtrack.db?mode=rwc"
    )]
    pub database_url: String,
    /// Unset: in-process event bus and cache; set: Redis pub/sub + shared cache.
    #[arg(
        global = true,
        long = "redis-url",
        env = "REDIS_URL",
        hide_env_values = true
    )]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel, so several deployments can share one Redis.
    #[arg(
        global = true,
        long = "redis-prefix",
        env = "FLOWTRACK_REDIS_PREFIX",
        default_value = "flowtrack"
    )]
    pub redis_prefix: String,
    /// HS256 signing secret (at least 32 bytes). Unset: generated once and kept in the database.
    #[arg(
        global = true,
        long = "jwt-secret",
        env = "FLOWTRACK_JWT_SECRET",
        hide_env_values = true
    )]
    pub jwt_secret: Option<String>,
    /// Access token lifetime, seconds.
    #[arg(
        global = true,
        long = "access-ttl",
        env = "FLOWTRACK_ACCESS_TTL",
        default_value = "900"
    )]
    pub access_ttl: String,
    /// Refresh token lifetime, seconds.
    #[arg(
        global = true,
        long = "refresh-ttl",
        env = "FLOWTRACK_REFRESH_TTL",
        default_value = "2592000"
    )]
    pub refresh_ttl: String,
    /// `open` or `closed`.
    #[arg(
        global = true,
        long = "registration",
        env = "FLOWTRACK_REGISTRATION",
        default_value = "open"
    )]
    pub registration: String,
    /// With --admin-password: an active admin with this email exists after start.
    #[arg(global = true, long = "admin-email", env = "FLOWTRACK_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// Password of the bootstrap admin (an existing admin's password is not changed).
    #[arg(
        global = true,
        long = "admin-password",
        env = "FLOWTRACK_ADMIN_PASSWORD",
        hide_env_values = true
    )]
    pub admin_password: Option<String>,
    /// Comma-separated allowed CORS origins.
    #[arg(
        global = true,
        long = "cors-origins",
        env = "FLOWTRACK_CORS_ORIGINS",
        default_value = ""
    )]
    pub cors_origins: String,
    /// Failed logins allowed per account per 15 minutes (per client address: 10×).
    #[arg(
        global = true,
        long = "login-max-failures",
        env = "FLOWTRACK_LOGIN_MAX_FAILURES",
        default_value = "5"
    )]
    pub login_max_failures: String,
    /// Registrations allowed per client address per hour.
    #[arg(
        global = true,
        long = "register-per-hour",
        env = "FLOWTRACK_REGISTER_PER_HOUR",
        default_value = "20"
    )]
    pub register_per_hour: String,
    /// Days events are kept for resume.
    #[arg(
        global = true,
        long = "event-retention-days",
        env = "FLOWTRACK_EVENT_RETENTION_DAYS",
        default_value = "7"
    )]
    pub event_retention_days: String,
    /// Open client connections (WebSockets included) served at once; at the limit new ones
    /// wait until one closes. Keep it below the process's open-files limit (`ulimit -n`).
    #[arg(
        global = true,
        long = "max-connections",
        env = "FLOWTRACK_MAX_CONNECTIONS",
        default_value = "16384"
    )]
    pub max_connections: String,
    /// `pretty` or `json` (level via RUST_LOG).
    #[arg(
        global = true,
        long = "log-format",
        env = "FLOWTRACK_LOG_FORMAT",
        default_value = "pretty"
    )]
    pub log_format: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The validated configuration the server runs with.
#[derive(Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database_url: String,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    pub jwt_secret: Option<String>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub registration: Registration,
    pub admin: Option<AdminBootstrap>,
    pub cors_origins: Vec<String>,
    pub login_max_failures: u32,
    pub register_per_hour: u32,
    pub event_retention_days: u32,
    pub max_connections: usize,
    pub log_format: LogFormat,
}

// Secrets stay out of logs even when the config is debug-printed.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("database_url", &redact_url(&self.database_url))
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("redis_prefix", &self.redis_prefix)
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "<set>"))
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("registration", &self.registration)
            .field("admin", &self.admin.as_ref().map(|a| &a.email))
            .field("cors_origins", &self.cors_origins)
            .field("login_max_failures", &self.login_max_failures)
            .field("register_per_hour", &self.register_per_hour)
            .field("event_retention_days", &self.event_retention_days)
            .field("max_connections", &self.max_connections)
            .field("log_format", &self.log_format)
            .finish()
    }
}

#[derive(Clone)]
pub struct AdminBootstrap {
    pub email: String,
    pub password: String,
}

/// A setting that could not be used; its `Display` is the one-line start-up error.
#[derive(Debug, thiserror::Error)]
#[error("invalid {variable} ({flag}): {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub flag: &'static str,
    pub message: String,
}

fn bad(variable: &'static str, flag: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        flag,
        message: message.into(),
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

fn parse_u64(
    raw: &str,
    variable: &'static str,
    flag: &'static str,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    match raw.trim().parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(bad(
            variable,
            flag,
            format!("expected a whole number from {min} to {max}, got `{raw}`"),
        )),
    }
}

impl Settings {
    /// Validates every setting; the first bad one is reported.
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let bind = self.bind.trim().parse::<SocketAddr>().map_err(|_| {
            bad(
                "FLOWTRACK_BIND",
                "--bind",
                format!(
                    "expected host:port like 127.0.0.1:8000, got `{}`",
                    self.bind
                ),
            )
        })?;

        let database_url = self.database_url.trim().to_string();
        validate_database_url(&database_url)?;

        let redis_url = match self.redis_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => {
                let ok = url::Url::parse(raw)
                    .map(|u| matches!(u.scheme(), "redis" | "rediss") && u.host().is_some())
                    .unwrap_or(false);
                if !ok {
                    return Err(bad(
                        "REDIS_URL",
                        "--redis-url",
                        "expected redis://host:port[/db]",
                    ));
                }
                Some(raw.to_string())
            }
        };

        let redis_prefix = self.redis_prefix.trim().to_string();
        let prefix_ok = !redis_prefix.is_empty()
            && redis_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
        if !prefix_ok {
            return Err(bad(
                "FLOWTRACK_REDIS_PREFIX",
                "--redis-prefix",
                "expected letters, digits, `_`, `-`, `.` or `:`",
            ));
        }

        let jwt_secret = match self.jwt_secret.as_deref() {
            None | Some("") => None,
            Some(secret) if secret.len() < 32 => {
                return Err(bad(
                    "FLOWTRACK_JWT_SECRET",
                    "--jwt-secret",
                    "must be at least 32 bytes long (leave it unset to have one generated)",
                ));
            }
            Some(secret) => Some(secret.to_string()),
        };

        let access_ttl = parse_u64(
            &self.access_ttl,
            "FLOWTRACK_ACCESS_TTL",
            "--access-ttl",
            1,
            86_400 * 7,
        )?;
        let refresh_ttl = parse_u64(
            &self.refresh_ttl,
            "FLOWTRACK_REFRESH_TTL",
            "--refresh-ttl",
            1,
            86_400 * 3650,
        )?;

        let registration = match self.registration.trim() {
            "open" => Registration::Open,
            "closed" => Registration::Closed,
            other => {
                return Err(bad(
                    "FLOWTRACK_REGISTRATION",
                    "--registration",
                    format!("expected `open` or `closed`, got `{other}`"),
                ));
            }
        };

        let admin = match (
            self.admin_email.as_deref().map(str::trim),
            self.admin_password.as_deref(),
        ) {
            (Some(email), Some(password)) if !email.is_empty() && !password.is_empty() => {
                let email = crate::core::validate::normalize_email(email)
                    .map_err(|m| bad("FLOWTRACK_ADMIN_EMAIL", "--admin-email", m.to_string()))?;
                crate::core::validate::check_password(password).map_err(|m| {
                    bad(
                        "FLOWTRACK_ADMIN_PASSWORD",
                        "--admin-password",
                        m.to_string(),
                    )
                })?;
                Some(AdminBootstrap {
                    email,
                    password: password.to_string(),
                })
            }
            _ => None,
        };

        let cors_origins = self
            .cors_origins
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|origin| {
                let valid = origin == "*"
                    || url::Url::parse(origin)
                        .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                        .unwrap_or(false);
                if valid {
                    Ok(origin.trim_end_matches('/').to_string())
                } else {
                    Err(bad(
                        "FLOWTRACK_CORS_ORIGINS",
                        "--cors-origins",
                        format!("`{origin}` is not an origin like https://app.example.com"),
                    ))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;

        let login_max_failures = parse_u64(
            &self.login_max_failures,
            "FLOWTRACK_LOGIN_MAX_FAILURES",
            "--login-max-failures",
            1,
            1_000_000,
        )? as u32;
        let register_per_hour = parse_u64(
            &self.register_per_hour,
            "FLOWTRACK_REGISTER_PER_HOUR",
            "--register-per-hour",
            1,
            1_000_000,
        )? as u32;
        let event_retention_days = parse_u64(
            &self.event_retention_days,
            "FLOWTRACK_EVENT_RETENTION_DAYS",
            "--event-retention-days",
            1,
            3650,
        )? as u32;

        let max_connections = parse_u64(
            &self.max_connections,
            "FLOWTRACK_MAX_CONNECTIONS",
            "--max-connections",
            1,
            1_000_000,
        )? as usize;

        let log_format = match self.log_format.trim() {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                return Err(bad(
                    "FLOWTRACK_LOG_FORMAT",
                    "--log-format",
                    format!("expected `pretty` or `json`, got `{other}`"),
                ));
            }
        };

        Ok(Config {
            bind,
            database_url,
            redis_url,
            redis_prefix,
            jwt_secret,
            access_ttl: Duration::from_secs(access_ttl),
            refresh_ttl: Duration::from_secs(refresh_ttl),
            registration,
            admin,
            cors_origins,
            login_max_failures,
            register_per_hour,
            event_retention_days,
            max_connections,
            log_format,
        })
    }
}

fn validate_database_url(url: &str) -> Result<(), ConfigError> {
    let err = || {
        bad(
            "DATABASE_URL",
            "--database-url",
            "expected sqlite://file.db?mode=rwc, sqlite::memory: or postgres://user:pass@host/db",
        )
    };
    if url.starts_with("sqlite:") {
        return Ok(());
    }
    let parsed = url::Url::parse(url).map_err(|_| err())?;
    if matches!(parsed.scheme(), "postgres" | "postgresql") && parsed.host().is_some() {
        Ok(())
    } else {
        Err(err())
    }
}

impl Settings {
    /// The raw documented defaults (what an empty environment gives).
    pub fn defaults() -> Self {
        Settings {
            bind: "127.0.0.1:8000".into(),
            database_url: "sqlite://flowtrack.db?mode=rwc".into(),
            redis_url: None,
            redis_prefix: "flowtrack".into(),
            jwt_secret: None,
            access_ttl: "900".into(),
            refresh_ttl: "2592000".into(),
            registration: "open".into(),
            admin_email: None,
            admin_password: None,
            cors_origins: String::new(),
            login_max_failures: "5".into(),
            register_per_hour: "20".into(),
            event_retention_days: "7".into(),
            max_connections: "16384".into(),
            log_format: "pretty".into(),
        }
    }
}

impl Default for Config {
    /// The documented defaults (what an empty environment gives).
    fn default() -> Self {
        Settings::defaults()
            .validate()
            .unwrap_or_else(|e| unreachable!("the built-in defaults are valid: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::defaults()
    }

    #[test]
    fn defaults_are_valid() {
        let config = settings().validate().expect("valid");
        assert_eq!(config.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(config.access_ttl, Duration::from_secs(900));
        assert_eq!(config.registration, Registration::Open);
        assert!(config.redis_url.is_none());
    }

    #[test]
    fn each_bad_value_names_its_setting() {
        type Case = (fn(&mut Settings), &'static str);
        let cases: Vec<Case> = vec![
            (|s| s.bind = "nope".into(), "FLOWTRACK_BIND"),
            (|s| s.database_url = "mysql://x".into(), "DATABASE_URL"),
            (|s| s.redis_url = Some("http://x".into()), "REDIS_URL"),
            (
                |s| s.jwt_secret = Some("short".into()),
                "FLOWTRACK_JWT_SECRET",
            ),
            (|s| s.access_ttl = "0".into(), "FLOWTRACK_ACCESS_TTL"),
            (|s| s.refresh_ttl = "x".into(), "FLOWTRACK_REFRESH_TTL"),
            (
                |s| s.registration = "maybe".into(),
                "FLOWTRACK_REGISTRATION",
            ),
            (
                |s| s.cors_origins = "not an origin".into(),
                "FLOWTRACK_CORS_ORIGINS",
            ),
            (
                |s| s.login_max_failures = "-1".into(),
                "FLOWTRACK_LOGIN_MAX_FAILURES",
            ),
            (
                |s| s.register_per_hour = "".into(),
                "FLOWTRACK_REGISTER_PER_HOUR",
            ),
            (
                |s| s.event_retention_days = "0".into(),
                "FLOWTRACK_EVENT_RETENTION_DAYS",
            ),
            (|s| s.log_format = "xml".into(), "FLOWTRACK_LOG_FORMAT"),
            (
                |s| s.max_connections = "0".into(),
                "FLOWTRACK_MAX_CONNECTIONS",
            ),
            (
                |s| {
                    s.admin_email = Some("not-an-email".into());
                    s.admin_password = Some("longenough".into());
                },
                "FLOWTRACK_ADMIN_EMAIL",
            ),
        ];
        for (mutate, variable) in cases {
            let mut s = settings();
            mutate(&mut s);
            let err = s.validate().expect_err(variable);
            let line = err.to_string();
            assert!(line.contains(variable), "{line}");
            assert!(!line.contains('\n'), "one line: {line}");
        }
    }

    #[test]
    fn postgres_urls_are_accepted_and_redacted() {
        let mut s = settings();
        s.database_url = "postgres://u:hunter2pw@localhost:5432/db".into();
        let config = s.validate().expect("valid");
        assert!(!format!("{config:?}").contains("hunter2pw"));
    }
}
