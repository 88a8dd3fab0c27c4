//! FlowTrack robustness tests (issue 7), each a real test that fails loudly:
//!
//! - `crash`: concurrent creates/moves, `kill -9` of the server mid-load, restart on the same
//!   database; every acknowledged write and every event must be there exactly once.
//! - `db-outage`: PostgreSQL stopped during load: quick 503 `unavailable` answers (never 500,
//!   never a hang), `/ready` names the database, full recovery within 2 s of its return.
//! - `hostile`: oversized, deeply nested, invalid and flooding requests, slow-loris and
//!   unauthenticated WebSocket storms; each gets a clear 4xx or is cut off, memory stays
//!   bounded and a normal user is served throughout.
//! - `soak`: minutes of mixed load with hundreds of WebSocket clients: no RSS growth trend,
//!   no error, no lost event.
//!
//! Each subcommand starts the server itself (so it can kill it and sample its memory), prints
//! one JSON summary line with the figures, and exits non-zero on any failure. Only
//! 127.0.0.1 is ever contacted; every loop is bounded in count and time.
//! `scripts/robustness` runs them all on SQLite and on PostgreSQL + Redis.

mod common;
mod crash;
mod hostile;
mod outage;
mod receiver;
mod soak;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "FlowTrack robustness tests: crash, db-outage, hostile, soak")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// kill -9 during concurrent writes; verify nothing acknowledged is lost.
    Crash(crash::Args),
    /// Stop PostgreSQL during load; verify quick 503s and recovery.
    DbOutage(outage::Args),
    /// Hostile inputs and connection floods.
    Hostile(hostile::Args),
    /// Long mixed load with WebSocket clients; RSS trend and event loss.
    Soak(soak::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("robustness: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Cmd::Crash(args) => crash::run(args).await,
            Cmd::DbOutage(args) => outage::run(args).await,
            Cmd::Hostile(args) => hostile::run(args).await,
            Cmd::Soak(args) => soak::run(args).await,
        }
    });
    // Do not wait for stray tasks (e.g. sockets of a failed run).
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("robustness: FAILED: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
