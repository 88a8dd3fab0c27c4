//! The read baseline: a bare axum server answering `GET /tasks/{id}` with fixed JSON bytes
//! (the body FlowTrack returns for the same task), no auth, no database, no middleware.
//!
//! `bare_server --bind 127.0.0.1:9100 --body task.json`

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::routing::get;
use clap::Parser;

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9100")]
    bind: SocketAddr,
    /// File holding the JSON body to answer with.
    #[arg(long)]
    body: std::path::PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let body = Bytes::from(std::fs::read(&args.body)?);
    let app = Router::new().route(
        "/tasks/{id}",
        get(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(args.bind).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
