//! Who is calling and what they may do: the caller of every service and the pure policy
//! rules.

pub mod policy;

use std::sync::Arc;

use uuid::Uuid;

use crate::models::users;

/// The authenticated caller, as services see it.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: Arc<users::Model>,
}

impl Principal {
    pub fn id(&self) -> Uuid {
        self.user.id
    }

    pub fn is_admin(&self) -> bool {
        self.user.is_admin()
    }
}
