//! What the hub reads from the event log: gaps, and the heads of followed projects.

use super::*;

/// Reads events of a project with `from <= seq <= to` in order (at most FETCH_BATCH).
pub async fn fetch_events(db: &Db, project_id: Uuid, from: i64, to: i64) -> Result<Vec<Event>, ()> {
    feed::events_between(db, project_id, from, to, FETCH_BATCH)
        .await
        .map_err(|err| tracing::warn!(%err, "reading events failed; will retry"))
}

impl HubTask {
    /// Reads missing events in the background; they come back as `Fetched`.
    pub(super) fn fetch(&mut self, project_id: Uuid, from: i64, to: i64) {
        let Some(feed) = self.feeds.get_mut(&project_id) else {
            return;
        };
        feed.fetching = true;
        let db = self.db.clone();
        let commands = self.commands.clone();
        tokio::spawn(async move {
            let events = fetch_events(&db, project_id, from, to).await;
            let _ = commands.send(Command::Fetched {
                project_id,
                to,
                events,
            });
        });
    }

    pub(super) fn on_fetched(&mut self, project_id: Uuid, to: i64, events: Result<Vec<Event>, ()>) {
        let Some(feed) = self.feeds.get_mut(&project_id) else {
            return;
        };
        feed.fetching = false;
        let Ok(events) = events else {
            // The database did not answer: the next catch-up tick retries.
            feed.stalled = true;
            return;
        };
        // What the log holds up to the last event read is all there will ever be: a seq
        // missing below it (pruned by retention, or unreadable) is skipped, not waited for.
        let read_up_to = events.last().map_or(to, |e| e.seq());
        for event in events {
            if event.seq() > feed.last_seq {
                feed.pending.insert(event.seq(), event);
            }
        }
        while let Some(first) = feed.pending.first_key_value().map(|(s, _)| *s) {
            if first <= feed.last_seq + 1 || first - 1 > read_up_to {
                break;
            }
            tracing::warn!(%project_id, from = feed.last_seq + 1, to = first - 1, "events missing from the log; skipping");
            feed.last_seq = first - 1;
        }
        self.advance(project_id);
    }

    /// Reads the followed projects' heads in the background; behind ones are fetched.
    pub(super) fn catch_up(&mut self) {
        if self.feeds.is_empty() {
            return;
        }
        let ids: Vec<Uuid> = self.feeds.keys().copied().collect();
        let db = self.db.clone();
        let commands = self.commands.clone();
        tokio::spawn(async move {
            let heads = match feed::heads(&db, &ids).await {
                Ok(heads) => heads,
                Err(err) => {
                    tracing::warn!(%err, "catch-up read failed");
                    return;
                }
            };
            let _ = commands.send(Command::Heads(heads));
        });
    }
}
