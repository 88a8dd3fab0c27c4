use super::*;

/// The configuration `flowtrack <args>` gives with no environment.
fn parse(args: &[&str]) -> Result<Config, ConfigError> {
    let argv = std::iter::once("flowtrack").chain(args.iter().copied());
    let settings = Settings::parse_without_env(argv).map_err(|err| {
        ConfigError::from_clap(&err).unwrap_or_else(|| panic!("not about a setting: {err}"))
    })?;
    settings.into_config()
}

#[test]
fn defaults_are_the_documented_ones() {
    let config = Config::default();
    assert_eq!(config.bind.to_string(), "127.0.0.1:8000");
    assert_eq!(config.database_url, "sqlite://flowtrack.db?mode=rwc");
    assert_eq!(config.redis_url, None);
    assert_eq!(config.redis_prefix, "flowtrack");
    assert_eq!(config.jwt_secret, None);
    assert_eq!(config.access_ttl, Duration::from_secs(900));
    assert_eq!(config.refresh_ttl, Duration::from_secs(30 * 86_400));
    assert_eq!(config.registration, Registration::Open);
    assert!(config.admin.is_none());
    assert!(config.cors_origins.is_empty());
    assert_eq!(config.login_max_failures, 5);
    assert_eq!(config.register_per_hour, 20);
    assert_eq!(config.event_retention_days, 7);
    assert_eq!(config.max_connections, 16_384);
    assert_eq!(config.log_format, LogFormat::Pretty);
}

#[test]
fn every_setting_has_a_variable_and_a_flag() {
    let command = Settings::augment_args(Command::new("flowtrack"));
    for arg in command.get_arguments() {
        assert!(arg.get_env().is_some(), "{arg} has no variable");
        assert!(arg.get_long().is_some(), "{arg} has no flag");
    }
}

#[test]
fn each_bad_value_is_one_line_naming_its_variable_and_flag() {
    let cases = [
        ("--bind", "nope", "FLOWTRACK_BIND"),
        ("--database-url", "mysql://x", "DATABASE_URL"),
        ("--redis-url", "http://x", "REDIS_URL"),
        ("--redis-prefix", "a b", "FLOWTRACK_REDIS_PREFIX"),
        ("--jwt-secret", "short", "FLOWTRACK_JWT_SECRET"),
        ("--access-ttl", "0", "FLOWTRACK_ACCESS_TTL"),
        ("--refresh-ttl", "x", "FLOWTRACK_REFRESH_TTL"),
        ("--registration", "maybe", "FLOWTRACK_REGISTRATION"),
        ("--registration", "", "FLOWTRACK_REGISTRATION"),
        ("--admin-email", "not-an-email", "FLOWTRACK_ADMIN_EMAIL"),
        ("--admin-password", "short", "FLOWTRACK_ADMIN_PASSWORD"),
        ("--cors-origins", "not an origin", "FLOWTRACK_CORS_ORIGINS"),
        ("--login-max-failures", "-1", "FLOWTRACK_LOGIN_MAX_FAILURES"),
        ("--register-per-hour", "", "FLOWTRACK_REGISTER_PER_HOUR"),
        (
            "--event-retention-days",
            "0",
            "FLOWTRACK_EVENT_RETENTION_DAYS",
        ),
        ("--max-connections", "1000001", "FLOWTRACK_MAX_CONNECTIONS"),
        ("--db-pool-size", "0", "FLOWTRACK_DB_POOL_SIZE"),
        (
            "--trusted-proxies",
            "10.0.0.0/8,proxy",
            "FLOWTRACK_TRUSTED_PROXIES",
        ),
        ("--log-format", "xml", "FLOWTRACK_LOG_FORMAT"),
    ];
    for (flag, value, variable) in cases {
        let line = parse(&[&format!("{flag}={value}")])
            .expect_err(variable)
            .to_string();
        assert!(
            line.starts_with(&format!("{variable} ({flag}): ")),
            "{line}"
        );
        assert!(!line.contains('\n'), "one line: {line}");
    }
}

#[test]
fn the_error_says_what_was_expected() {
    let line = |args: &[&str]| parse(args).expect_err("invalid").to_string();
    assert_eq!(
        line(&["--registration", "maybe"]),
        "FLOWTRACK_REGISTRATION (--registration): invalid value `maybe`: expected open or closed"
    );
    assert_eq!(
        line(&["--access-ttl", "604801"]),
        "FLOWTRACK_ACCESS_TTL (--access-ttl): invalid value `604801`: 604801 is not in 1..=604800"
    );
    // A secret's value is never repeated.
    let secret = line(&["--jwt-secret", "hunter2-secret"]);
    assert!(!secret.contains("hunter2"), "{secret}");
    assert!(secret.contains("at least 32 bytes"), "{secret}");
}

#[test]
fn the_bootstrap_admin_needs_both_email_and_password() {
    let config = parse(&[
        "--admin-email",
        " Root@X.org ",
        "--admin-password",
        "longenough",
    ]);
    let admin = config.expect("valid").admin.expect("admin");
    assert_eq!(admin.email, "root@x.org");
    assert_eq!(admin.password, "longenough");

    let line = parse(&["--admin-email", "root@x.org"]).expect_err("no password");
    assert!(
        line.to_string()
            .starts_with("FLOWTRACK_ADMIN_PASSWORD (--admin-password): ")
    );
    let line = parse(&["--admin-password", "longenough"]).expect_err("no email");
    assert!(
        line.to_string()
            .starts_with("FLOWTRACK_ADMIN_EMAIL (--admin-email): ")
    );

    let config = parse(&["--admin-email=", "--admin-password="]).expect("both empty");
    assert!(config.admin.is_none());
}

#[test]
fn empty_optional_settings_are_unset() {
    let config = parse(&["--redis-url=", "--jwt-secret=", "--cors-origins="]).expect("valid");
    assert_eq!(config.redis_url, None);
    assert_eq!(config.jwt_secret, None);
    assert!(config.cors_origins.is_empty());
}

#[test]
fn values_are_trimmed_and_normalised() {
    let config = parse(&[
        "--bind= 0.0.0.0:9000 ",
        "--cors-origins=https://a.example.com/, *, ,http://b.example.com:8080",
        "--access-ttl=60",
        "--registration=closed",
        "--log-format=json",
    ])
    .expect("valid");
    assert_eq!(config.bind.to_string(), "0.0.0.0:9000");
    assert_eq!(
        config.cors_origins,
        ["https://a.example.com", "*", "http://b.example.com:8080"]
    );
    assert_eq!(config.access_ttl, Duration::from_secs(60));
    assert_eq!(config.registration, Registration::Closed);
    assert_eq!(config.log_format, LogFormat::Json);
}

#[test]
fn postgres_urls_are_accepted_and_redacted() {
    let config = parse(&["--database-url=postgres://u:hunter2pw@localhost:5432/db"]);
    let config = config.expect("valid");
    assert!(!format!("{config:?}").contains("hunter2pw"));
}

/// A file of its own in the temporary directory, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn with(contents: &str) -> Self {
        let path = std::env::temp_dir().join(format!("flowtrack-ca-{}.pem", uuid::Uuid::now_v7()));
        std::fs::write(&path, contents).expect("write");
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// Not a real certificate: the start only checks the file's PEM form (base64 between the
// markers); rustls parses what is inside when it connects.
const CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----
MIIBXjCCAQSgAwIBAgIUZ0pO7s9gGK3kMw0G0x3nOQe0b1owCgYIKoZIzj0EAwIw
ETEPMA0GA1UEAwwGdGVzdGNhMCAXDTI1MDEwMTAwMDAwMFoYDzIxMjQxMjA4MDAw
MDAwWjARMQ8wDQYDVQQDDAZ0ZXN0Y2EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AAQm1aRk3yQyCA2k5m0i6v9m+o7h6fM3k2oQ9x8bJwqE4m6rY8cU6w2fQ8cV0m3D
n1O9xk6mYF8Z7m0v6mX3k3h0ozIwMDAPBgNVHRMBAf8EBTADAQH/MB0GA1UdDgQW
BBQb1Y2r3m7S1mXq5w2b1Y2r3m7S1jAKBggqhkjOPQQDAgNIADBFAiEA5m0i6v9m
+o7h6fM3k2oQ9x8bJwqE4m6rY8cU6w2fQ8cCIFm0i6v9m+o7h6fM3k2oQ9x8bJwq
E4m6rY8cU6w2fQ8c
-----END CERTIFICATE-----
";

#[test]
fn the_redis_ca_file_is_read_at_start_and_only_with_rediss() {
    let ca = TempFile::with(CERTIFICATE);
    let config = parse(&[
        "--redis-url",
        "rediss://cache.internal:6380",
        "--redis-ca-file",
        ca.path(),
    ])
    .expect("valid");
    // The debug form names the file, not its contents.
    let debug = format!("{config:?}");
    assert!(
        debug.contains(ca.path()) && !debug.contains("BEGIN"),
        "{debug}"
    );
    let read = config.redis_ca.expect("CA");
    assert_eq!(read.path, ca.path());
    assert_eq!(read.pem, CERTIFICATE.as_bytes());

    // Unset when empty.
    let config = parse(&["--redis-url", "rediss://h:6380", "--redis-ca-file="]).expect("valid");
    assert!(config.redis_ca.is_none());

    let prefix = "FLOWTRACK_REDIS_CA_FILE (--redis-ca-file): ";
    for args in [
        // Not TLS, or no Redis at all: the CA would be ignored.
        vec![
            "--redis-url",
            "redis://h:6379",
            "--redis-ca-file",
            ca.path(),
        ],
        vec!["--redis-ca-file", ca.path()],
    ] {
        let line = parse(&args)
            .expect_err("a CA without rediss://")
            .to_string();
        assert!(line.starts_with(prefix), "{line}");
        assert!(line.contains("rediss://"), "{line}");
    }
    let missing = format!("{}.missing", ca.path());
    let line = parse(&[
        "--redis-url",
        "rediss://h:6380",
        "--redis-ca-file",
        &missing,
    ])
    .expect_err("missing file")
    .to_string();
    assert!(
        line.starts_with(prefix) && line.contains("cannot read"),
        "{line}"
    );
    let not_pem = TempFile::with("just some text\n");
    let line = parse(&[
        "--redis-url",
        "rediss://h:6380",
        "--redis-ca-file",
        not_pem.path(),
    ])
    .expect_err("no certificate")
    .to_string();
    assert!(
        line.starts_with(prefix) && line.contains("no PEM certificate"),
        "{line}"
    );
}
