//! The `flowtrack` binary: `--help`, settings validation, `migrate`, `user create`,
//! `user set-password`, `serve` with a graceful stop on SIGTERM. Each run happens in a
//! temporary working directory (with an empty `.env`, so no `.env` of a parent directory is
//! picked up) against a temporary SQLite file, with a cleared environment. They need no
//! PostgreSQL, so they run the same in both modes.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::helpers::*;

/// Safety net against a hung child; never reached when things work.
const DEADLINE: Duration = Duration::from_secs(120);

pub(crate) struct Sandbox {
    pub(crate) dir: tempfile::TempDir,
}

impl Sandbox {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(".env"), "").expect("write .env");
        Self { dir }
    }

    pub(crate) fn db_path(&self) -> PathBuf {
        self.dir.path().join("flowtrack.db")
    }

    fn db_url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.db_path().display())
    }

    fn write_dotenv(&self, contents: &str) {
        std::fs::write(self.dir.path().join(".env"), contents).expect("write .env");
    }

    /// `flowtrack <args>` in the sandbox with only `DATABASE_URL` set.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_flowtrack"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("DATABASE_URL", self.db_url())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }
}

/// Runs to completion, capturing the output.
pub(crate) async fn run(mut command: Command) -> Output {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    tokio::time::timeout(DEADLINE, command.output())
        .await
        .expect("flowtrack did not exit")
        .expect("run flowtrack")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

pub(crate) fn assert_success(output: &Output) {
    assert!(output.status.success(), "{}", describe(output));
}

/// Asserts a failed run whose stderr is exactly one line naming `names`; returns that line.
pub(crate) fn assert_one_line_failure(output: &Output, names: &[&str]) -> String {
    assert!(!output.status.success(), "{}", describe(output));
    let stderr = text(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "one stderr line expected: {}",
        describe(output)
    );
    for name in names {
        assert!(
            lines[0].contains(name),
            "`{name}` not named: {}",
            describe(output)
        );
    }
    lines[0].to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

// ---------------------------------------------------------------------------------------
// --help

#[tokio::test]
async fn help_lists_subcommands_and_settings() {
    let sandbox = Sandbox::new();
    let output = run(sandbox.command(&["--help"])).await;
    assert_success(&output);
    let help = text(&output.stdout);
    for subcommand in ["serve", "migrate", "user"] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(subcommand)),
            "subcommand {subcommand} not listed:\n{help}"
        );
    }
    for (variable, flag) in [
        ("FLOWTRACK_BIND", "--bind"),
        ("DATABASE_URL", "--database-url"),
        ("REDIS_URL", "--redis-url"),
        ("FLOWTRACK_JWT_SECRET", "--jwt-secret"),
        ("FLOWTRACK_ACCESS_TTL", "--access-ttl"),
        ("FLOWTRACK_REFRESH_TTL", "--refresh-ttl"),
        ("FLOWTRACK_REGISTRATION", "--registration"),
        ("FLOWTRACK_ADMIN_EMAIL", "--admin-email"),
        ("FLOWTRACK_ADMIN_PASSWORD", "--admin-password"),
        ("FLOWTRACK_CORS_ORIGINS", "--cors-origins"),
        ("FLOWTRACK_LOGIN_MAX_FAILURES", "--login-max-failures"),
        ("FLOWTRACK_REGISTER_PER_HOUR", "--register-per-hour"),
        ("FLOWTRACK_EVENT_RETENTION_DAYS", "--event-retention-days"),
        ("FLOWTRACK_MAX_CONNECTIONS", "--max-connections"),
        ("FLOWTRACK_LOG_FORMAT", "--log-format"),
    ] {
        assert!(help.contains(variable), "{variable} not listed:\n{help}");
        assert!(help.contains(flag), "{flag} not listed:\n{help}");
    }
}

#[tokio::test]
async fn help_never_shows_secret_values() {
    let sandbox = Sandbox::new();
    let mut command = sandbox.command(&["--help"]);
    command
        .env(
            "FLOWTRACK_JWT_SECRET",
            "jwt-secret-value-0123456789abcdef-xyz",
        )
        .env("FLOWTRACK_ADMIN_PASSWORD", "admin-password-value-42");
    let output = run(command).await;
    assert_success(&output);
    let help = text(&output.stdout);
    assert!(!help.contains("jwt-secret-value"), "{help}");
    assert!(!help.contains("admin-password-value"), "{help}");
}

#[tokio::test]
async fn user_create_help_lists_its_options() {
    let sandbox = Sandbox::new();
    let output = run(sandbox.command(&["user", "create", "--help"])).await;
    assert_success(&output);
    let help = text(&output.stdout);
    for option in ["--email", "--password", "--full-name", "--admin"] {
        assert!(help.contains(option), "{option} not listed:\n{help}");
    }
    let output = run(sandbox.command(&["user", "--help"])).await;
    assert_success(&output);
    assert!(text(&output.stdout).contains("create"));
}

// ---------------------------------------------------------------------------------------
// Bad settings

#[tokio::test]
async fn bad_settings_stop_the_start_with_one_line_naming_the_variable() {
    let cases = [
        ("FLOWTRACK_REGISTRATION", "maybe"),
        ("FLOWTRACK_BIND", "nope"),
        ("DATABASE_URL", "mysql://x"),
        ("FLOWTRACK_ACCESS_TTL", "abc"),
        ("FLOWTRACK_REFRESH_TTL", "-5"),
        ("FLOWTRACK_LOG_FORMAT", "xml"),
        ("REDIS_URL", "http://not-redis"),
        ("FLOWTRACK_CORS_ORIGINS", "not an origin"),
        ("FLOWTRACK_LOGIN_MAX_FAILURES", "many"),
        ("FLOWTRACK_JWT_SECRET", "short"),
    ];
    for (variable, value) in cases {
        let sandbox = Sandbox::new();
        // The default command (serve) on a free port, should the setting slip through.
        let mut command = sandbox.command(&[]);
        command
            .env("FLOWTRACK_BIND", format!("127.0.0.1:{}", free_port()))
            .env(variable, value);
        let output = run(command).await;
        assert_one_line_failure(&output, &[variable]);
        assert!(
            !sandbox.db_path().exists(),
            "{variable}: the database was touched"
        );
    }
}

#[tokio::test]
async fn a_bad_setting_stops_every_subcommand() {
    let sandbox = Sandbox::new();
    for args in [
        &["migrate"][..],
        &["serve"],
        &[
            "user",
            "create",
            "--email",
            "a@x.org",
            "--password",
            "longenough1",
            "--full-name",
            "A",
        ],
    ] {
        let mut command = sandbox.command(args);
        command.env("FLOWTRACK_REGISTRATION", "maybe");
        let output = run(command).await;
        assert_one_line_failure(&output, &["FLOWTRACK_REGISTRATION"]);
    }
    assert!(!sandbox.db_path().exists());
}

#[tokio::test]
async fn a_bad_flag_value_names_the_setting() {
    let sandbox = Sandbox::new();
    let output = run(sandbox.command(&["migrate", "--registration", "maybe"])).await;
    assert_one_line_failure(&output, &["FLOWTRACK_REGISTRATION", "--registration"]);
    let output = run(sandbox.command(&["--log-format", "xml", "migrate"])).await;
    assert_one_line_failure(&output, &["FLOWTRACK_LOG_FORMAT"]);
}

#[tokio::test]
async fn settings_come_from_dotenv_and_the_environment_wins() {
    let sandbox = Sandbox::new();
    sandbox.write_dotenv("FLOWTRACK_REGISTRATION=maybe\n");
    let output = run(sandbox.command(&["migrate"])).await;
    assert_one_line_failure(&output, &["FLOWTRACK_REGISTRATION"]);

    let mut command = sandbox.command(&["migrate"]);
    command.env("FLOWTRACK_REGISTRATION", "closed");
    let output = run(command).await;
    assert_success(&output);
}

// ---------------------------------------------------------------------------------------
// migrate

#[tokio::test]
async fn migrate_is_idempotent() {
    let sandbox = Sandbox::new();
    let first = run(sandbox.command(&["migrate"])).await;
    assert_success(&first);
    assert!(sandbox.db_path().exists(), "no database file created");
    let second = run(sandbox.command(&["migrate"])).await;
    assert_success(&second);

    // The schema is there: a server starts on it and works.
    let url = sandbox.db_url();
    let app = TestApp::spawn_with(move |cfg| cfg.database_url = url).await;
    app.register().await;
}

// ---------------------------------------------------------------------------------------
// user create

fn create_args<'a>(email: &'a str, password: &'a str, name: &'a str) -> Vec<&'a str> {
    vec![
        "user",
        "create",
        "--email",
        email,
        "--password",
        password,
        "--full-name",
        name,
    ]
}

#[tokio::test]
async fn user_create_makes_an_admin_who_can_sign_in() {
    let sandbox = Sandbox::new();
    let mut args = create_args("A@x.org", "longenough1", "Ann");
    args.push("--admin");
    let output = run(sandbox.command(&args)).await;
    assert_success(&output);
    assert!(
        text(&output.stdout).contains("a@x.org"),
        "{}",
        describe(&output)
    );

    // A server on the same database knows her, as an admin, by her lower-cased email.
    let url = sandbox.db_url();
    let app = TestApp::spawn_with(move |cfg| cfg.database_url = url).await;
    let ann = app.login("a@x.org", "longenough1").await;
    assert_eq!(ann.user["role"], "admin");
    assert_eq!(ann.user["full_name"], "Ann");
    assert_eq!(ann.user["email"], "a@x.org");
    assert_eq!(ann.user["is_active"], true);
    let response = app
        .get("/users")
        .bearer_auth(&ann.access)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn user_create_without_admin_makes_a_member() {
    let sandbox = Sandbox::new();
    let output = run(sandbox.command(&create_args("bob@x.org", "longenough2", "  Bob  "))).await;
    assert_success(&output);
    let url = sandbox.db_url();
    let app = TestApp::spawn_with(move |cfg| cfg.database_url = url).await;
    let bob = app.login("bob@x.org", "longenough2").await;
    assert_eq!(bob.user["role"], "member");
    assert_eq!(bob.user["full_name"], "Bob");
}

#[tokio::test]
async fn user_create_with_a_taken_email_fails() {
    let sandbox = Sandbox::new();
    let mut args = create_args("A@x.org", "longenough1", "Ann");
    args.push("--admin");
    assert_success(&run(sandbox.command(&args)).await);

    for email in ["A@x.org", "a@X.ORG"] {
        let output = run(sandbox.command(&create_args(email, "otherpassword", "Other"))).await;
        let line = assert_one_line_failure(&output, &[]);
        assert!(line.to_lowercase().contains("exists"), "{line}");
    }
    // The first account is untouched.
    let url = sandbox.db_url();
    let app = TestApp::spawn_with(move |cfg| cfg.database_url = url).await;
    let ann = app.login("a@x.org", "longenough1").await;
    assert_eq!(ann.user["full_name"], "Ann");
    let response = app
        .post("/auth/login")
        .json(&json!({"email": "a@x.org", "password": "otherpassword"}))
        .send()
        .await
        .expect("send");
    assert_problem(response, 401, "unauthorized").await;
}

#[tokio::test]
async fn user_create_validates_its_arguments() {
    let sandbox = Sandbox::new();
    let cases = [
        (create_args("not-an-email", "longenough1", "Ann"), "--email"),
        (create_args("a@x.org", "short", "Ann"), "--password"),
        (create_args("a@x.org", "longenough1", "   "), "--full-name"),
    ];
    for (args, option) in cases {
        let output = run(sandbox.command(&args)).await;
        assert_one_line_failure(&output, &[option]);
    }
    // Missing arguments are a usage error.
    let output = run(sandbox.command(&["user", "create", "--email", "a@x.org"])).await;
    assert!(!output.status.success(), "{}", describe(&output));
    assert!(
        text(&output.stderr).contains("--password"),
        "{}",
        describe(&output)
    );
}

// ---------------------------------------------------------------------------------------
// user set-password

/// `flowtrack user set-password --email <email>` with `input` on standard input. Before the
/// input is written (the command waits for it), checks that nothing of it is on the
/// process's command line as the system shows it to other users.
async fn set_password(sandbox: &Sandbox, email: &str, input: &str) -> Output {
    use tokio::io::AsyncWriteExt;

    let mut command = sandbox.command(&["user", "set-password", "--email", email]);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn flowtrack");
    // (A run that stops before reading, on a bad `--email`, has no command line left.)
    #[cfg(target_os = "linux")]
    if let Some(cmdline) = command_line(&mut child).await {
        assert!(cmdline.contains("set-password"), "{cmdline}");
        let secret = input.trim_end();
        assert!(secret.is_empty() || !cmdline.contains(secret), "{cmdline}");
    }
    let mut stdin = child.stdin.take().expect("stdin");
    // A run that stopped before reading closed its end: the outcome says why.
    let _ = stdin.write_all(input.as_bytes()).await;
    drop(stdin);
    tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .expect("flowtrack did not exit")
        .expect("run flowtrack")
}

/// The command line of a running process as `/proc` shows it to anyone on the machine
/// (read again while empty: right after the spawn the process may not have exec'd yet);
/// `None` once it has exited.
#[cfg(target_os = "linux")]
async fn command_line(child: &mut tokio::process::Child) -> Option<String> {
    let pid = child.id()?;
    let started = std::time::Instant::now();
    loop {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if !cmdline.is_empty() {
            return Some(text(&cmdline));
        }
        if child.try_wait().expect("try_wait").is_some() {
            return None;
        }
        assert!(started.elapsed() < DEADLINE, "no command line");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until `token` is refused; fails past one second.
async fn refused_within_a_second(app: &TestApp, token: &str) {
    let started = std::time::Instant::now();
    while me_with(app, token).await.status() != StatusCode::UNAUTHORIZED {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the old access token still works after one second"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn set_password_reads_stdin_and_ends_every_session() {
    let sandbox = Sandbox::new();
    let url = sandbox.db_url();
    let app = TestApp::spawn_with(move |cfg| cfg.database_url = url).await;
    let ada = app.register().await;
    // In use (and cached by the server) before the change.
    body(me_with(&app, &ada.access).await, 200).await;

    let new_password = "recovered by the operator";
    let output = set_password(
        &sandbox,
        &ada.email.to_uppercase(),
        &format!("{new_password}\n"),
    )
    .await;
    assert_success(&output);
    let stdout = text(&output.stdout);
    assert_eq!(stdout.lines().count(), 1, "{}", describe(&output));
    assert!(stdout.contains(&ada.email), "{}", describe(&output));
    for shown in [&output.stdout, &output.stderr] {
        assert!(!text(shown).contains(new_password), "{}", describe(&output));
    }

    // The server learns it from the database (the command is another process): the user
    // watcher drops its cached copy within the second.
    refused_within_a_second(&app, &ada.access).await;
    assert_problem(refresh_raw(&app, &ada.refresh).await, 401, "unauthorized").await;
    assert_problem(
        login_raw(&app, &ada.email, PASSWORD).await,
        401,
        "unauthorized",
    )
    .await;
    let again = app.login(&ada.email, new_password).await;
    body(me_with(&app, &again.access).await, 200).await;
}

#[tokio::test]
async fn set_password_refuses_unknown_emails_and_bad_passwords() {
    let sandbox = Sandbox::new();
    let url = sandbox.db_url();
    let app = TestApp::spawn_with(move |cfg| cfg.database_url = url).await;
    let ada = app.register().await;

    let output = set_password(&sandbox, "nobody@example.com", "a good long password\n").await;
    let line = assert_one_line_failure(&output, &["nobody@example.com"]);
    assert!(line.contains("no user"), "{line}");
    assert!(!line.contains("a good long password"), "{line}");

    for (input, named) in [
        ("7 chars\n", "password"),
        (&*format!("{}\n", "x".repeat(129)), "password"),
        ("", "password"),
    ] {
        let output = set_password(&sandbox, &ada.email, input).await;
        assert_one_line_failure(&output, &[named]);
    }
    let output = set_password(&sandbox, "not-an-email", "a good long password\n").await;
    assert_one_line_failure(&output, &["--email"]);

    // Nothing changed.
    body(me_with(&app, &ada.access).await, 200).await;
    app.login(&ada.email, PASSWORD).await;
}

#[tokio::test]
async fn set_password_help_says_where_the_password_comes_from() {
    let sandbox = Sandbox::new();
    let output = run(sandbox.command(&["user", "set-password", "--help"])).await;
    assert_success(&output);
    let help = text(&output.stdout);
    assert!(help.contains("--email"), "{help}");
    assert!(help.contains("standard input"), "{help}");
    assert!(!help.contains("--password"), "{help}");
    let output = run(sandbox.command(&["user", "--help"])).await;
    assert!(text(&output.stdout).contains("set-password"));
    // A password is never an argument.
    let output = run(sandbox.command(&[
        "user",
        "set-password",
        "--email",
        "a@x.org",
        "--password",
        "a good long password",
    ]))
    .await;
    assert!(!output.status.success(), "{}", describe(&output));
}

// ---------------------------------------------------------------------------------------
// serve

/// Waits until `GET /health` answers 200, failing early if the process exits.
async fn wait_until_healthy(child: &mut tokio::process::Child, base: &str, logs: &Sandbox) {
    let client = http_client();
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("flowtrack exited early ({status}):\n{}", read_logs(logs));
        }
        if let Ok(response) = client.get(format!("{base}/health")).send().await
            && response.status() == StatusCode::OK
        {
            let body: Value = response.json().await.expect("json");
            assert_eq!(body, json!({"status": "ok"}));
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "flowtrack never became healthy:\n{}",
            read_logs(logs)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn read_logs(sandbox: &Sandbox) -> String {
    let read =
        |name: &str| std::fs::read_to_string(sandbox.dir.path().join(name)).unwrap_or_default();
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        read("stdout.log"),
        read("stderr.log")
    )
}

/// A running `flowtrack` server process with its logs in the sandbox.
pub(crate) struct Server {
    pub(crate) sandbox: Sandbox,
    child: tokio::process::Child,
    port: u16,
    pub(crate) base: String,
}

impl Server {
    /// Starts `flowtrack <args>` on a free port and waits until it is healthy.
    pub(crate) async fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let sandbox = Sandbox::new();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let stdout = std::fs::File::create(sandbox.dir.path().join("stdout.log")).expect("log");
        let stderr = std::fs::File::create(sandbox.dir.path().join("stderr.log")).expect("log");
        let mut command = sandbox.command(args);
        command
            .env("FLOWTRACK_BIND", format!("127.0.0.1:{port}"))
            .envs(env.iter().copied())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr));
        let mut child = command.spawn().expect("spawn flowtrack");
        wait_until_healthy(&mut child, &base, &sandbox).await;
        Self {
            sandbox,
            child,
            port,
            base,
        }
    }

    /// Sends `signal` (e.g. `TERM`) and asserts a clean exit.
    pub(crate) async fn stop_with(mut self, signal: &str) -> Sandbox {
        let pid = self.child.id().expect("pid").to_string();
        let kill = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("run kill");
        assert!(kill.success());
        let status = tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("flowtrack did not stop after the signal")
            .expect("wait");
        assert!(
            status.success(),
            "exit {status} after SIG{signal}:\n{}",
            read_logs(&self.sandbox)
        );
        // The port is closed now.
        assert!(std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err());
        self.sandbox
    }
}

#[tokio::test]
async fn serve_answers_and_stops_cleanly_on_sigterm() {
    let server = Server::start(
        &["serve"],
        &[
            ("FLOWTRACK_ADMIN_EMAIL", "Root@Example.org"),
            ("FLOWTRACK_ADMIN_PASSWORD", "bootstrap-password"),
            ("FLOWTRACK_LOG_FORMAT", "json"),
            ("FLOWTRACK_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;

    // It serves the API, migrated at start, with the bootstrap admin.
    let client = http_client();
    let response = client
        .post(format!("{}/auth/login", server.base))
        .header("x-forwarded-for", "192.0.2.1, 198.51.100.23")
        .json(&json!({"email": "root@example.org", "password": "bootstrap-password"}))
        .send()
        .await
        .expect("login");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        read_logs(&server.sandbox)
    );
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("request id")
        .to_string();
    let pair: Value = response.json().await.expect("json");
    assert_eq!(pair["user"]["role"], "admin");
    drop(client);

    let sandbox = server.stop_with("TERM").await;

    // JSON logs: every stdout line is a JSON object, and no secret is in them.
    let logs = std::fs::read_to_string(sandbox.dir.path().join("stdout.log")).expect("logs");
    assert!(!logs.trim().is_empty(), "no logs");
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let parsed: Result<Value, _> = serde_json::from_str(line);
        assert!(
            parsed.is_ok_and(|v| v.is_object()),
            "not a JSON log line: {line}"
        );
    }
    assert!(
        !logs.contains("bootstrap-password"),
        "a secret reached the logs"
    );
    // The access log, at the default level: one line per request; the client is the
    // right-most forwarded address, the proxy (127.0.0.1) being trusted.
    let access: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["target"] == "flowtrack::access")
        .collect();
    let login = access
        .iter()
        .find(|line| line["request_id"] == request_id.as_str())
        .unwrap_or_else(|| panic!("no access line for the login in {access:?}"));
    assert_eq!(login["level"], "INFO");
    assert_eq!(login["method"], "POST");
    assert_eq!(login["route"], "/auth/login");
    assert_eq!(login["status"], 200);
    assert_eq!(login["client"], "198.51.100.23");
    assert!(login["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
    assert!(
        access.iter().any(|line| line["route"] == "/health"),
        "the health checks are logged too"
    );
}

#[tokio::test]
async fn serve_is_the_default_command_and_stops_cleanly_on_sigint() {
    let server = Server::start(&[], &[]).await;
    let client = http_client();
    let response = client
        .post(format!("{}/auth/register", server.base))
        .json(&json!({"email": "dee@x.org", "password": "longenough3", "full_name": "Dee"}))
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), StatusCode::CREATED);
    drop(client);
    server.stop_with("INT").await;
}

/// Secrets of integrations never reach the logs, even at `debug`: the API token (sent as a
/// bearer header and in the WebSocket's `?token=`), the access token, and the webhook
/// secrets (the first, and the one of a rotation).
#[tokio::test]
async fn api_token_and_webhook_secrets_never_reach_the_logs() {
    let server = Server::start(
        &["serve"],
        &[
            ("RUST_LOG", "debug"),
            ("FLOWTRACK_LOG_FORMAT", "json"),
            ("FLOWTRACK_WEBHOOK_ALLOW_PRIVATE", "true"),
        ],
    )
    .await;
    let client = http_client();
    let base = server.base.clone();
    let post = |path: &str, token: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let pair: Value = client
        .post(format!("{base}/auth/register"))
        .json(
            &json!({"email": unique_email(), "password": "a long passphrase", "full_name": "Logs"}),
        )
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    let access = pair["access_token"].as_str().expect("access").to_string();
    let user_id = pair["user"]["id"].as_str().expect("id").to_string();
    let created: Value = post(
        "/users/me/tokens",
        &access,
        json!({"name": "logs", "scope": "write"}),
    )
    .await
    .expect("token")
    .json()
    .await
    .expect("json");
    let token = created["secret"].as_str().expect("secret").to_string();
    let me = client
        .get(format!("{base}/users/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), StatusCode::OK);
    let ws = format!(
        "ws://127.0.0.1:{}/ws/notifications/{user_id}?token={token}",
        server.port
    );
    let (socket, _) = tokio_tungstenite::connect_async(ws)
        .await
        .expect("websocket");
    drop(socket);

    let project: Value = post("/projects", &token, json!({"name": "Logged"}))
        .await
        .expect("project")
        .json()
        .await
        .expect("json");
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", receiver.local_addr().expect("addr"));
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async { StatusCode::NO_CONTENT });
        let _ = axum::serve(receiver, app).await;
    });
    let path = format!("/projects/{}/webhooks", project["id"].as_str().expect("id"));
    let hook: Value = post(&path, &access, json!({"url": url}))
        .await
        .expect("hook")
        .json()
        .await
        .expect("json");
    let first_secret = hook["secret"].as_str().expect("secret").to_string();
    let hook_id = hook["webhook"]["id"].as_str().expect("id").to_string();
    let rotated: Value = post(
        &format!("/webhooks/{hook_id}/rotate-secret"),
        &access,
        json!({}),
    )
    .await
    .expect("rotate")
    .json()
    .await
    .expect("json");
    let second_secret = rotated["secret"].as_str().expect("secret").to_string();
    post(&format!("/webhooks/{hook_id}/ping"), &access, json!({}))
        .await
        .expect("ping");
    tokio::time::sleep(Duration::from_millis(600)).await; // the ping and the event go out
    drop(client);

    let sandbox = server.stop_with("TERM").await;
    let logs = read_logs(&sandbox);
    assert!(
        logs.contains("webhook") || logs.len() > 1000,
        "debug logs were written"
    );
    for (what, secret) in [
        ("API token", token.as_str()),
        ("access token", access.as_str()),
        ("webhook secret", first_secret.as_str()),
        ("rotated webhook secret", second_secret.as_str()),
    ] {
        // The random part after a known prefix (`ft_`, `whsec_`); an access token (a JWT,
        // whose base64url may hold `_` anywhere) whole.
        let random = ["ft_", "whsec_"]
            .iter()
            .find_map(|prefix| secret.strip_prefix(prefix))
            .unwrap_or(secret);
        assert!(!logs.contains(random), "the {what} reached the logs");
    }
}

// ---------------------------------------------------------------------------------------
// rediss://

/// `REDIS_URL=rediss://…` with `FLOWTRACK_REDIS_CA_FILE` as an operator sets them: the
/// server is ready on a Redis that speaks TLS only, with a certificate from a private CA.
#[tokio::test]
async fn serve_with_a_rediss_url_and_a_ca_file_is_ready() {
    let Some(redis) = OwnRedis::start_tls().await else {
        eprintln!("skipped: no redis-server binary");
        return;
    };
    let url = redis.url();
    let ca = redis.ca_file();
    let server = Server::start(
        &["serve"],
        &[
            ("REDIS_URL", url.as_str()),
            ("FLOWTRACK_REDIS_CA_FILE", ca.to_str().expect("utf-8 path")),
        ],
    )
    .await;
    let client = http_client();
    let response = client
        .get(format!("{}/ready", server.base))
        .send()
        .await
        .expect("ready");
    let status = response.status();
    let ready: Value = response.json().await.expect("json");
    assert_eq!(
        status,
        StatusCode::OK,
        "{ready}\n{}",
        read_logs(&server.sandbox)
    );
    assert_eq!(ready["redis"], "ok", "{ready}");
    drop(client);
    server.stop_with("TERM").await;

    // A CA file that is not there stops the start with one line naming the setting.
    let sandbox = Sandbox::new();
    let mut command = sandbox.command(&[]);
    command
        .env("FLOWTRACK_BIND", format!("127.0.0.1:{}", free_port()))
        .env("REDIS_URL", &url)
        .env(
            "FLOWTRACK_REDIS_CA_FILE",
            sandbox.dir.path().join("missing.pem"),
        );
    let output = run(command).await;
    assert_one_line_failure(&output, &["FLOWTRACK_REDIS_CA_FILE"]);
    assert!(!sandbox.db_path().exists(), "the database was touched");
}
