//! The authenticated-user cache: a request costs no database read for auth.
//!
//! Entries live a short time and are dropped at once when the user changes (role, activity,
//! email…), so a deactivated user's tokens stop working immediately on this instance.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use uuid::Uuid;

use crate::models::users;

#[derive(Clone)]
pub struct UserCache {
    users: Cache<Uuid, Arc<users::Model>>,
}

impl UserCache {
    pub fn new() -> Self {
        Self {
            users: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(30))
                .build(),
        }
    }

    pub async fn get(&self, id: Uuid) -> Option<Arc<users::Model>> {
        self.users.get(&id).await
    }

    pub async fn put(&self, user: Arc<users::Model>) {
        self.users.insert(user.id, user).await;
    }

    pub async fn invalidate(&self, id: Uuid) {
        self.users.invalidate(&id).await;
    }
}

impl Default for UserCache {
    fn default() -> Self {
        Self::new()
    }
}
