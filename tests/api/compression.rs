//! Compressed answers: the board's cached br and gzip copies (an `ETag` per encoding,
//! `Vary`, `If-None-Match` across them), and the compression of other large answers, which
//! leaves the board, tagged answers, `/metrics` and the WebSocket upgrade alone.

use std::io::Read;

use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, ETAG, HeaderMap, IF_NONE_MATCH, VARY,
};
use serde_json::{Value, json};

use crate::helpers::*;

/// One answer as it came over the wire.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    raw: Vec<u8>,
}

impl Answer {
    async fn of(response: reqwest::Response) -> Self {
        Self {
            status: response.status(),
            headers: response.headers().clone(),
            raw: response.bytes().await.expect("body").to_vec(),
        }
    }

    fn header(&self, name: reqwest::header::HeaderName) -> String {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().expect("ascii"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `Vary` names `Accept-Encoding` (CORS adds `Origin` beside it).
    fn varies_by_encoding(&self) -> bool {
        self.header(VARY)
            .split(',')
            .any(|name| name.trim().eq_ignore_ascii_case("accept-encoding"))
    }

    fn encoding(&self) -> String {
        self.header(CONTENT_ENCODING)
    }

    fn etag(&self) -> String {
        self.header(ETAG)
    }

    /// The body with its `Content-Encoding` undone.
    fn decoded(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self.encoding().as_str() {
            "" => out.extend_from_slice(&self.raw),
            "gzip" => {
                flate2::read::GzDecoder::new(self.raw.as_slice())
                    .read_to_end(&mut out)
                    .expect("gunzip");
            }
            "br" => {
                brotli::Decompressor::new(self.raw.as_slice(), 4096)
                    .read_to_end(&mut out)
                    .expect("brotli decode");
            }
            other => panic!("unexpected Content-Encoding {other:?}"),
        }
        out
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.decoded()).expect("json")
    }
}

/// `GET path` as `user`, with these request headers.
async fn get_as(app: &TestApp, user: &TestUser, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = app.get(path).bearer_auth(&user.access);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Answer::of(request.send().await.expect("send")).await
}

/// A project of `n` tasks, each with a description, so that its board and task list are
/// well over the 1 KiB below which nothing is compressed.
async fn project_with_tasks(app: &TestApp, owner: &TestUser, n: usize) -> (String, Vec<Value>) {
    let pid = project_id(app, owner, "Compressed").await;
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let body = json!({
            "title": format!("Task {i}"),
            "description": format!("The description of task {i}, long enough to repeat."),
        });
        tasks.push(app.create_task(owner, &pid, body).await);
    }
    (pid, tasks)
}

#[tokio::test]
async fn the_board_comes_compressed_as_accepted_with_a_tag_per_encoding() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let (pid, _) = project_with_tasks(&app, &owner, 12).await;
    let path = format!("/projects/{pid}/board");

    let plain = get_as(&app, &owner, &path, &[]).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(plain.encoding(), "");
    assert!(plain.varies_by_encoding());
    assert_eq!(plain.header(CONTENT_TYPE), "application/json");
    assert!(plain.raw.len() > 4096, "board of {} bytes", plain.raw.len());
    let identity_tag = plain.etag();

    let mut tags = vec![identity_tag.clone()];
    for (accept, expected) in [
        ("gzip, deflate, br, zstd", "br"),
        ("br", "br"),
        ("gzip", "gzip"),
        ("br;q=0.5, gzip", "gzip"),
        ("gzip;q=0.2, *", "br"),
    ] {
        let answer = get_as(&app, &owner, &path, &[("accept-encoding", accept)]).await;
        assert_eq!(answer.status, StatusCode::OK, "{accept}");
        assert_eq!(answer.encoding(), expected, "{accept}");
        assert!(answer.varies_by_encoding(), "{accept}");
        assert_eq!(answer.header(CONTENT_TYPE), "application/json");
        assert_eq!(answer.decoded(), plain.raw, "{accept}: decodes to the JSON");
        assert!(
            answer.raw.len() * 2 < plain.raw.len(),
            "{accept}: compressed"
        );
        tags.push(answer.etag());
    }
    // One tag per representation: br, br, gzip, gzip, br.
    assert_eq!(tags[1], tags[2]);
    assert_eq!(tags[3], tags[4]);
    assert_eq!(tags[5], tags[1]);
    assert_ne!(tags[0], tags[1]);
    assert_ne!(tags[0], tags[3]);
    assert_ne!(tags[1], tags[3]);
    // The copy is kept: the same bytes each time.
    let once = get_as(&app, &owner, &path, &[("accept-encoding", "gzip")]).await;
    let twice = get_as(&app, &owner, &path, &[("accept-encoding", "gzip")]).await;
    assert_eq!(once.raw, twice.raw);

    // Refused, or identity preferred: the JSON as it is, with the identity tag (and no
    // 406 for a client that refuses identity too).
    for accept in [
        "gzip;q=0, br;q=0",
        "identity",
        "deflate",
        "identity, gzip;q=0.5",
        "gzip;q=0, br;q=0, identity;q=0",
        "*;q=0",
    ] {
        let answer = get_as(&app, &owner, &path, &[("accept-encoding", accept)]).await;
        assert_eq!(answer.status, StatusCode::OK, "{accept}");
        assert_eq!(answer.encoding(), "", "{accept}");
        assert_eq!(answer.etag(), identity_tag, "{accept}");
        assert!(answer.varies_by_encoding(), "{accept}");
        assert_eq!(answer.raw, plain.raw, "{accept}");
    }
}

#[tokio::test]
async fn any_current_tag_of_the_board_answers_304_until_it_changes() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let stranger = app.register().await;
    let (pid, tasks) = project_with_tasks(&app, &owner, 6).await;
    let path = format!("/projects/{pid}/board");
    let gzip = get_as(&app, &owner, &path, &[("accept-encoding", "gzip")]).await;
    let br = get_as(&app, &owner, &path, &[("accept-encoding", "br")]).await;
    let plain = get_as(&app, &owner, &path, &[]).await;
    let (g, b, i) = (gzip.etag(), br.etag(), plain.etag());

    // (Accept-Encoding, If-None-Match) → the tag the 304 carries: the matching one, the
    // wanted representation's first.
    let cases = [
        ("gzip", g.clone(), &g),
        ("gzip, br", g.clone(), &g),
        ("", b.clone(), &b),
        ("br", i.clone(), &i),
        ("br", format!("\"nope\", W/{g}"), &g),
        ("br", format!("{i}, {b}"), &b),
        ("br", "*".to_string(), &b),
        ("", "*".to_string(), &i),
    ];
    for (accept, held, expected) in &cases {
        let mut headers = vec![("if-none-match", held.as_str())];
        if !accept.is_empty() {
            headers.push(("accept-encoding", *accept));
        }
        let answer = get_as(&app, &owner, &path, &headers).await;
        assert_eq!(answer.status, StatusCode::NOT_MODIFIED, "{accept} / {held}");
        assert_eq!(&answer.etag(), *expected, "{accept} / {held}");
        assert!(answer.varies_by_encoding(), "{accept} / {held}");
        assert_eq!(answer.encoding(), "", "{accept} / {held}");
        assert!(answer.raw.is_empty(), "{accept} / {held}");
    }
    let hidden = get_as(
        &app,
        &stranger,
        &path,
        &[(IF_NONE_MATCH.as_str(), g.as_str())],
    )
    .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);

    // After a change every old tag gets the new board, in the encoding asked for.
    let moved = app
        .move_task(&owner, &id_of(&tasks[0]), json!({"status": "done"}))
        .await;
    assert_eq!(moved.status(), StatusCode::OK);
    let fresh_plain = get_as(&app, &owner, &path, &[]).await;
    for (accept, held) in [("gzip", &g), ("br", &b), ("gzip", &b)] {
        let answer = get_as(
            &app,
            &owner,
            &path,
            &[
                ("accept-encoding", accept),
                ("if-none-match", held.as_str()),
            ],
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{accept} / {held}");
        assert_eq!(answer.encoding(), accept);
        assert!(![&g, &b, &i].contains(&&answer.etag()), "a new tag");
        assert_eq!(answer.decoded(), fresh_plain.raw);
        let board = answer.json();
        assert_eq!(board["columns"][3]["tasks"][0]["id"], tasks[0]["id"]);
        assert!(board["seq"].as_i64() > plain.json()["seq"].as_i64());
    }
}

#[tokio::test]
async fn large_answers_are_compressed_when_asked_and_plain_when_not() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let (pid, tasks) = project_with_tasks(&app, &owner, 8).await;
    let path = format!("/tasks?project_id={pid}&limit=200");

    let plain = get_as(&app, &owner, &path, &[]).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(plain.encoding(), "");
    assert!(plain.raw.len() > 1024, "list of {} bytes", plain.raw.len());
    // Sent as identity because the request accepted nothing else: a shared cache must not
    // give this copy to a client that would have had it compressed.
    assert!(plain.varies_by_encoding());
    let list = plain.json();
    assert_eq!(list["items"].as_array().expect("items").len(), tasks.len());

    for (accept, expected) in [
        ("gzip", "gzip"),
        ("br", "br"),
        ("gzip, deflate, br", "br"),
        ("br;q=0.1, gzip", "gzip"),
        ("gzip;q=0, br;q=0", ""),
        ("identity", ""),
        // Refusing every coding, identity included: identity all the same, never 406.
        ("identity;q=0", ""),
        ("*;q=0", ""),
    ] {
        let answer = get_as(&app, &owner, &path, &[("accept-encoding", accept)]).await;
        assert_eq!(answer.status, StatusCode::OK, "{accept}");
        assert_eq!(answer.encoding(), expected, "{accept}");
        assert_eq!(answer.json(), list, "{accept}");
        assert!(answer.varies_by_encoding(), "{accept}");
        if !expected.is_empty() {
            assert!(answer.raw.len() < plain.raw.len(), "{accept}");
        }
    }

    let document = get_as(
        &app,
        &owner,
        "/openapi.json",
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(document.status, StatusCode::OK);
    assert_eq!(document.encoding(), "gzip");
    assert!(document.json()["paths"].is_object());

    // Under 1 KiB: as it is.
    let me = get_as(&app, &owner, "/users/me", &[("accept-encoding", "gzip")]).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.encoding(), "");
    // A task carries its version as its ETag (what If-Match compares): never recompressed
    // under the same tag, however large.
    let long = app
        .create_task(
            &owner,
            &pid,
            json!({"title": "Long", "description": "x".repeat(4000)}),
        )
        .await;
    let task = get_as(
        &app,
        &owner,
        &format!("/tasks/{}", id_of(&long)),
        &[("accept-encoding", "gzip, br")],
    )
    .await;
    assert_eq!(task.status, StatusCode::OK);
    assert_eq!(task.encoding(), "");
    assert_eq!(task.etag(), "\"1\"");
    assert!(task.raw.len() > 4000);
    assert!(!task.varies_by_encoding());
    let task = get_as(&app, &owner, &format!("/tasks/{}", id_of(&long)), &[]).await;
    assert_eq!(
        (task.encoding(), task.varies_by_encoding()),
        (String::new(), false)
    );
}

#[tokio::test]
async fn metrics_and_the_websocket_upgrade_are_never_compressed() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Live").await;

    // Enough requests for a large metrics text.
    for _ in 0..3 {
        get_as(&app, &owner, "/users/me", &[]).await;
    }
    let metrics = get_as(&app, &owner, "/metrics", &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.raw.len() > 1024,
        "metrics of {} bytes",
        metrics.raw.len()
    );
    assert_eq!(metrics.encoding(), "");
    assert!(std::str::from_utf8(&metrics.raw).is_ok_and(|text| text.contains("# TYPE")));

    let url = app.ws_url(owner.id, &format!("?token={}", owner.access));
    let mut request = url.into_client_request().expect("request");
    request
        .headers_mut()
        .insert(ACCEPT_ENCODING, "gzip, br".parse().expect("value"));
    let mut socket = ws_connect(request).await.expect("upgrade");
    app.create_task(&owner, &pid, json!({"title": "Live"}))
        .await;
    let events = socket.events(1).await;
    assert_eq!(events[0]["type"], "task.created");
}
