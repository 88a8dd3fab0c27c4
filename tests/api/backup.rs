//! `flowtrack backup <file>` against a running server (the real binary on a SQLite file)
//! while a client keeps writing: the copy passes `PRAGMA integrity_check`, is an ordinary
//! database (no `-wal` needed), holds every write acknowledged before the backup began, and
//! a server started on it serves them. On PostgreSQL the command points to `pg_dump`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::{Value, json};

use crate::cli::{Sandbox, Server, assert_one_line_failure, assert_success, run};
use crate::helpers::*;

async fn post(client: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut request = client.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("send");
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.expect("json")
}

/// One value of a SQL query on a database file.
async fn scalar(url: &str, sql: &str) -> String {
    let db = Database::connect(url).await.expect("open");
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Sqlite, sql))
        .await
        .expect("query")
        .expect("a row");
    let value = row
        .try_get_by_index::<String>(0)
        .or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string()))
        .expect("value");
    let _ = db.close().await;
    value
}

#[tokio::test]
async fn a_backup_taken_during_writes_is_a_consistent_database_to_start_from() {
    let server = Server::start(&["serve"], &[]).await;
    let client = http_client();
    let email = unique_email();
    let pair = post(
        &client,
        format!("{}/auth/register", server.base),
        None,
        json!({"email": email, "password": PASSWORD, "full_name": "Backed up"}),
    )
    .await;
    let token = pair["access_token"].as_str().expect("token").to_string();
    let project = post(
        &client,
        format!("{}/projects", server.base),
        Some(&token),
        json!({"name": "Kept"}),
    )
    .await;
    let project_id = project["id"].as_str().expect("id").to_string();

    // A writer that never pauses, recording what the server acknowledged.
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (client, base, token, project_id) = (
            client.clone(),
            server.base.clone(),
            token.clone(),
            project_id.clone(),
        );
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let body = json!({"project_id": project_id, "title": format!("task {n}")});
                let task = post(&client, format!("{base}/tasks"), Some(&token), body).await;
                let id = task["id"].as_str().expect("id").to_string();
                acknowledged.lock().expect("lock").push(id);
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    let copy = server.sandbox.dir.path().join("copy.db");
    let before: Vec<String> = acknowledged.lock().expect("lock").clone();
    let output = run(server
        .sandbox
        .command(&["backup", copy.to_str().expect("path")]))
    .await;
    assert_success(&output);
    assert!(String::from_utf8_lossy(&output.stdout).contains("backup written"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    writer.await.expect("writer");
    let total = acknowledged.lock().expect("lock").len();
    assert!(
        before.len() >= 5 && total > before.len(),
        "writes went on: {} then {total}",
        before.len()
    );

    // Never over an existing file.
    let again = run(server
        .sandbox
        .command(&["backup", copy.to_str().expect("path")]))
    .await;
    assert_one_line_failure(&again, &["already exists"]);

    // An ordinary, intact database holding every write acknowledged before the backup.
    let copy_url = format!("sqlite://{}?mode=ro", copy.display());
    assert_eq!(scalar(&copy_url, "PRAGMA integrity_check").await, "ok");
    assert_eq!(scalar(&copy_url, "PRAGMA journal_mode").await, "delete");
    let in_copy: usize = scalar(&copy_url, "SELECT count(*) FROM tasks")
        .await
        .parse()
        .expect("count");
    assert!(
        in_copy >= before.len() && in_copy <= total,
        "{} ≤ {in_copy} ≤ {total}",
        before.len()
    );
    // (The sandbox holds the copy: kept until the end.)
    let _sandbox = server.stop_with("TERM").await;

    // A server started on the copy serves them.
    let restored = Server::start(
        &["serve"],
        &[(
            "DATABASE_URL",
            &format!("sqlite://{}?mode=rwc", copy.display()),
        )],
    )
    .await;
    let login = post(
        &client,
        format!("{}/auth/login", restored.base),
        None,
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    let token = login["access_token"].as_str().expect("token");
    for id in &before {
        let response = client
            .get(format!("{}/tasks/{id}", restored.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 200, "task {id} is in the backup");
    }
    restored.stop_with("TERM").await;
}

#[tokio::test]
async fn backup_refuses_what_it_cannot_copy() {
    let sandbox = Sandbox::new();
    // Nothing at DATABASE_URL yet (the sandbox's file is created by a server).
    let output = run(sandbox.command(&["backup", "out.db"])).await;
    assert_one_line_failure(&output, &["no SQLite database"]);
    assert!(!sandbox.db_path().exists(), "the source is never created");

    let mut postgres = sandbox.command(&["backup", "out.db"]);
    postgres.env(
        "DATABASE_URL",
        "postgres://flowtrack:secret@db.example/flowtrack",
    );
    let line = assert_one_line_failure(&run(postgres).await, &["pg_dump"]);
    assert!(!line.contains("secret"), "{line}");

    let mut memory = sandbox.command(&["backup", "out.db"]);
    memory.env("DATABASE_URL", "sqlite::memory:");
    assert_one_line_failure(&run(memory).await, &["in-memory"]);
    assert!(!sandbox.dir.path().join("out.db").exists());
}
