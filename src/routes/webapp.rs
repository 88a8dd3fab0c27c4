//! The web app (`web/`, built and embedded by `build.rs`), served under `/app/` from the
//! binary itself: no files on disk, no Node.js and no internet access at run time.
//!
//! * `/` and `/app` redirect to `/app/`;
//! * a file of the app is served as it is; content-hashed files under `/app/assets/` are
//!   cached for a year (a new build gives new names), other files briefly;
//! * every other path under `/app/` answers `index.html` (the client-side router draws the
//!   page, so deep links survive a reload), never cached without revalidation so a new
//!   build is picked up at once; a missing file under `/app/assets/` is a real 404, so that a
//!   stale page asking for an old bundle fails loudly instead of receiving HTML as script.
//!
//! These routes are not part of the OpenAPI document (like `/docs`).

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use include_dir::{Dir, File, include_dir};
use sha2::{Digest, Sha256};

use crate::http::conditional::if_none_match;
use crate::http::encoding::{Accepted, Coding};
use crate::http::problem::ApiResult;
use flowtrack_core::error::AppError;

/// The built app (`web/dist`, or the placeholder page when it was not built).
static APP: Dir<'static> = include_dir!("$OUT_DIR/webapp");

/// Scripts only from this origin (no inline script, no `eval`); inline styles are allowed
/// because React and the drag-and-drop library set `style` attributes. `connect-src` allows
/// the WebSocket of the same host (`'self'` covers `ws:`/`wss:` only in newer browsers).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self' ws: wss:; \
     font-src 'self'; manifest-src 'self'; base-uri 'self'; form-action 'self'; \
     frame-ancestors 'none'; object-src 'none'";

const PREFIX: &str = "/app/";
const ASSETS: &str = "assets/";
const INDEX: &str = "index.html";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const NO_CACHE: &str = "no-cache";
/// Icons and the manifest keep their names across builds, so they are cached briefly only.
const SHORT_CACHE: &str = "public, max-age=3600";

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(to_app))
        .route("/app", get(to_app))
        .route("/app/", get(page))
        .route("/app/{*path}", get(page))
        .layer(middleware::from_fn(security_headers))
}

/// 302 to `/app/`, keeping a query string.
async fn to_app(uri: Uri) -> Response {
    let location = match uri.query() {
        Some(query) => format!("{PREFIX}?{query}"),
        None => PREFIX.to_string(),
    };
    match HeaderValue::from_str(&location) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(_) => (
            StatusCode::FOUND,
            [(header::LOCATION, HeaderValue::from_static(PREFIX))],
        )
            .into_response(),
    }
}

/// Any path under `/app/`. The raw (still percent-encoded) path is used: the app's file
/// names are plain ASCII, and an undecodable path then simply names no file.
async fn page(uri: Uri, headers: HeaderMap) -> ApiResult<Response> {
    let path = uri.path().strip_prefix(PREFIX).unwrap_or("");
    // The `.gz` copies are an encoding of their file, not files of the app.
    let found = if path.is_empty() || path.ends_with(".gz") {
        None
    } else {
        APP.get_file(path)
    };
    match found {
        Some(file) => Ok(serve(path, file, &headers)),
        None if path.starts_with(ASSETS) => Err(AppError::NotFound.into()),
        None => {
            let index = APP.get_file(INDEX).ok_or(AppError::NotFound)?;
            Ok(serve(INDEX, index, &headers))
        }
    }
}

fn serve(path: &str, file: &'static File<'static>, headers: &HeaderMap) -> Response {
    let gzip = accepts_gzip(headers)
        .then(|| APP.get_file(format!("{path}.gz")))
        .flatten();
    let has_gzip_copy = gzip.is_some() || APP.get_file(format!("{path}.gz")).is_some();
    let (body, etag) = match gzip {
        Some(gz) => (gz.contents(), etag_of(gz)),
        None => (file.contents(), etag_of(file)),
    };
    let cache = if path.starts_with(ASSETS) {
        IMMUTABLE
    } else if path.ends_with(".html") {
        NO_CACHE
    } else {
        SHORT_CACHE
    };

    let mut response = if if_none_match(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = body.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(path)),
        );
        if gzip.is_some() {
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        response
    };
    let out = response.headers_mut();
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    out.insert(header::ETAG, etag);
    if has_gzip_copy {
        out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

/// Strong ETags: a hash of each embedded file, computed once on first use.
fn etag_of(file: &'static File<'static>) -> HeaderValue {
    static ETAGS: LazyLock<HashMap<&'static str, HeaderValue>> = LazyLock::new(|| {
        let mut etags = HashMap::new();
        let mut stack = vec![&APP];
        while let Some(dir) = stack.pop() {
            stack.extend(dir.dirs());
            for file in dir.files() {
                if let Some(path) = file.path().to_str() {
                    let digest = Sha256::digest(file.contents());
                    let tag = format!("\"{}\"", hex::encode(&digest[..12]));
                    if let Ok(value) = HeaderValue::from_str(&tag) {
                        etags.insert(path, value);
                    }
                }
            }
        }
        etags
    });
    file.path()
        .to_str()
        .and_then(|path| ETAGS.get(path))
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("\"0\""))
}

/// `Accept-Encoding` accepts `gzip` (by name or `*`, with a non-zero quality).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    Accepted::of(headers).accepts(Coding::Gzip)
}

fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map_or("", |(_, ext)| ext);
    match extension.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// The headers of every answer of these routes (pages, files, redirects and their errors).
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::http::conditional::headers;

    #[test]
    fn gzip_is_accepted_unless_refused() {
        assert!(accepts_gzip(&headers(&[("accept-encoding", "gzip, br")])));
        assert!(accepts_gzip(&headers(&[(
            "accept-encoding",
            "br;q=1, GZIP;q=0.5"
        )])));
        assert!(accepts_gzip(&headers(&[("accept-encoding", "*")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "gzip;q=0")])));
        assert!(!accepts_gzip(&headers(&[(
            "accept-encoding",
            "br, identity"
        )])));
        assert!(!accepts_gzip(&headers(&[])));
    }

    #[test]
    fn the_app_has_an_index_that_loads_a_hashed_script() {
        let index = APP.get_file(INDEX).expect("index.html embedded");
        let html = std::str::from_utf8(index.contents()).expect("utf-8");
        assert!(html.contains("src=\"/app/assets/"), "{html}");
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("assets/index-3fa2.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("manifest.webmanifest"),
            "application/manifest+json"
        );
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }
}
