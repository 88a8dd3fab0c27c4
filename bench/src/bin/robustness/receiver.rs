//! A webhook receiver on 127.0.0.1 for the robustness runs: it records every delivery
//! (project, seq, `webhook-id`) and answers 204 after a short pause, so deliveries are in
//! flight when the server is killed or its database stops. [`Receiver::check`] proves that
//! every event of each project arrived, in `seq` order, any repeat carrying the same
//! `webhook-id` (what a receiver deduplicates on).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

/// One delivery as received.
#[derive(Debug, Clone)]
struct Got {
    project: String,
    seq: i64,
    id: String,
}

pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    /// What the server needs to deliver to this receiver: private targets allowed (it is on
    /// 127.0.0.1), and quick retries.
    pub fn server_settings() -> [(String, String); 2] {
        [
            ("FLOWTRACK_WEBHOOK_ALLOW_PRIVATE".into(), "true".into()),
            ("FLOWTRACK_WEBHOOK_RETRY_BASE_MS".into(), "100".into()),
        ]
    }

    pub async fn start(pause: Duration) -> anyhow::Result<Self> {
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let seen = got.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let seen = seen.clone();
            async move {
                tokio::time::sleep(pause).await;
                let Ok(event) = serde_json::from_slice::<Value>(&body) else {
                    return StatusCode::BAD_REQUEST;
                };
                let id = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                if let (Some(project), Some(seq)) =
                    (event["project_id"].as_str(), event["seq"].as_i64())
                {
                    let got = Got {
                        project: project.to_string(),
                        seq,
                        id,
                    };
                    seen.lock().unwrap_or_else(|p| p.into_inner()).push(got);
                }
                StatusCode::NO_CONTENT
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, got })
    }

    /// Waits (up to `wait`) until every project's events `from..=to` arrived, then checks
    /// order and repeats. Answers the figures and the problems found.
    pub async fn check(
        &self,
        expected: &HashMap<String, (i64, i64)>,
        wait: Duration,
    ) -> (Value, Vec<String>) {
        let started = Instant::now();
        loop {
            let missing = self.missing(expected);
            if missing == 0 || started.elapsed() > wait {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let got = self.got.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut problems = Vec::new();
        let missing = self.missing(expected);
        if missing > 0 {
            problems.push(format!("webhooks: {missing} events never delivered"));
        }
        let mut first_id: HashMap<(String, i64), String> = HashMap::new();
        let mut last_new: HashMap<String, i64> = HashMap::new();
        let mut repeats = 0u64;
        for delivery in &got {
            let key = (delivery.project.clone(), delivery.seq);
            match first_id.get(&key) {
                Some(id) => {
                    repeats += 1;
                    if id != &delivery.id {
                        problems.push(format!(
                            "webhooks: seq {} repeated with another webhook-id",
                            delivery.seq
                        ));
                    }
                }
                None => {
                    let last = last_new.entry(delivery.project.clone()).or_insert(0);
                    if delivery.seq < *last {
                        problems.push(format!(
                            "webhooks: seq {} arrived after {}",
                            delivery.seq, last
                        ));
                    }
                    *last = delivery.seq;
                    first_id.insert(key, delivery.id.clone());
                }
            }
        }
        let figures = json!({
            "webhook_deliveries_received": got.len(),
            "webhook_events_delivered": first_id.len(),
            "webhook_repeats_same_id": repeats,
            "webhook_seconds_to_drain": started.elapsed().as_secs_f64(),
        });
        problems.truncate(20);
        (figures, problems)
    }

    fn missing(&self, expected: &HashMap<String, (i64, i64)>) -> usize {
        let got = self.got.lock().unwrap_or_else(|p| p.into_inner());
        let mut have: HashMap<&str, std::collections::HashSet<i64>> = HashMap::new();
        for delivery in got.iter() {
            have.entry(&delivery.project)
                .or_default()
                .insert(delivery.seq);
        }
        expected
            .iter()
            .map(|(project, (from, to))| {
                let seen = have.get(project.as_str());
                (*from..=*to)
                    .filter(|seq| !seen.is_some_and(|s| s.contains(seq)))
                    .count()
            })
            .sum()
    }
}
