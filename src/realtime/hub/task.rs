//! The hub task: commands from sockets, the bus, delivery in seq order, fan-out.

use super::*;

impl HubTask {
    pub(super) async fn run(
        mut self,
        mut inbox: mpsc::UnboundedReceiver<Command>,
        mut bus: broadcast::Receiver<BusMessage>,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(CATCH_UP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => {
                    self.close_all(&CLOSE_SHUTDOWN);
                    return;
                }
                Some(command) = inbox.recv() => self.on_command(command),
                message = bus.recv() => match message {
                    Ok(message) => self.on_bus(message),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        // Missed messages are in the database: catch up now.
                        tracing::warn!(missed = n, "hub lagged behind the bus; catching up");
                        self.catch_up();
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick() => {
                    self.catch_up();
                    self.read_access();
                }
            }
        }
    }

    pub(super) fn on_command(&mut self, command: Command) {
        match command {
            Command::Register {
                user_id,
                outlet,
                reply,
            } => {
                let id = self.next_id;
                self.next_id += 1;
                self.users
                    .entry(user_id)
                    .or_default()
                    .insert(id, outlet.clone());
                self.conns.insert(
                    id,
                    Connection {
                        user_id,
                        outlet,
                        registered_at: chrono::Utc::now(),
                    },
                );
                self.connections
                    .store(self.conns.len() as u64, Ordering::Relaxed);
                metrics::gauge!("flowtrack_ws_connections").set(self.conns.len() as f64);
                let _ = reply.send(id);
            }
            Command::Follow {
                conn,
                projects,
                reply,
            } => self.follow(conn, projects, reply),
            Command::Unregister(id) => self.drop_conn(id),
            Command::TooSlow(id) => self.drop_slow(id),
            Command::Fetched {
                project_id,
                to,
                events,
            } => self.on_fetched(project_id, to, events),
            Command::Access(rows) => self.reconcile(rows),
            Command::Heads(heads) => {
                for (project_id, head) in heads {
                    let Some(feed) = self.feeds.get_mut(&project_id) else {
                        continue;
                    };
                    feed.stalled = false;
                    if head > feed.last_seq && !feed.fetching {
                        let from = feed.last_seq + 1;
                        self.fetch(project_id, from, head);
                    }
                }
            }
        }
    }

    /// Follows `projects` (id, seq read after registering) for socket `conn`; replies with
    /// each feed's position (see [`super::Hub::follow`]).
    pub(super) fn follow(
        &mut self,
        conn: ConnId,
        projects: Vec<(Uuid, i64)>,
        reply: oneshot::Sender<Vec<(Uuid, i64)>>,
    ) {
        let Some(user_id) = self.conns.get(&conn).map(|c| c.user_id) else {
            return; // gone already: the dropped reply tells the socket
        };
        let mut started = Vec::new();
        let positions = projects
            .into_iter()
            .map(|(project_id, seq)| {
                let feed = self.feeds.entry(project_id).or_insert_with(|| {
                    started.push((project_id, seq));
                    ProjectFeed {
                        last_seq: seq,
                        ..ProjectFeed::default()
                    }
                });
                // Read at `seq`: removed since (and not added again, which would
                // have made the user a member here already)? Then not a member.
                let removed_since = feed.left.get(&user_id).is_some_and(|&at| at > seq);
                if !removed_since {
                    feed.members.insert(user_id);
                }
                (project_id, feed.last_seq)
            })
            .collect();
        let _ = reply.send(positions);
        // A feed started here at `seq` skipped everything up to it: the user's other
        // sockets here opened before the user joined (else they would follow it
        // already), and replay from that join.
        for (project_id, seq) in started {
            self.send_user_except(
                user_id,
                conn,
                Outbound::Replay(Arc::new(ReplayRange {
                    project_id,
                    from: None,
                    to: seq,
                })),
            );
        }
    }

    pub(super) fn on_bus(&mut self, message: BusMessage) {
        match message {
            BusMessage::Event(event) => self.on_event(event),
            BusMessage::UserChanged {
                user_id,
                active,
                session_epoch,
            } => {
                if !active {
                    self.send_user(user_id, Outbound::Close(&CLOSE_DEACTIVATED));
                } else if session_epoch > 0 {
                    self.send_user(user_id, Outbound::SessionsEndedBefore(session_epoch));
                }
            }
            BusMessage::Notification {
                user_id,
                project_id,
                payload,
            } => {
                let message = Outbound::Notification(Arc::new(NotificationFrame {
                    project_id,
                    text: payload,
                }));
                self.send_user(user_id, message);
            }
        }
    }

    /// Accepts an event into its project's feed and delivers whatever is now in order.
    pub(super) fn on_event(&mut self, event: Event) {
        let project_id = event.project_id();
        if !self.feeds.contains_key(&project_id) {
            // Not followed here, unless a user connected to this instance joins with it
            // (creates the project, or is added to it).
            let joins_local = matches!(
                event.event.data.access(),
                Some(Access::Joins(user)) if self.users.contains_key(&user)
            );
            if !joins_local {
                return;
            }
            self.feeds.insert(
                project_id,
                ProjectFeed {
                    last_seq: event.seq() - 1,
                    ..ProjectFeed::default()
                },
            );
        }
        let Some(feed) = self.feeds.get_mut(&project_id) else {
            return;
        };
        if event.seq() <= feed.last_seq {
            return; // already delivered
        }
        feed.pending.insert(event.seq(), event);
        self.advance(project_id);
    }

    /// Delivers pending events while they are next in line; asks for a gap to be filled.
    pub(super) fn advance(&mut self, project_id: Uuid) {
        loop {
            let Some(feed) = self.feeds.get_mut(&project_id) else {
                return;
            };
            let next = feed.last_seq + 1;
            match feed.pending.first_key_value().map(|(s, _)| *s) {
                Some(seq) if seq < next => {
                    feed.pending.pop_first();
                }
                Some(seq) if seq == next => {
                    let Some((_, event)) = feed.pending.pop_first() else {
                        return;
                    };
                    feed.last_seq = seq;
                    self.deliver(event);
                }
                Some(seq) => {
                    if !feed.fetching && !feed.stalled {
                        let from = feed.last_seq + 1;
                        self.fetch(project_id, from, seq - 1);
                    }
                    return;
                }
                None => return,
            }
        }
    }

    /// Sends an event to every local member socket; applies membership changes it carries.
    pub(super) fn deliver(&mut self, event: Event) {
        let project_id = event.project_id();
        let access = event.event.data.access();
        if let (Some(Access::Joins(user)), Some(feed)) = (access, self.feeds.get_mut(&project_id)) {
            feed.members.insert(user);
        }
        let mut targets = Vec::new();
        if let Some(feed) = self.feeds.get(&project_id) {
            for user in &feed.members {
                for (id, outlet) in self.users.get(user).into_iter().flatten() {
                    targets.push((*id, outlet.clone()));
                }
            }
        }
        metrics::counter!("flowtrack_events_delivered_total").increment(targets.len() as u64);
        self.lanes.write(Arc::new(Delivery::new(event)), targets);
        match access {
            Some(Access::Leaves(user)) => {
                if let Some(feed) = self.feeds.get_mut(&project_id) {
                    feed.members.remove(&user);
                    feed.left.insert(user, feed.last_seq);
                }
            }
            Some(Access::Ends) => {
                self.feeds.remove(&project_id);
            }
            _ => {}
        }
    }

    /// Queues a message on every socket of a user; returns how many took it. A full queue
    /// closes that socket (its client resumes after reconnecting).
    pub(super) fn send_user(&mut self, user: Uuid, message: Outbound) -> u64 {
        self.send_user_except(user, 0, message)
    }

    /// [`Self::send_user`] to every socket of the user but `except` (0: none; ids start at 1).
    pub(super) fn send_user_except(
        &mut self,
        user: Uuid,
        except: ConnId,
        message: Outbound,
    ) -> u64 {
        let Some(ids) = self.users.get(&user) else {
            return 0;
        };
        let mut sent = 0;
        let mut too_slow = Vec::new();
        for (id, outlet) in ids.iter().filter(|(id, _)| **id != except) {
            match outlet.post(message.clone()) {
                Offer::Taken => sent += 1,
                Offer::TooSlow => too_slow.push(*id),
            }
        }
        for id in too_slow {
            self.drop_slow(id);
        }
        sent
    }

    /// Lets go of a socket whose queue overflowed; its session closes it (1013) and the
    /// client resumes after reconnecting.
    pub(super) fn drop_slow(&mut self, id: ConnId) {
        if self.conns.contains_key(&id) {
            tracing::info!(conn = id, "closing a socket that cannot keep up");
            self.drop_conn(id);
        }
    }

    pub(super) fn drop_conn(&mut self, id: ConnId) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        conn.outlet.detach();
        let user = conn.user_id;
        let last_of_user = match self.users.get_mut(&user) {
            Some(ids) => {
                ids.remove(&id);
                ids.is_empty()
            }
            None => true,
        };
        if last_of_user {
            self.users.remove(&user);
            self.feeds.retain(|_, feed| {
                feed.members.remove(&user);
                !feed.members.is_empty()
            });
        }
        self.connections
            .store(self.conns.len() as u64, Ordering::Relaxed);
        metrics::gauge!("flowtrack_ws_connections").set(self.conns.len() as f64);
    }

    pub(super) fn close_all(&mut self, frame: &'static CloseFrame) {
        for conn in self.conns.values() {
            let _ = conn.outlet.post(Outbound::Close(frame));
        }
    }
}
