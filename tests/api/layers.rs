//! The layer direction is a build error to break, because each layer is a crate that can only
//! use what its `Cargo.toml` lists. These tests keep those lists honest: a dependency added to
//! the wrong crate (SeaORM in the HTTP crate, axum in the store, the store in the core) fails
//! here with the reason, before it can be used.

use std::collections::BTreeSet;

/// The names under `[dependencies]` of a manifest (not dev- or build-dependencies).
fn dependencies(manifest: &str) -> BTreeSet<String> {
    let path = format!("{}/{manifest}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut names = BTreeSet::new();
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == "[dependencies]";
        } else if inside
            && !line.starts_with('#')
            && let Some((name, _)) = line.split_once('=')
        {
            names.insert(name.trim().to_string());
        }
    }
    assert!(!names.is_empty(), "{manifest} lists no dependencies");
    names
}

fn assert_none_of(manifest: &str, forbidden: &[&str], why: &str) {
    let deps = dependencies(manifest);
    let found: Vec<&&str> = forbidden.iter().filter(|f| deps.contains(**f)).collect();
    assert!(found.is_empty(), "{manifest} depends on {found:?}: {why}");
}

const HTTP_CRATES: &[&str] = &[
    "axum",
    "hyper",
    "hyper-util",
    "tower",
    "tower-http",
    "utoipa-axum",
];

#[test]
fn core_knows_neither_storage_nor_http() {
    let mut forbidden = vec!["flowtrack", "flowtrack-store", "migration"];
    forbidden.extend(HTTP_CRATES);
    assert_none_of(
        "crates/core/Cargo.toml",
        &forbidden,
        "flowtrack-core is the bottom layer (configuration, errors, security, input rules)",
    );
}

#[test]
fn store_knows_no_http() {
    let mut forbidden = vec!["flowtrack"];
    forbidden.extend(HTTP_CRATES);
    assert_none_of(
        "crates/store/Cargo.toml",
        &forbidden,
        "services and entities never see HTTP types; the HTTP crate calls them",
    );
    assert!(dependencies("crates/store/Cargo.toml").contains("flowtrack-core"));
}

#[test]
fn http_crate_runs_no_sql() {
    assert_none_of(
        "Cargo.toml",
        &["sea-orm", "sea-orm-migration", "sqlx", "migration"],
        "handlers, the hub and the WebSocket read data only through flowtrack-store \
         (services, and `feed` for the event log)",
    );
    let deps = dependencies("Cargo.toml");
    assert!(deps.contains("flowtrack-store") && deps.contains("flowtrack-core"));
}
