//! The documentation in the repository stays true to the server and self-contained:
//! `docs/api.md` has a section for every operation of the OpenAPI document (and none for an
//! operation that no longer exists), and no file points outside the repository.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every operation of the OpenAPI document as `"METHOD /path"` (`PATCH /tasks/{id}/move`).
fn spec_operations() -> BTreeSet<String> {
    let (_, openapi) = flowtrack::app::api();
    let doc = serde_json::to_value(&openapi).expect("the OpenAPI document serializes");
    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        let item = item.as_object().expect("a path item is an object");
        for method in METHODS.iter().filter(|m| item.contains_key(**m)) {
            operations.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    operations
}

/// The operation a Markdown heading names, if it names one: `#### \`GET /tasks/{id}\``
/// gives `GET /tasks/{id}`.
fn heading_operation(line: &str) -> Option<String> {
    let text = line.strip_prefix('#')?.trim_start_matches('#').trim();
    let text = text.trim_matches('`');
    let (method, rest) = text.split_once(' ')?;
    if !METHODS.contains(&method.to_lowercase().as_str()) || method != method.to_uppercase() {
        return None;
    }
    let path = rest.split(['`', ' ']).next()?;
    path.starts_with('/').then(|| format!("{method} {path}"))
}

/// The operations that have a heading of their own in a Markdown text.
fn documented_operations(markdown: &str) -> BTreeSet<String> {
    let mut in_code_block = false;
    let mut found = BTreeSet::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code_block = !in_code_block;
        } else if !in_code_block && let Some(operation) = heading_operation(line) {
            found.insert(operation);
        }
    }
    found
}

#[test]
fn headings_name_operations_exactly() {
    assert_eq!(
        heading_operation("#### `PATCH /tasks/{id}/move`").as_deref(),
        Some("PATCH /tasks/{id}/move")
    );
    assert_eq!(
        heading_operation("### GET /health").as_deref(),
        Some("GET /health")
    );
    assert_eq!(heading_operation("## Get started"), None);
    assert_eq!(heading_operation("- `GET /tasks`"), None);
    // `GET /tasks` is not `GET /tasks/{id}`: sections are matched whole, never by prefix.
    let found = documented_operations("#### `GET /tasks/{id}`\n```\n# GET /users\n```\n");
    assert_eq!(found, BTreeSet::from(["GET /tasks/{id}".to_string()]));
}

#[test]
fn api_reference_documents_every_operation() {
    let path = repo_root().join("docs/api.md");
    let markdown = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let documented = documented_operations(&markdown);
    let spec = spec_operations();
    assert!(!spec.is_empty(), "the OpenAPI document has no operations");

    let missing: Vec<&String> = spec.difference(&documented).collect();
    let stale: Vec<&String> = documented.difference(&spec).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/api.md must have one heading per operation of the OpenAPI document, \
         e.g. \"#### `PATCH /tasks/{{id}}/move`\" (same method, same path, same `{{param}}` \
         names).\nOperations without a section: {missing:#?}\nSections of operations the \
         server does not have: {stale:#?}"
    );
}

/// Directories that are not the repository's own content (build output, dependencies).
fn skipped(relative: &Path) -> bool {
    let name = relative.file_name().and_then(|n| n.to_str()).unwrap_or("");
    matches!(name, "target" | "node_modules" | ".git") || relative == Path::new("web/dist")
}

fn files_under(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("directory entry");
        let path = entry.path();
        let relative = path.strip_prefix(root).expect("under the root");
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            if !skipped(relative) {
                files_under(root, &path, out);
            }
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

#[test]
fn no_file_points_outside_the_repository() {
    // Spelled in pieces so that this file does not contain what it looks for.
    let needle = ["..", "/", "shared"].concat();
    let root = repo_root();
    let mut files = Vec::new();
    files_under(&root, &root, &mut files);
    assert!(files.len() > 10, "found only {} files", files.len());
    let offenders: Vec<String> = files
        .iter()
        .filter(|path| {
            std::fs::read(path)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .map(|path| {
            path.strip_prefix(&root)
                .unwrap_or(path)
                .display()
                .to_string()
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "these files point at `{needle}`, outside the repository (a clone does not have \
         it; link docs/api.md or docs/architecture.md instead): {offenders:#?}"
    );
}
