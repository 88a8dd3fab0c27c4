//! `GET /projects/{id}/board`: the cached board, as JSON or compressed (br, gzip) as the
//! request's `Accept-Encoding` prefers, with an entity tag per representation and
//! `If-None-Match`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::AuthUser;
use crate::http::conditional::if_none_match;
use crate::http::encoding::{self, Coding};
use crate::http::problem::{ApiResult, Problem};
use crate::routes::PathId;
use crate::state::AppState;
use flowtrack_core::error::AppError;
use flowtrack_store::cache::CachedBoard;
use flowtrack_store::services::projects::{self as service, Board};

/// Every board answer varies with `Accept-Encoding` (304s too, RFC 9110 15.4.5).
fn vary() -> HeaderValue {
    HeaderValue::from_static("accept-encoding")
}

/// The kanban board: four columns in order, tasks in board order, and the event `seq` of
/// the same snapshot.
///
/// The answer carries an `ETag` that changes with the project's event seq: send it back in
/// `If-None-Match` to get 304 (no body) while the board is unchanged. With
/// `Accept-Encoding` accepting `br` or `gzip`, the board comes compressed (`Content-Encoding`),
/// with an `ETag` of its own per encoding; any of the board's current tags gets the 304.
#[utoipa::path(
    get, path = "/projects/{id}/board", tag = "projects",
    security(("bearer" = []), ("oauth2" = [])),
    params(
        ("id" = Uuid, Path, description = "Project id"),
        ("If-None-Match" = Option<String>, Header, description = "The `ETag` of a board you hold: 304 while it is current"),
    ),
    responses(
        (status = 200, body = Board, headers(
            ("ETag" = String, description = "Changes with the board; differs per encoding"),
            ("Content-Encoding" = String, description = "`br` or `gzip` when `Accept-Encoding` accepts one (br preferred at equal q); absent: plain JSON"),
            ("Vary" = String, description = "`accept-encoding`"),
        )),
        (status = 304, description = "The board named in `If-None-Match` is current", headers(
            ("ETag" = String, description = "The tag of `If-None-Match` that names the current board"),
            ("Vary" = String, description = "`accept-encoding`"),
        )),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn get_board(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let board = service::board_json(&state, &me, id).await?;
    let wanted = encoding::negotiate(&headers);
    if let Some(held) = held_tag(&headers, board.seq, wanted)? {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, held), (header::VARY, vary())],
        )
            .into_response());
    }
    let compressed = match wanted {
        Some(coding) => compressed(&board, coding).await.map(|body| (coding, body)),
        None => None,
    };
    let coding = compressed.as_ref().map(|(coding, _)| *coding);
    let body = match compressed {
        Some((_, body)) => body,
        // The cached text itself goes out (no copy per request).
        None => Bytes::from_owner(SharedText(board.json.clone())),
    };
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::ETAG, etag(board.seq, coding)?),
            (header::VARY, vary()),
        ],
        body,
    )
        .into_response();
    if let Some(coding) = coding {
        response.headers_mut().insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(coding.name()),
        );
    }
    Ok(response)
}

/// The board's tag in one representation: the seq names the content, the version the JSON's
/// shape, the suffix the coding (a strong tag names exact bytes, so each coding needs its
/// own; RFC 9110 8.8.3).
fn etag(seq: i64, coding: Option<Coding>) -> ApiResult<HeaderValue> {
    let version = env!("CARGO_PKG_VERSION");
    let tag = match coding {
        None => format!("\"{seq}-{version}\""),
        Some(coding) => format!("\"{seq}-{version}-{}\"", coding.name()),
    };
    HeaderValue::try_from(tag).map_err(|e| AppError::internal(format!("board ETag: {e}")).into())
}

/// The current board's tag that `If-None-Match` names, if any: the wanted representation's
/// first (`*` means that one), else another one's. A client holding the gzip copy who now
/// also accepts br is told its copy is current, with its own tag, which is what a cache
/// needs to refresh the response it has (RFC 9111 4.3.4) rather than fetch the board again.
fn held_tag(
    headers: &HeaderMap,
    seq: i64,
    wanted: Option<Coding>,
) -> ApiResult<Option<HeaderValue>> {
    if !headers.contains_key(header::IF_NONE_MATCH) {
        return Ok(None);
    }
    for coding in [wanted, None, Some(Coding::Gzip), Some(Coding::Br)] {
        let tag = etag(seq, coding)?;
        if if_none_match(headers, &tag) {
            return Ok(Some(tag));
        }
    }
    Ok(None)
}

/// The board compressed with `coding`: the cached copy, else made now and kept beside the
/// JSON. Made on the blocking pool (a few milliseconds of CPU for a large board) and
/// outside any lock: two first requests racing may both compress, the first copy stored is
/// kept, and either is the same board. `None` (logged) if compressing failed: the JSON is
/// sent instead.
async fn compressed(board: &Arc<CachedBoard>, coding: Coding) -> Option<Bytes> {
    let slot = match coding {
        Coding::Br => &board.br,
        Coding::Gzip => &board.gzip,
    };
    if let Some(cached) = slot.get() {
        return Some(cached.clone());
    }
    let source = board.clone();
    let made =
        tokio::task::spawn_blocking(move || encoding::compress(coding, source.json.as_bytes()))
            .await;
    match made {
        Ok(Ok(bytes)) => Some(slot.get_or_init(|| Bytes::from(bytes)).clone()),
        Ok(Err(err)) => {
            tracing::error!(%err, coding = coding.name(), "compressing a board");
            None
        }
        Err(err) => {
            tracing::error!(%err, coding = coding.name(), "compressing a board");
            None
        }
    }
}

/// A cached JSON text as a response body's bytes.
struct SharedText(Arc<str>);

impl AsRef<[u8]> for SharedText {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}
