//! Reconciling the hub with the log's recent joins (a bus message lost or late).

use chrono::{DateTime, Utc};

use super::*;

impl HubTask {
    /// Reads the recent joins and leaves of existing projects from the log in the background;
    /// they come back as `Access`.
    pub(super) fn read_access(&mut self) {
        if self.users.is_empty() {
            return;
        }
        let db = self.db.clone();
        let commands = self.commands.clone();
        let since = chrono::Utc::now() - RECONCILE_WINDOW;
        tokio::spawn(async move {
            let rows = feed::recent_access(&db, since).await;
            match rows {
                Ok(rows) => {
                    let _ = commands.send(Command::Access(rows));
                }
                Err(err) => tracing::warn!(%err, "reading recent joins failed"),
            }
        });
    }

    /// Whether a socket of `user` registered before `at`.
    fn open_since_before(&self, user: Uuid, at: DateTime<Utc>) -> bool {
        self.users.get(&user).is_some_and(|ids| {
            ids.keys()
                .any(|id| self.conns.get(id).is_some_and(|c| c.registered_at < at))
        })
    }

    /// Applies joins of local users that the bus did not bring (Redis down, or slower than
    /// a socket that followed the project from the database): a project not followed here
    /// is followed from the join on; a followed one whose feed passed the join without the
    /// user (it skipped it) takes the user in and has their sockets replay what they missed.
    pub(super) fn reconcile(&mut self, rows: Vec<AccessRow>) {
        // The latest access event per (project, user) decides.
        let mut latest: HashMap<(Uuid, Uuid), (i64, bool, DateTime<Utc>)> = HashMap::new();
        for (project_id, seq, kind, user, at) in rows {
            let joins = kind != EventType::MemberRemoved.as_str();
            let entry = latest.entry((project_id, user)).or_insert((seq, joins, at));
            if seq >= entry.0 {
                *entry = (seq, joins, at);
            }
        }
        for ((project_id, user), (seq, joins, at)) in latest {
            // Only for a user with a socket that was open when the join committed: a socket
            // registered after it read the membership itself (`Follow`).
            if !joins || !self.open_since_before(user, at) {
                continue;
            }
            match self.feeds.get_mut(&project_id) {
                None => {
                    tracing::info!(%project_id, seq, "a join the bus did not bring; following");
                    self.feeds.insert(
                        project_id,
                        ProjectFeed {
                            last_seq: seq - 1,
                            ..ProjectFeed::default()
                        },
                    );
                    self.fetch(project_id, seq, i64::MAX);
                }
                // (A leave delivered here after the join means the read is older than what
                // the feed knows: nothing to do.)
                Some(feed)
                    if feed.last_seq >= seq
                        && !feed.members.contains(&user)
                        && feed.left.get(&user).is_none_or(|&at| at < seq) =>
                {
                    tracing::info!(%project_id, seq, "a join the feed skipped; replaying");
                    feed.members.insert(user);
                    let to = feed.last_seq;
                    self.send_user(
                        user,
                        Outbound::Replay(Arc::new(ReplayRange {
                            project_id,
                            from: Some(seq),
                            to,
                        })),
                    );
                }
                Some(_) => {} // not reached yet, or applied already
            }
        }
    }
}
