//! The `flowtrack` command line: `serve` (default), `migrate`, `user create`,
//! `user set-password`, `backup`, `openapi`.

mod password;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::http::fields::{Email, FullName, NewPassword};
use crate::http::telemetry;
use crate::state::AppState;
use flowtrack_core::clock::Clock;
use flowtrack_core::config::{self, Config, ConfigError, Settings};
use flowtrack_store::db::Db;
use flowtrack_store::models::users::Role;
use flowtrack_store::services::users::{self, NewUser};
use flowtrack_store::state::Store;

// No `Debug`: the settings hold secrets.
#[derive(Parser)]
#[command(
    name = "flowtrack",
    version,
    about = "FlowTrack: real-time project and task tracker server",
    long_about = "FlowTrack: real-time project and task tracker server.\n\nEvery setting can be given as a flag or as its environment variable (a .env file in the working directory is read too)."
)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP + WebSocket server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Write a consistent copy of the SQLite database to FILE while the server keeps
    /// running (never overwrites a file; the copy is itself a database to start from). On
    /// PostgreSQL use pg_dump.
    Backup {
        /// Where to write the copy (a new file).
        file: std::path::PathBuf,
    },
    /// Print the OpenAPI document (the one served at /openapi.json) as JSON and exit; needs
    /// no database or configuration (the web app's TypeScript client is generated from it).
    Openapi,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        #[arg(long = "full-name")]
        full_name: String,
        /// Give the user the admin role.
        #[arg(long)]
        admin: bool,
    },
    /// Set a user's password (account recovery) and end all of their sessions.
    #[command(
        long_about = "Set a user's password (account recovery) and end all of their sessions: \
their refresh tokens are revoked and the access tokens issued before stop working within a \
second on every instance (API tokens keep working).\n\n\
The password (8–128 characters) is read from standard input when it is not a terminal \
(one line; its line end is dropped), e.g. `printf '%s\\n' \"$NEW_PASSWORD\" | flowtrack user \
set-password --email ada@example.com`; on a terminal it is asked twice, without echo. It is \
never taken from the command line, where other users of the machine could read it."
    )]
    SetPassword {
        /// The account's email address.
        #[arg(long)]
        email: String,
    },
}

pub fn main() -> ExitCode {
    flowtrack_core::memory::tune_allocator();
    // Variables already set win over the .env file of the working directory (only that
    // one: not a parent directory's); a missing .env is fine.
    let _ = dotenvy::from_path(".env");
    // Before the settings are read: printing the document must work anywhere, even
    // with a broken or missing configuration.
    if wants_openapi() {
        return print_openapi();
    }
    let (command, config) = match parse() {
        Ok(parsed) => parsed,
        Err(err) => {
            eprintln!("flowtrack: {err}");
            return ExitCode::from(2);
        }
    };
    // Flushes the queued log lines when `main` returns.
    let _log_writer = telemetry::init_tracing(config.log_format);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("flowtrack: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(&config).await,
            Command::User(UserCommand::Create {
                email,
                password,
                full_name,
                admin,
            }) => create_user(config, email, password, full_name, admin).await,
            Command::Backup { file } => backup(&config, &file).await,
            Command::User(UserCommand::SetPassword { email }) => set_password(config, email).await,
            Command::Openapi => unreachable!("answered before the settings are read"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("flowtrack: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether the command is `openapi`, recognised with the settings' variables ignored (so
/// that a bad one cannot stop it).
fn wants_openapi() -> bool {
    config::without_env(Cli::command())
        .try_get_matches()
        .is_ok_and(|matches| matches.subcommand_name() == Some("openapi"))
}

/// The command to run and its configuration, or the one-line error of a bad setting. Other
/// usage errors (and `--help`, `--version`) are reported by clap, which exits.
fn parse() -> Result<(Command, Config), ConfigError> {
    let cli = Cli::try_parse()
        .map_err(|err| ConfigError::from_clap(&err).unwrap_or_else(|| err.exit()))?;
    let config = cli.settings.into_config()?;
    Ok((cli.command.unwrap_or(Command::Serve), config))
}

fn print_openapi() -> ExitCode {
    let (_, openapi) = crate::app::api();
    match openapi.to_pretty_json() {
        Ok(json) => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`flowtrack openapi | head`) is not worth a panic.
            if writeln!(stdout, "{json}")
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("flowtrack: cannot render the OpenAPI document: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    telemetry::init_metrics();
    let listener = crate::http::server::listen(config.bind)
        .map_err(|e| anyhow::anyhow!("cannot listen on {} (FLOWTRACK_BIND): {e}", config.bind))?;
    let state = AppState::init(config, Clock::system()).await?;
    tracing::info!(
        address = %state.config.bind,
        docs = %format!("http://{}/docs", state.config.bind),
        "FlowTrack listening"
    );
    let shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        shutdown.cancel();
    });
    crate::app::serve(state.clone(), listener).await?;
    state.db.clone().close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url, config.db_pool_size).await?;
    db.migrate().await?;
    db.close().await;
    println!("migrations applied");
    Ok(())
}

async fn backup(config: &Config, file: &std::path::Path) -> anyhow::Result<()> {
    let written = flowtrack_store::backup::sqlite(&config.database_url, file).await?;
    println!(
        "backup written: {} ({} bytes, integrity check ok)",
        written.path.display(),
        written.bytes
    );
    Ok(())
}

async fn create_user(
    config: Config,
    email: String,
    password: String,
    full_name: String,
    admin: bool,
) -> anyhow::Result<()> {
    // The rules of the API's fields (`POST /users`).
    let Email(email) = Email::new(&email).map_err(|m| anyhow::anyhow!("--email {m}"))?;
    let NewPassword(password) =
        NewPassword::new(password).map_err(|m| anyhow::anyhow!("--password {m}"))?;
    let FullName(full_name) =
        FullName::new(&full_name).map_err(|m| anyhow::anyhow!("--full-name {m}"))?;
    let state = AppState::init(config, Clock::system()).await?;
    let user = users::create(
        &state,
        NewUser {
            email,
            password,
            full_name,
            role: if admin { Role::Admin } else { Role::Member },
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("created user {} ({}, {:?})", user.email, user.id, user.role);
    state.db.clone().close().await;
    Ok(())
}

/// `flowtrack user set-password`: reads the password (never from argv), then sets it.
async fn set_password(config: Config, email: String) -> anyhow::Result<()> {
    let Email(email) = Email::new(&email).map_err(|m| anyhow::anyhow!("--email {m}"))?;
    // Read before connecting: a prompt does not hold database connections while it waits.
    let password = tokio::task::spawn_blocking(password::read_new_password).await??;
    let NewPassword(password) =
        NewPassword::new(password).map_err(|m| anyhow::anyhow!("the password {m}"))?;
    let state = AppState::init(config, Clock::system()).await?;
    let result = set_password_of(&state, &email, &password).await;
    state.db.clone().close().await;
    let user = result?;
    println!(
        "password set for {} ({}); all of their sessions are signed out",
        user.email, user.id
    );
    Ok(())
}

async fn set_password_of(
    state: &Store,
    email: &str,
    password: &str,
) -> anyhow::Result<flowtrack_store::models::users::Model> {
    let user = users::find_by_email(state, email)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .ok_or_else(|| anyhow::anyhow!("no user with the email {email}"))?;
    users::set_password(state, &user, password)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(user)
}
