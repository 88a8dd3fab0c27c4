//! One socket's life after the upgrade: the replay it owes, then its queue from the hub,
//! the client's messages, pings, token expiry and shutdown, each event sent once.

use super::*;

use std::future::Future;
use std::pin::Pin;

use futures_util::{SinkExt, StreamExt};

const NEVER: Duration = Duration::from_secs(365 * 24 * 3600);
/// How often a socket opened with an API token checks that the token still works (a
/// deleted token's sockets close within this, plus the token cache's second).
const TOKEN_CHECK_EVERY: Duration = Duration::from_millis(500);

pub(super) struct Session {
    state: AppState,
    user_id: Uuid,
    /// The socket's writer, shared with the hub; it holds the socket's event filter too.
    outlet: Arc<Outlet>,
    /// Set when the socket was opened with an API token (boxed: most sockets have none).
    grant: Option<Box<TokenGrant>>,
    /// The session epoch of the access token it was opened with (see
    /// [`Outbound::SessionsEndedBefore`]; unused with an API token, which is no session).
    session_epoch: i64,
}

/// Resolves once the API token a socket was opened with stops working (deleted, or its
/// owner deactivated), checked every half second; never for a socket opened with an access
/// token. Boxed: the check's database read would otherwise be part of the size of every
/// socket's task for its whole life (≈ 3 KiB per socket); the never-resolving future of an
/// access-token socket has no size, so its box allocates nothing.
fn token_revoked(
    state: AppState,
    grant: Option<TokenGrant>,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    let Some(grant) = grant else {
        return Box::pin(std::future::pending());
    };
    Box::pin(async move {
        loop {
            tokio::time::sleep(TOKEN_CHECK_EVERY).await;
            if !tokens::still_valid(&state, &grant).await {
                return;
            }
        }
    })
}

enum Flow {
    Continue,
    Stop,
}

impl Session {
    pub(super) async fn run(
        mut self,
        mut socket: Socket,
        mut rx: mpsc::Receiver<Outbound>,
        // Held for the socket's life: dropping it leaves the hub.
        _registration: Registration,
        replay: HashMap<Uuid, i64>,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    ) {
        // Replay first: live events queue meanwhile and are deduplicated after.
        // Boxed: the replay's database reads would otherwise be part of the size of every
        // socket's task for its whole life (1.9 KB per socket).
        if !replay.is_empty()
            && matches!(Box::pin(self.resume(&mut socket, replay)).await, Flow::Stop)
        {
            self.outlet.close();
            return;
        }
        // A token without expiry: a year is "never" for a socket (and fits an `Instant`).
        let until_expiry = expires_at.map_or(NEVER, |at| {
            (at - self.state.clock.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
        });
        let expiry = tokio::time::sleep(until_expiry);
        tokio::pin!(expiry);
        let mut revoked = token_revoked(self.state.clone(), self.grant.as_deref().cloned());
        // Pinned once: a `cancelled()` future made anew in every loop turn registers with
        // (and leaves) the token's locked waiter list for every message.
        let shutdown = self.state.shutdown.clone().cancelled_owned();
        tokio::pin!(shutdown);
        // Pings keep idle sockets alive through proxies. The timer is never reset: a reset per
        // message would be a timer-wheel update on every socket for every event (10 000 per
        // move in the fan-out bench); instead each tick pings only a socket that was quiet
        // since the previous one (nothing from the session, nothing from the hub's writers),
        // so a quiet socket is pinged every PING_EVERY, the first time 1–2 × PING_EVERY after
        // its last message.
        let mut idle = tokio::time::interval(PING_EVERY);
        idle.reset();
        let mut active_since_tick = false;
        loop {
            // Live events go straight to the socket again once this task has nothing of
            // the hub's left to handle (see `realtime::outlet`).
            self.outlet.release_if_idle(&rx);
            // Biased, the hub's queue first: when the hub wakes a session it is mostly with
            // events its socket could not take at once, and then only that branch is polled.
            // The queue is bounded, so the other branches wait at most for it to drain.
            let flow = tokio::select! {
                biased;
                outbound = rx.recv() => match outbound {
                    Some(message) => {
                        active_since_tick = true;
                        self.on_outbound(&mut socket, message).await
                    }
                    None => self.close(&mut socket, CLOSE_TOO_SLOW, "too slow; reconnect and resume").await,
                },
                () = &mut shutdown => self.close(&mut socket, 1001, "server shutting down").await,
                () = &mut expiry => self.close(&mut socket, CLOSE_AUTH, "token expired").await,
                () = &mut revoked => self.close(&mut socket, CLOSE_AUTH, "token revoked").await,
                incoming = socket.next() => match incoming {
                    Some(Ok(Message::Text(raw))) => {
                        active_since_tick = true;
                        self.on_client_message(&mut socket, raw.as_str()).await
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => Flow::Stop,
                    Some(Ok(_)) => Flow::Continue,
                },
                _ = idle.tick() => {
                    // Both taken: the hub's writes since the last tick count as activity.
                    if std::mem::take(&mut active_since_tick) | self.outlet.take_active() {
                        Flow::Continue
                    } else {
                        send(&mut socket, Message::Ping(Bytes::new())).await
                    }
                }
            };
            if matches!(flow, Flow::Stop) {
                break;
            }
        }
        self.outlet.close();
    }

    async fn on_outbound(&mut self, socket: &mut Socket, message: Outbound) -> Flow {
        match message {
            Outbound::Event(delivery) => {
                let event = &delivery.event;
                let admitted = self
                    .outlet
                    .with_filter(|f| f.admit_live(event.project_id(), event.seq()));
                if !admitted {
                    return Flow::Continue;
                }
                self.write(&delivery.frame).await
            }
            Outbound::Flush => self.write_queued().await,
            Outbound::Notification(frame) => {
                if !self.may_see(frame.project_id) {
                    return Flow::Continue;
                }
                self.write(&text_frame(&frame.text)).await
            }
            Outbound::Close(frame) => self.close(socket, frame.code, frame.reason).await,
            Outbound::SessionsEndedBefore(epoch) => {
                if self.grant.is_none() && self.session_epoch < epoch {
                    self.close(socket, CLOSE_AUTH, "password changed; sign in again")
                        .await
                } else {
                    Flow::Continue
                }
            }
            Outbound::Replay(range) => {
                let ReplayRange {
                    project_id,
                    from,
                    to,
                } = *range;
                // A socket that follows the project from its start, or sent any event of
                // it, already has it; only one that missed the join replays (in order,
                // before later live events).
                let has_it = self
                    .outlet
                    .with_filter(|f| f.has_project(project_id) || !f.may_see(project_id));
                if has_it {
                    return Flow::Continue;
                }
                Box::pin(self.replay_missed_join(socket, project_id, from, to)).await
            }
        }
    }

    async fn on_client_message(&mut self, socket: &mut Socket, raw: &str) -> Flow {
        let Ok(message) = serde_json::from_str::<Value>(raw) else {
            return self
                .write_json(&json!({"type": "error", "message": "messages must be JSON objects"}))
                .await;
        };
        match message["type"].as_str() {
            Some("ping") => self.write_json(&json!({"type": "pong"})).await,
            Some("resume") => {
                let Some(raw_cursors) = message["cursors"].as_object() else {
                    return self
                        .write_json(
                            &json!({"type": "error", "message": "resume needs a cursors object"}),
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
                self.write_json(&json!({"type": "error", "message": "unknown message type"}))
                    .await
            }
        }
    }

    /// Replays, per project the user is a member of now, every kept event after its cursor
    /// that this socket has not sent; a cursor older than the kept events gets `resync`.
    async fn resume(&mut self, socket: &mut Socket, cursors: HashMap<Uuid, i64>) -> Flow {
        // Live events wait in this task's queue until the replay is written.
        self.outlet.hold();
        let db = self.state.db.clone();
        let member_of = feed::member_of_among(&db, self.user_id, cursors.keys().copied()).await;
        let Ok(member_of) = member_of else {
            return self.close(socket, 1011, "try again").await;
        };
        let member_of: Vec<Uuid> = member_of.into_iter().filter(|p| self.may_see(*p)).collect();
        for project_id in member_of {
            let cursor = cursors.get(&project_id).copied().unwrap_or(0);
            let Ok((oldest, newest)) = feed::kept_bounds(&db, project_id).await else {
                return self.close(socket, 1011, "try again").await;
            };
            let resync = match (oldest, newest) {
                (Some(oldest), Some(newest)) => cursor + 1 < oldest || cursor > newest,
                _ => cursor > 0,
            };
            if resync {
                let flow = self
                    .write_json(&json!({"type": "resync", "project_id": project_id}))
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
        socket: &mut Socket,
        project_id: Uuid,
        from: Option<i64>,
        to: i64,
    ) -> Flow {
        let from = match from {
            Some(from) => Some(from),
            None => match feed::latest_join(&self.state.db, project_id, self.user_id, to).await {
                Ok(from) => from,
                Err(_) => return self.close(socket, 1011, "try again").await,
            },
        };
        match from {
            Some(from) => self.replay(socket, project_id, from, to).await,
            None => {
                self.write_json(&json!({"type": "resync", "project_id": project_id}))
                    .await
            }
        }
    }

    /// Sends the project's kept events `from..=to` that this socket has not sent, in order.
    async fn replay(&mut self, socket: &mut Socket, project_id: Uuid, from: i64, to: i64) -> Flow {
        let db = self.state.db.clone();
        let mut from = from;
        while from <= to {
            let Ok(batch) = fetch_events(&db, project_id, from, to).await else {
                return self.close(socket, 1011, "try again").await;
            };
            let Some(last) = batch.last().map(|e| e.seq()) else {
                break;
            };
            for event in batch {
                let admitted = self
                    .outlet
                    .with_filter(|f| f.admit_replayed(project_id, event.seq()));
                if !admitted {
                    continue;
                }
                let frame = text_frame(event.payload.as_ref());
                if let Flow::Stop = self.write(&frame).await {
                    return Flow::Stop;
                }
            }
            from = last + 1;
        }
        Flow::Continue
    }
}

async fn send(socket: &mut Socket, message: Message) -> Flow {
    match socket.send(message).await {
        Ok(()) => Flow::Continue,
        Err(_) => Flow::Stop,
    }
}

impl Session {
    /// Writes a text frame after whatever is queued on the socket, and waits until the
    /// socket took it (a slow client slows its own session, not the hub).
    async fn write(&self, frame: &Bytes) -> Flow {
        if self.outlet.push(frame).is_err() {
            return Flow::Stop;
        }
        self.write_queued().await
    }

    async fn write_json(&self, value: &Value) -> Flow {
        self.write(&text_frame(&value.to_string())).await
    }

    /// Waits until the socket took everything queued for it.
    async fn write_queued(&self) -> Flow {
        match self.outlet.drain().await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Stop,
        }
    }

    /// Closes the socket with a close frame; the hub's events stop at once.
    async fn close(&self, socket: &mut Socket, code: u16, reason: &'static str) -> Flow {
        self.outlet.close();
        let frame = CloseFrame {
            code: code.into(),
            reason: Utf8Bytes::from_static(reason),
        };
        let _ = socket.send(Message::Close(Some(frame))).await;
        Flow::Stop
    }
}

impl Session {
    /// A session that starts after `after[project]` in each project.
    pub(super) fn new(
        state: AppState,
        user_id: Uuid,
        outlet: Arc<Outlet>,
        after: HashMap<Uuid, i64>,
        grant: Option<TokenGrant>,
        session_epoch: i64,
    ) -> Self {
        outlet.start_after(after);
        Self {
            state,
            user_id,
            outlet,
            grant: grant.map(Box::new),
            session_epoch,
        }
    }

    /// Whether the socket's token (if it was opened with an API token) lets it see the
    /// project: a token bound to a project gets nothing of the user's other projects.
    fn may_see(&self, project_id: Uuid) -> bool {
        self.outlet.with_filter(|f| f.may_see(project_id))
    }
}
