//! `GET /ws/notifications/{user_id}`: the WebSocket stream of a user's project events and
//! personal notifications.
//!
//! Authentication happens before the upgrade (401 / 403 as HTTP answers). Each socket keeps,
//! per project, the ranges of seqs it has sent, so a resume (`?resume=` at the upgrade or a
//! `resume` message later) replays exactly what this socket has not sent yet, from the
//! `events` table, and live events are never sent twice.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use axum::extract::{FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::extract::authenticate_with_expiry;
use crate::core::error::{AppError, AppResult, FieldError, Problem};
use crate::core::input::Query;
use crate::models::{events, project_members, projects};
use crate::realtime::hub::{ConnId, Hub, Outbound, SOCKET_QUEUE, fetch_events};
use crate::routes::PathId;
use crate::services::event::EventType;
use crate::state::AppState;

/// Idle sockets get a ping this often.
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
fn parse_resume(raw: &str) -> AppResult<HashMap<Uuid, i64>> {
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
                )]));
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
) -> AppResult<Response> {
    let (mut parts, body) = req.into_parts();
    let Query(query) = Query::from_request_parts(&mut parts, &state).await?;
    let req = Request::from_parts(parts, body);
    let (token, via_subprotocol) = token_from(&query, &req)
        .ok_or_else(|| AppError::Unauthorized("An access token is required.".into()))?;
    let (principal, expires_at) = authenticate_with_expiry(&state, &token).await?;
    if principal.id() != user_id {
        return Err(AppError::Forbidden(
            "This stream belongs to another user.".into(),
        ));
    }
    let resume = match query.get("resume") {
        Some(raw) => parse_resume(raw)?,
        None => HashMap::new(),
    };
    let (mut parts, _) = req.into_parts();
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &state)
        .await
        .map_err(|e| AppError::BadRequest(format!("Not a WebSocket upgrade: {e}")))?;
    let upgrade = if via_subprotocol {
        upgrade.protocols(["bearer"])
    } else {
        upgrade
    };
    // Joined before the 101 answer: every event committed after the client sees the
    // upgrade complete reaches this socket.
    let (tx, rx) = mpsc::channel::<Outbound>(SOCKET_QUEUE);
    let registration = Registration::new(&state, user_id, tx).await?;
    let replay = join(&state, user_id, registration.conn, resume).await?;
    Ok(upgrade
        // Small buffers: 10 000 idle sockets must fit in a few tens of MiB.
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(64 * 1024)
        .max_frame_size(64 * 1024)
        .on_upgrade(move |socket| async move {
            let session = Session {
                state,
                user_id,
                sent: HashMap::new(),
            };
            // Boxed: axum's upgrade task would otherwise hold the session inline in a state
            // machine about twice its size (heaptrack: 4.0 KiB per socket → see bench/README).
            Box::pin(session.run(socket, rx, registration, replay, expires_at)).await;
        })
        .into_response())
}

/// A socket's place in the hub, left when dropped: at the socket's end, or when the upgrade
/// never completes (the client went away before it).
struct Registration {
    hub: Hub,
    conn: ConnId,
}

impl Registration {
    async fn new(
        state: &AppState,
        user_id: Uuid,
        sender: mpsc::Sender<Outbound>,
    ) -> AppResult<Self> {
        let conn = state
            .hub
            .register(user_id, sender)
            .await
            .ok_or_else(|| AppError::Unavailable("the hub has stopped".into()))?;
        Ok(Self {
            hub: state.hub.clone(),
            conn,
        })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.unregister(self.conn);
    }
}

/// Follows the user's projects, read after the socket was registered (so a project the user
/// joins meanwhile is caught either way: by this read, or live as a join). Returns the
/// cursors to replay: the client's own (`?resume=`), and for every other project where the
/// hub had already delivered events past the seq read here, that seq (those events went
/// out before this socket was following).
async fn join(
    state: &AppState,
    user_id: Uuid,
    conn: ConnId,
    resume: HashMap<Uuid, i64>,
) -> AppResult<HashMap<Uuid, i64>> {
    let memberships = user_projects(state, user_id).await?;
    let read: HashMap<Uuid, i64> = memberships.iter().copied().collect();
    let positions = state
        .hub
        .follow(conn, memberships)
        .await
        .ok_or_else(|| AppError::Unavailable("the hub has stopped".into()))?;
    let mut replay = resume;
    for (project_id, delivered) in positions {
        let seq = read.get(&project_id).copied().unwrap_or(delivered);
        if delivered > seq {
            replay.entry(project_id).or_insert(seq);
        }
    }
    Ok(replay)
}

/// The seq of the user's latest join of the project up to `to` (its creation by them, or
/// their `member.added`), if the log still holds it.
async fn latest_join(
    state: &AppState,
    project_id: Uuid,
    user_id: Uuid,
    to: i64,
) -> AppResult<Option<i64>> {
    let joins = [EventType::ProjectCreated, EventType::MemberAdded].map(EventType::as_str);
    let seq: Option<Option<i64>> = events::Entity::find()
        .select_only()
        .expr(Func::max(Expr::col(events::Column::Seq)))
        .filter(events::Column::ProjectId.eq(project_id))
        .filter(events::Column::SubjectId.eq(user_id))
        .filter(events::Column::EventType.is_in(joins))
        .filter(events::Column::Seq.lte(to))
        .into_tuple()
        .one(&state.db.read)
        .await?;
    Ok(seq.flatten())
}

/// The user's projects with their current `event_seq`, in one statement: one snapshot,
/// so a membership and the seq read with it agree (a removal commits both at once), which
/// the hub relies on to tell a stale membership from a current one.
async fn user_projects(state: &AppState, user_id: Uuid) -> AppResult<Vec<(Uuid, i64)>> {
    let member_of = sea_orm::sea_query::Query::select()
        .column(project_members::Column::ProjectId)
        .from(project_members::Entity)
        .and_where(project_members::Column::UserId.eq(user_id))
        .to_owned();
    Ok(projects::Entity::find()
        .select_only()
        .column(projects::Column::Id)
        .column(projects::Column::EventSeq)
        .filter(projects::Column::Id.in_subquery(member_of))
        .into_tuple()
        .all(&state.db.read)
        .await?)
}

/// Disjoint, sorted ranges of seqs already sent on a socket for one project.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SentRanges(Vec<(i64, i64)>);

impl SentRanges {
    pub fn contains(&self, seq: i64) -> bool {
        self.0.iter().any(|&(a, b)| a <= seq && seq <= b)
    }

    /// Records `seq` as sent (merging adjacent ranges).
    pub fn insert(&mut self, seq: i64) {
        if self.contains(seq) {
            return;
        }
        self.0.push((seq, seq));
        self.0.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(self.0.len());
        for &(a, b) in &self.0 {
            match merged.last_mut() {
                Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.0 = merged;
    }
}

struct Session {
    state: AppState,
    user_id: Uuid,
    sent: HashMap<Uuid, SentRanges>,
}

enum Flow {
    Continue,
    Stop,
}

fn text(value: &Value) -> Message {
    Message::Text(Utf8Bytes::from(value.to_string()))
}

impl Session {
    async fn run(
        mut self,
        mut socket: WebSocket,
        mut rx: mpsc::Receiver<Outbound>,
        // Held for the socket's life: dropping it leaves the hub.
        _registration: Registration,
        replay: HashMap<Uuid, i64>,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) {
        // Replay first: live events queue meanwhile and are deduplicated after.
        // Boxed: the replay's database reads would otherwise be part of the size of every
        // socket's task for its whole life (1.9 KB per socket).
        if !replay.is_empty()
            && matches!(Box::pin(self.resume(&mut socket, replay)).await, Flow::Stop)
        {
            return;
        }
        let until_expiry = (expires_at - self.state.clock.now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        let expiry = tokio::time::sleep(until_expiry);
        tokio::pin!(expiry);
        let shutdown = self.state.shutdown.clone();
        let mut idle = tokio::time::interval(PING_EVERY);
        idle.reset();
        loop {
            let flow = tokio::select! {
                () = shutdown.cancelled() => close(&mut socket, 1001, "server shutting down").await,
                () = &mut expiry => close(&mut socket, CLOSE_AUTH, "token expired").await,
                outbound = rx.recv() => match outbound {
                    Some(message) => {
                        idle.reset();
                        self.on_outbound(&mut socket, message).await
                    }
                    None => close(&mut socket, CLOSE_TOO_SLOW, "too slow; reconnect and resume").await,
                },
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Text(raw))) => {
                        idle.reset();
                        self.on_client_message(&mut socket, raw.as_str()).await
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => Flow::Stop,
                    Some(Ok(_)) => Flow::Continue,
                },
                _ = idle.tick() => match socket.send(Message::Ping(Default::default())).await {
                    Ok(()) => Flow::Continue,
                    Err(_) => Flow::Stop,
                },
            };
            if matches!(flow, Flow::Stop) {
                break;
            }
        }
    }

    async fn on_outbound(&mut self, socket: &mut WebSocket, message: Outbound) -> Flow {
        match message {
            Outbound::Event(delivery) => {
                let event = &delivery.event;
                let sent = self.sent.entry(event.project_id()).or_default();
                if sent.contains(event.seq()) {
                    return Flow::Continue;
                }
                sent.insert(event.seq());
                send(socket, Message::Text(delivery.text.clone())).await
            }
            Outbound::Text(payload) => {
                send(socket, Message::Text(Utf8Bytes::from(payload.to_string()))).await
            }
            Outbound::Close(code, reason) => close(socket, code, reason).await,
            Outbound::Replay {
                project_id,
                from,
                to,
            } => {
                // A socket that sent any event of the project already follows it; only one
                // that missed the join replays (in order, before later live events).
                if self.sent.contains_key(&project_id) {
                    return Flow::Continue;
                }
                Box::pin(self.replay_missed_join(socket, project_id, from, to)).await
            }
        }
    }

    async fn on_client_message(&mut self, socket: &mut WebSocket, raw: &str) -> Flow {
        let Ok(message) = serde_json::from_str::<Value>(raw) else {
            return send(
                socket,
                text(&json!({"type": "error", "message": "messages must be JSON objects"})),
            )
            .await;
        };
        match message["type"].as_str() {
            Some("ping") => send(socket, text(&json!({"type": "pong"}))).await,
            Some("resume") => {
                let Some(raw_cursors) = message["cursors"].as_object() else {
                    return send(
                        socket,
                        text(&json!({"type": "error", "message": "resume needs a cursors object"})),
                    )
                    .await;
                };
                let cursors: HashMap<Uuid, i64> = raw_cursors
                    .iter()
                    .filter_map(|(p, s)| Some((Uuid::parse_str(p).ok()?, s.as_i64()?)))
                    .filter(|(_, s)| *s >= 0)
                    .collect();
                // Boxed: its database reads would otherwise size every socket's task.
                Box::pin(self.resume(socket, cursors)).await
            }
            _ => {
                send(
                    socket,
                    text(&json!({"type": "error", "message": "unknown message type"})),
                )
                .await
            }
        }
    }

    /// Replays, per project the user is a member of now, every kept event after its cursor
    /// that this socket has not sent; a cursor older than the kept events gets `resync`.
    async fn resume(&mut self, socket: &mut WebSocket, cursors: HashMap<Uuid, i64>) -> Flow {
        let db = self.state.db.clone();
        let member_of: Vec<Uuid> = match project_members::Entity::find()
            .select_only()
            .column(project_members::Column::ProjectId)
            .filter(project_members::Column::UserId.eq(self.user_id))
            .filter(project_members::Column::ProjectId.is_in(cursors.keys().copied()))
            .into_tuple()
            .all(&db.read)
            .await
        {
            Ok(ids) => ids,
            Err(_) => return close(socket, 1011, "try again").await,
        };
        for project_id in member_of {
            let cursor = cursors.get(&project_id).copied().unwrap_or(0);
            let bounds: Result<Option<(Option<i64>, Option<i64>)>, _> = events::Entity::find()
                .select_only()
                .expr(Func::min(Expr::col(events::Column::Seq)))
                .expr(Func::max(Expr::col(events::Column::Seq)))
                .filter(events::Column::ProjectId.eq(project_id))
                .into_tuple()
                .one(&db.read)
                .await;
            let Ok(bounds) = bounds else {
                return close(socket, 1011, "try again").await;
            };
            let (oldest, newest) = bounds.unwrap_or((None, None));
            let resync = match (oldest, newest) {
                (Some(oldest), Some(newest)) => cursor + 1 < oldest || cursor > newest,
                _ => cursor > 0,
            };
            if resync {
                let flow = send(
                    socket,
                    text(&json!({"type": "resync", "project_id": project_id})),
                )
                .await;
                if matches!(flow, Flow::Stop) {
                    return flow;
                }
                continue;
            }
            let Some(newest) = newest else { continue };
            if let Flow::Stop = self.replay(socket, project_id, cursor + 1, newest).await {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    /// Replays a project whose join this socket missed, from the join (`None`: the user's
    /// latest join up to `to`, read from the log; gone from the log: `resync`).
    async fn replay_missed_join(
        &mut self,
        socket: &mut WebSocket,
        project_id: Uuid,
        from: Option<i64>,
        to: i64,
    ) -> Flow {
        let from = match from {
            Some(from) => Some(from),
            None => match latest_join(&self.state, project_id, self.user_id, to).await {
                Ok(from) => from,
                Err(_) => return close(socket, 1011, "try again").await,
            },
        };
        match from {
            Some(from) => self.replay(socket, project_id, from, to).await,
            None => {
                let resync = json!({"type": "resync", "project_id": project_id});
                send(socket, text(&resync)).await
            }
        }
    }

    /// Sends the project's kept events `from..=to` that this socket has not sent, in order.
    async fn replay(
        &mut self,
        socket: &mut WebSocket,
        project_id: Uuid,
        from: i64,
        to: i64,
    ) -> Flow {
        let db = self.state.db.clone();
        let mut from = from;
        while from <= to {
            let Ok(batch) = fetch_events(&db, project_id, from, to).await else {
                return close(socket, 1011, "try again").await;
            };
            let Some(last) = batch.last().map(|e| e.seq()) else {
                break;
            };
            for event in batch {
                let sent = self.sent.entry(project_id).or_default();
                if sent.contains(event.seq()) {
                    continue;
                }
                sent.insert(event.seq());
                let text = Message::Text(Utf8Bytes::from(event.payload.to_string()));
                if let Flow::Stop = send(socket, text).await {
                    return Flow::Stop;
                }
            }
            from = last + 1;
        }
        Flow::Continue
    }
}

async fn send(socket: &mut WebSocket, message: Message) -> Flow {
    match socket.send(message).await {
        Ok(()) => Flow::Continue,
        Err(_) => Flow::Stop,
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) -> Flow {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })))
        .await;
    Flow::Stop
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_ranges_merge_and_answer_membership() {
        let mut r = SentRanges::default();
        for s in [5, 6, 7, 10, 9] {
            r.insert(s);
        }
        assert_eq!(r.0, vec![(5, 7), (9, 10)]);
        r.insert(8);
        assert_eq!(r.0, vec![(5, 10)]);
        assert!(r.contains(5) && r.contains(10) && !r.contains(4) && !r.contains(11));
    }

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
