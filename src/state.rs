//! What a handler needs: the [`Store`] (database, caches, bus) and the real-time hub.

use std::ops::Deref;
use std::sync::Arc;

use flowtrack_core::clock::Clock;
use flowtrack_core::config::Config;
use flowtrack_store::state::Store;

use crate::http::telemetry;
use crate::realtime::hub::Hub;

/// The state of the HTTP layer. It dereferences to the [`Store`], so `&state` is what the
/// services take.
#[derive(Clone)]
pub struct AppState(Arc<Parts>);

struct Parts {
    store: Store,
    hub: Hub,
}

impl Deref for AppState {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.0.store
    }
}

impl AppState {
    /// Opens the store (database, migrations, Redis, admin bootstrap) and starts the hub and
    /// the webhook worker.
    pub async fn init(config: Config, clock: Clock) -> anyhow::Result<Self> {
        telemetry::init_metrics();
        let store = Store::init(config, clock).await?;
        let hub = Hub::start(
            store.db.clone(),
            store.bus.subscribe(),
            store.shutdown.clone(),
        );
        crate::webhooks::start(store.clone())?;
        Ok(Self(Arc::new(Parts { store, hub })))
    }

    /// The connection manager of this instance's WebSockets.
    pub fn hub(&self) -> &Hub {
        &self.0.hub
    }
}
