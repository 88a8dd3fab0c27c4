//! The web app embedded in the binary and served under `/app/` (docs/api.md, "Web app"): redirects,
//! deep links answered with `index.html`, caching of hashed assets, the security headers,
//! and `flowtrack openapi`. Written so that they hold for the real app and for the
//! placeholder page embedded when the app was not built (`FLOWTRACK_SKIP_WEB_BUILD=1`): both
//! load a module script from `/app/assets/`.

use std::process::Stdio;

use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION,
    VARY,
};
use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::helpers::*;

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn header_or_empty(response: &Response, name: impl reqwest::header::AsHeaderName) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// CSP with `script-src 'self'` (and no way around it), nosniff, same-origin referrers.
fn assert_page_headers(response: &Response) {
    let csp = header_or_empty(response, "content-security-policy");
    let script_src = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src "))
        .unwrap_or_else(|| panic!("no script-src in CSP {csp:?}"));
    assert_eq!(script_src, "script-src 'self'", "CSP {csp:?}");
    assert!(!csp.contains("unsafe-eval"), "CSP {csp:?}");
    assert!(csp.contains("default-src 'self'"), "CSP {csp:?}");
    assert!(csp.contains("object-src 'none'"), "CSP {csp:?}");
    assert!(csp.contains("frame-ancestors 'none'"), "CSP {csp:?}");
    assert_eq!(
        header_or_empty(response, "x-content-type-options"),
        "nosniff"
    );
    assert_eq!(header_or_empty(response, "referrer-policy"), "same-origin");
}

/// The app's `index.html` answer: HTML, revalidated on every use, with the page headers.
async fn assert_index(response: Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header_or_empty(&response, CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    assert_eq!(header_or_empty(&response, CACHE_CONTROL), "no-cache");
    assert_page_headers(&response);
    let html = response.text().await.expect("body");
    assert!(
        html.to_ascii_lowercase().starts_with("<!doctype html>"),
        "{html}"
    );
    html
}

/// The `src` of the page's first module script (Vite's entry chunk).
fn entry_script(html: &str) -> String {
    let start = html
        .find("<script type=\"module\"")
        .unwrap_or_else(|| panic!("no module script in {html}"));
    let rest = &html[start..];
    let src = rest
        .find("src=\"")
        .map(|i| &rest[i + 5..])
        .unwrap_or_else(|| panic!("no src in {rest}"));
    let end = src.find('"').expect("closing quote");
    src[..end].to_string()
}

#[tokio::test]
async fn root_and_app_redirect_to_the_app() {
    let app = TestApp::spawn().await;
    let client = no_redirects();
    for path in ["/", "/app"] {
        let response = client.get(app.url(path)).send().await.expect("get");
        assert_eq!(response.status(), StatusCode::FOUND, "{path}");
        assert_eq!(header_or_empty(&response, LOCATION), "/app/", "{path}");
        let head = client.head(app.url(path)).send().await.expect("head");
        assert_eq!(head.status(), StatusCode::FOUND, "HEAD {path}");
    }
    let response = client.get(app.url("/app?x=1")).send().await.expect("get");
    assert_eq!(header_or_empty(&response, LOCATION), "/app/?x=1");
}

#[tokio::test]
async fn app_root_and_deep_links_answer_index_html() {
    let app = TestApp::spawn().await;
    let index = assert_index(app.get("/app/").send().await.expect("get")).await;
    let deep = format!("/app/projects/{}", uuid::Uuid::now_v7());
    for path in [
        deep.as_str(),
        "/app/projects",
        "/app/tasks/123/x?y=z",
        "/app/index.html",
        "/app/assets",
    ] {
        let html = assert_index(app.get(path).send().await.expect("get")).await;
        assert_eq!(html, index, "{path}");
    }
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let app = TestApp::spawn().await;
    let response = app
        .request(reqwest::Method::HEAD, "/app/projects/x")
        .send()
        .await
        .expect("head");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header_or_empty(&response, CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    assert_eq!(header_or_empty(&response, CACHE_CONTROL), "no-cache");
    assert_page_headers(&response);
    assert!(response.bytes().await.expect("body").is_empty());
}

#[tokio::test]
async fn hashed_assets_are_cached_forever() {
    let app = TestApp::spawn().await;
    let html = assert_index(app.get("/app/").send().await.expect("get")).await;
    let script = entry_script(&html);
    assert!(script.starts_with("/app/assets/"), "{script}");
    assert!(script.ends_with(".js"), "{script}");

    let response = app.get(&script).send().await.expect("get");
    assert_eq!(response.status(), StatusCode::OK, "{script}");
    assert_eq!(
        header_or_empty(&response, CONTENT_TYPE),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        header_or_empty(&response, CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    assert_page_headers(&response);
    assert!(response.content_length().unwrap_or(0) > 0);
}

#[tokio::test]
async fn a_missing_asset_is_a_404_problem() {
    let app = TestApp::spawn().await;
    for path in ["/app/assets/x.js", "/app/assets/", "/app/assets/a/b.css"] {
        let response = app.get(path).send().await.expect("get");
        assert_page_headers(&response);
        assert_problem(response, 404, "not_found").await;
    }
    // API 404s keep their shape.
    let response = app.get("/no/such/route").send().await.expect("get");
    assert_problem(response, 404, "not_found").await;
}

#[tokio::test]
async fn only_get_and_head_are_allowed() {
    let app = TestApp::spawn().await;
    let response = app.post("/app/projects").send().await.expect("post");
    let allow = header_or_empty(&response, "allow");
    assert!(allow.contains("GET") && allow.contains("HEAD"), "{allow}");
    assert_problem(response, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn etags_answer_304_and_gzip_is_offered_when_accepted() {
    let app = TestApp::spawn().await;
    let response = app.get("/app/").send().await.expect("get");
    let etag = header_or_empty(&response, ETAG);
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag:?}");
    let again = app
        .get("/app/projects")
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .expect("get");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header_or_empty(&again, ETAG), etag);
    assert_eq!(header_or_empty(&again, CACHE_CONTROL), "no-cache");

    // The entry script of the real app is large enough to have a gzip copy (the
    // placeholder's is not); either way an answer without Accept-Encoding is plain.
    let script = entry_script(&response.text().await.expect("body"));
    let plain = app.get(&script).send().await.expect("get");
    assert_eq!(header_or_empty(&plain, CONTENT_ENCODING), "");
    let plain_len = plain.bytes().await.expect("body").len();
    let gzipped = app
        .get(&script)
        .header(ACCEPT_ENCODING, "gzip, br")
        .send()
        .await
        .expect("get");
    if header_or_empty(&gzipped, CONTENT_ENCODING) == "gzip" {
        assert_eq!(header_or_empty(&gzipped, VARY), "accept-encoding");
        assert_eq!(
            header_or_empty(&gzipped, CONTENT_TYPE),
            "text/javascript; charset=utf-8"
        );
        let body = gzipped.bytes().await.expect("body");
        assert_eq!(&body[..2], &[0x1f, 0x8b], "gzip magic");
        assert!(body.len() < plain_len);
    }
}

#[tokio::test]
async fn app_requests_are_metered_under_their_route_templates() {
    let app = TestApp::spawn().await;
    // The first scrape installs the process-wide recorder if nothing did yet.
    app.get("/metrics").send().await.expect("metrics");
    let deep = format!("/app/projects/{}", uuid::Uuid::now_v7());
    app.get(&deep).send().await.expect("get");
    app.get("/app/assets/missing.js").send().await.expect("get");
    let metrics = metrics_text(&app).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("http_requests_total{")
                && l.contains(r#"route="/app/{*path}""#)
                && l.contains(r#"status="200""#)),
        "{metrics}"
    );
    // Never one series per visited URL.
    assert!(!metrics.contains(&deep), "deep link recorded as a route");
    assert!(
        !metrics.contains("missing.js"),
        "asset path recorded as a route"
    );
}

#[tokio::test]
async fn the_app_is_not_part_of_the_openapi_document() {
    let app = TestApp::spawn().await;
    let spec: Value = app
        .get("/openapi.json")
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let paths = spec["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/tasks"));
    for path in paths.keys() {
        assert!(
            path != "/" && !path.starts_with("/app"),
            "{path} documented"
        );
    }
}

/// `flowtrack openapi` prints the served document, with no database and no valid settings.
#[tokio::test]
async fn cli_openapi_prints_the_document_without_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_flowtrack"))
        .arg("openapi")
        .current_dir(dir.path())
        .env_clear()
        // Settings that would stop `serve`: the document must not depend on them.
        .env("FLOWTRACK_BIND", "not an address")
        .env("DATABASE_URL", "nonsense://")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run flowtrack openapi");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert!(
        dir.path().read_dir().expect("dir").next().is_none(),
        "no file (database) created"
    );

    let app = TestApp::spawn().await;
    let served: Value = app
        .get("/openapi.json")
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(printed, served);
}
