//! Who is calling and what they may do: the caller of every service and the pure policy
//! rules.

pub mod policy;

use std::sync::Arc;

use uuid::Uuid;

use crate::models::api_tokens::TokenScope;
use crate::models::users;

/// The authenticated caller, as services see it.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: Arc<users::Model>,
    /// What narrows the caller when it came with an API token (`None`: a login session).
    pub grant: Option<TokenGrant>,
}

/// What an API token lets its bearer do, on top of what its owner may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub token_id: Uuid,
    pub scope: TokenScope,
    /// The one project the token sees (`None`: whatever its owner sees).
    pub project_id: Option<Uuid>,
    /// The hash of the secret: how a long-lived connection checks that its token still
    /// works (`services::tokens::still_valid`).
    pub secret_hash: Arc<str>,
}

impl Principal {
    /// A caller signed in with a password (access token from a login).
    pub fn session(user: Arc<users::Model>) -> Self {
        Self { user, grant: None }
    }

    /// The project an API token is bound to: everything else is invisible to it.
    pub fn bound_project(&self) -> Option<Uuid> {
        self.grant.as_ref().and_then(|g| g.project_id)
    }

    /// Whether the caller's token (if any) lets it see this project at all (membership is
    /// checked separately).
    pub fn may_see_project(&self, project_id: Uuid) -> bool {
        self.bound_project().is_none_or(|bound| bound == project_id)
    }

    pub fn id(&self) -> Uuid {
        self.user.id
    }

    pub fn is_admin(&self) -> bool {
        self.user.is_admin()
    }
}
