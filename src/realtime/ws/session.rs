//! One socket's life after the upgrade: the replay it owes, then its queue from the hub,
//! the client's messages, pings, token expiry and shutdown, each event sent once.

use super::*;

use std::future::Future;
use std::pin::Pin;

const NEVER: Duration = Duration::from_secs(365 * 24 * 3600);
/// How often a socket opened with an API token checks that the token still works (a
/// deleted token's sockets close within this, plus the token cache's second).
const TOKEN_CHECK_EVERY: Duration = Duration::from_millis(500);

/// Disjoint, sorted ranges of seqs already sent on a socket for one project.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SentRanges(Vec<(i64, i64)>);

impl SentRanges {
    pub fn contains(&self, seq: i64) -> bool {
        self.0.iter().any(|&(a, b)| a <= seq && seq <= b)
    }

    /// Records `seq` as sent (merging adjacent ranges).
    pub fn insert(&mut self, seq: i64) {
        // Live events come in order: the next seq extends the last range in place (no
        // allocation or sort per event on every socket of a fan-out).
        if let Some(last) = self.0.last_mut()
            && seq == last.1 + 1
        {
            last.1 = seq;
            return;
        }
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

pub(super) struct Session {
    state: AppState,
    user_id: Uuid,
    sent: HashMap<Uuid, SentRanges>,
    /// Per project followed from the start, the seq the socket starts after: a live event
    /// up to it predates the socket (a join still on the bus when it registered), and is
    /// not sent. Replays asked for by the client are not bound by it.
    after: HashMap<Uuid, i64>,
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

fn text(value: &Value) -> Message {
    Message::Text(Utf8Bytes::from(value.to_string()))
}

impl Session {
    pub(super) async fn run(
        mut self,
        mut socket: WebSocket,
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
        // message is a timer-wheel update on every socket for every event (10 000 per move in
        // the fan-out bench); instead each tick pings only a socket that was quiet since the
        // previous one, so a quiet socket is pinged every PING_EVERY, the first time 1–2 × PING_EVERY
        // after its last message.
        let mut idle = tokio::time::interval(PING_EVERY);
        idle.reset();
        let mut active_since_tick = false;
        loop {
            // Biased, the hub's queue first: a socket is woken mostly by an event, and then
            // only that branch is polled (unbiased, a random start polls half of the others
            // first, on every socket for every event). The queue is bounded, so the other
            // branches wait at most for it to drain.
            let flow = tokio::select! {
                biased;
                outbound = rx.recv() => match outbound {
                    Some(message) => {
                        active_since_tick = true;
                        self.on_outbound(&mut socket, message).await
                    }
                    None => close(&mut socket, CLOSE_TOO_SLOW, "too slow; reconnect and resume").await,
                },
                () = &mut shutdown => close(&mut socket, 1001, "server shutting down").await,
                () = &mut expiry => close(&mut socket, CLOSE_AUTH, "token expired").await,
                () = &mut revoked => close(&mut socket, CLOSE_AUTH, "token revoked").await,
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Text(raw))) => {
                        active_since_tick = true;
                        self.on_client_message(&mut socket, raw.as_str()).await
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => Flow::Stop,
                    Some(Ok(_)) => Flow::Continue,
                },
                _ = idle.tick() => {
                    if std::mem::take(&mut active_since_tick) {
                        Flow::Continue
                    } else {
                        match socket.send(Message::Ping(Default::default())).await {
                            Ok(()) => Flow::Continue,
                            Err(_) => Flow::Stop,
                        }
                    }
                }
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
                if !self.may_see(event.project_id()) {
                    return Flow::Continue;
                }
                if self
                    .after
                    .get(&event.project_id())
                    .is_some_and(|after| event.seq() <= *after)
                {
                    return Flow::Continue;
                }
                let sent = self.sent.entry(event.project_id()).or_default();
                if sent.contains(event.seq()) {
                    return Flow::Continue;
                }
                sent.insert(event.seq());
                send(socket, Message::Text(delivery.text.clone())).await
            }
            Outbound::Notification(frame) => {
                if !self.may_see(frame.project_id) {
                    return Flow::Continue;
                }
                send(
                    socket,
                    Message::Text(Utf8Bytes::from(frame.text.to_string())),
                )
                .await
            }
            Outbound::Close(frame) => close(socket, frame.code, frame.reason).await,
            Outbound::SessionsEndedBefore(epoch) => {
                if self.grant.is_none() && self.session_epoch < epoch {
                    close(socket, CLOSE_AUTH, "password changed; sign in again").await
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
                if self.after.contains_key(&project_id)
                    || self.sent.contains_key(&project_id)
                    || !self.may_see(project_id)
                {
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
        let member_of = feed::member_of_among(&db, self.user_id, cursors.keys().copied()).await;
        let Ok(member_of) = member_of else {
            return close(socket, 1011, "try again").await;
        };
        let member_of: Vec<Uuid> = member_of.into_iter().filter(|p| self.may_see(*p)).collect();
        for project_id in member_of {
            let cursor = cursors.get(&project_id).copied().unwrap_or(0);
            let Ok((oldest, newest)) = feed::kept_bounds(&db, project_id).await else {
                return close(socket, 1011, "try again").await;
            };
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
            None => match feed::latest_join(&self.state.db, project_id, self.user_id, to).await {
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

impl Session {
    /// A session that starts after `after[project]` in each project.
    pub(super) fn new(
        state: AppState,
        user_id: Uuid,
        after: HashMap<Uuid, i64>,
        grant: Option<TokenGrant>,
        session_epoch: i64,
    ) -> Self {
        Self {
            state,
            user_id,
            sent: HashMap::new(),
            after,
            grant: grant.map(Box::new),
            session_epoch,
        }
    }

    /// Whether the socket's token (if it was opened with an API token) lets it see the
    /// project: a token bound to a project gets nothing of the user's other projects.
    fn may_see(&self, project_id: Uuid) -> bool {
        self.grant
            .as_ref()
            .and_then(|g| g.project_id)
            .is_none_or(|bound| bound == project_id)
    }
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
        r.insert(11);
        r.insert(3);
        r.insert(12);
        assert_eq!(r.0, vec![(3, 3), (5, 12)]);
        r.insert(4);
        assert_eq!(r.0, vec![(3, 12)]);
    }
}
