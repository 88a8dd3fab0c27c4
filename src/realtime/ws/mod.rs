//! `GET /ws/notifications/{user_id}`: the WebSocket stream of a user's project events and
//! personal notifications.
//!
//! Authentication happens before the upgrade (401 / 403 as HTTP answers). Each socket keeps,
//! per project, the ranges of seqs it has sent, so a resume (`?resume=` at the upgrade or a
//! `resume` message later) replays exactly what this socket has not sent yet, from the
//! `events` table, and live events are never sent twice.

use std::collections::HashMap;
use std::time::Duration;

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::http::input::Query;
use crate::http::path::PathId;
use crate::http::problem::{ApiResult, Problem};
use crate::realtime::hub::{ConnId, Hub, Outbound, ReplayRange, SOCKET_QUEUE, fetch_events};
use crate::realtime::outlet::{Outlet, SessionIo, text_frame};
use crate::state::AppState;
use flowtrack_core::error::{AppError, FieldError};
use flowtrack_store::auth::{Principal, TokenGrant};
use flowtrack_store::feed;
use flowtrack_store::services::auth::authenticate;
use flowtrack_store::services::tokens;

mod session;
mod upgrade;

use session::Session;
use upgrade::Upgrade;

/// A session's socket: read by the WebSocket protocol, written through its outlet.
type Socket = WebSocketStream<SessionIo>;

/// Idle sockets get a ping this often (the first one 30–60 s after the last message).
const PING_EVERY: Duration = Duration::from_secs(30);
/// Close code: the token expired or the user was deactivated.
pub const CLOSE_AUTH: u16 = 4001;
/// Close code: the client could not keep up; reconnect and resume.
pub const CLOSE_TOO_SLOW: u16 = 1013;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(notifications_socket))
}

/// Takes the bearer token from `?token=` or from `Sec-WebSocket-Protocol: bearer, <token>`
/// (then the answer selects the subprotocol `bearer`, never echoing the token).
fn token_from(query: &HashMap<String, String>, req: &Request) -> Option<(String, bool)> {
    if let Some(token) = query.get("token").filter(|t| !t.is_empty()) {
        return Some((token.clone(), false));
    }
    let offered: Vec<String> = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .collect();
    let at = offered
        .iter()
        .position(|p| p.eq_ignore_ascii_case("bearer"))?;
    offered
        .get(at + 1)
        .filter(|t| !t.is_empty())
        .map(|t| (t.clone(), true))
}

/// Parses `?resume=<project_id>:<seq>,…`.
fn parse_resume(raw: &str) -> ApiResult<HashMap<Uuid, i64>> {
    let mut cursors = HashMap::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let parsed = part.split_once(':').and_then(|(p, s)| {
            Some((
                Uuid::parse_str(p.trim()).ok()?,
                s.trim().parse::<i64>().ok()?,
            ))
        });
        match parsed {
            Some((project, seq)) if seq >= 0 => {
                cursors.insert(project, seq);
            }
            _ => {
                return Err(AppError::Validation(vec![FieldError::new(
                    "resume",
                    "must be a list of <project_id>:<seq> (seq ≥ 0), comma-separated",
                )])
                .into());
            }
        }
    }
    Ok(cursors)
}

/// Open the real-time stream (WebSocket upgrade).
///
/// Authenticate with `?token=<access token>` or the subprotocol pair
/// `Sec-WebSocket-Protocol: bearer, <token>`. Server → client messages are JSON text frames:
/// project events `{type, project_id, seq, actor_id, at, data}`, personal notifications
/// `{"type":"notification","notification":{…}}`, `{"type":"pong"}` and
/// `{"type":"resync","project_id":…}`. Client → server: `{"type":"ping"}` and
/// `{"type":"resume","cursors":{"<project_id>":<last seq>}}`. Close codes: 4001 token expired
/// or user deactivated, 1001 server shutdown, 1013 client too slow (reconnect and resume).
#[utoipa::path(
    get, path = "/ws/notifications/{user_id}", tag = "realtime",
    params(
        ("user_id" = Uuid, Path, description = "Must be the token's user"),
        ("token" = Option<String>, Query, description = "Access token (or use the subprotocol pair)"),
        ("resume" = Option<String>, Query, description = "`<project_id>:<seq>,…`: replay events after these seqs before any live one"),
    ),
    responses(
        (status = 101, description = "Switching protocols"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token belongs to another user", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `resume`", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn notifications_socket(
    State(state): State<AppState>,
    PathId(user_id): PathId,
    req: Request,
) -> ApiResult<Response> {
    let (mut parts, body) = req.into_parts();
    let Query(query) = Query::from_request_parts(&mut parts, &state).await?;
    let req = Request::from_parts(parts, body);
    let (token, via_subprotocol) = token_from(&query, &req)
        .ok_or_else(|| AppError::Unauthorized("An access token is required.".into()))?;
    let (principal, expires_at) = authenticate(&state, &token).await?;
    if principal.id() != user_id {
        return Err(AppError::Forbidden("This stream belongs to another user.".into()).into());
    }
    let resume = match query.get("resume") {
        Some(raw) => parse_resume(raw)?,
        None => HashMap::new(),
    };
    let (mut parts, _) = req.into_parts();
    let upgrade = Upgrade::from_parts(&mut parts)?;
    // Joined before the 101 answer: every event committed after the client sees the
    // upgrade complete reaches this socket.
    let (tx, rx) = mpsc::channel::<Outbound>(SOCKET_QUEUE);
    let bound = principal.grant.as_ref().and_then(|g| g.project_id);
    let outlet = Outlet::new(tx, bound);
    let registration = Registration::new(&state, user_id, outlet.clone()).await?;
    let start = join(&state, &principal, registration.conn, resume).await?;
    let protocol = via_subprotocol.then_some("bearer");
    Ok(
        upgrade.accept(protocol, move |stream, slot, read_ahead| async move {
            outlet.attach(stream, slot);
            let socket = WebSocketStream::from_partially_read(
                SessionIo(outlet.clone()),
                read_ahead.to_vec(),
                Role::Server,
                Some(socket_config()),
            )
            .await;
            let epoch = principal.user.session_epoch;
            let session = Session::new(state, user_id, outlet, start.after, principal.grant, epoch);
            // Boxed: the upgrade task would otherwise hold the session inline in a state machine
            // about twice its size (heaptrack: 4.0 KiB per socket → see bench/README).
            Box::pin(session.run(socket, rx, registration, start.replay, expires_at)).await;
        }),
    )
}

/// The protocol's limits for a socket. Small buffers: 10 000 idle sockets must fit in a few
/// tens of MiB. Writes never wait in the protocol's buffer (the outlet takes every byte).
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024))
}

/// A socket's place in the hub, left when dropped: at the socket's end, or when the upgrade
/// never completes (the client went away before it).
pub(super) struct Registration {
    hub: Hub,
    conn: ConnId,
}

impl Registration {
    async fn new(state: &AppState, user_id: Uuid, outlet: Arc<Outlet>) -> ApiResult<Self> {
        let conn = state
            .hub()
            .register(user_id, outlet)
            .await
            .ok_or_else(|| AppError::Unavailable("the hub has stopped".into()))?;
        Ok(Self {
            hub: state.hub().clone(),
            conn,
        })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.unregister(self.conn);
    }
}

/// Where a socket starts: per project, the seq it starts after (events up to it are not
/// its to send), and the cursors to replay before any live event.
struct Start {
    after: HashMap<Uuid, i64>,
    replay: HashMap<Uuid, i64>,
}

/// Follows the user's projects, read after the socket was registered (so a project the user
/// joins meanwhile is caught either way: by this read, or live as a join). The socket starts
/// after the seq read for each project, or after the client's own cursor (`?resume=`); it
/// replays the client's cursors, and for every other project where the hub had already
/// delivered events past the seq read here, those events (they went out before this socket
/// was following). Older events that reach its queue anyway (a join still on its way over
/// the bus when the socket registered) are skipped.
async fn join(
    state: &AppState,
    principal: &Principal,
    conn: ConnId,
    resume: HashMap<Uuid, i64>,
) -> ApiResult<Start> {
    let mut memberships = feed::memberships(&state.db, principal.id()).await?;
    memberships.retain(|(project_id, _)| principal.may_see_project(*project_id));
    let read: HashMap<Uuid, i64> = memberships.iter().copied().collect();
    let positions = state
        .hub()
        .follow(conn, memberships)
        .await
        .ok_or_else(|| AppError::Unavailable("the hub has stopped".into()))?;
    let mut after = read.clone();
    after.extend(resume.iter().map(|(p, s)| (*p, *s)));
    let mut replay = resume;
    for (project_id, delivered) in positions {
        let seq = read.get(&project_id).copied().unwrap_or(delivered);
        if delivered > seq {
            replay.entry(project_id).or_insert(seq);
        }
    }
    Ok(Start { after, replay })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_parameter_is_strict() {
        let p = Uuid::now_v7();
        let parsed = parse_resume(&format!("{p}:3")).expect("valid");
        assert_eq!(parsed.get(&p), Some(&3));
        assert!(parse_resume("nope").is_err());
        assert!(parse_resume(&format!("{p}:-1")).is_err());
        assert!(parse_resume("").expect("empty").is_empty());
    }
}
