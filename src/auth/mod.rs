//! Who is calling: the extractors that turn a bearer token into the caller
//! ([`Principal`], defined with the policy rules in `flowtrack_store::auth`).

pub mod extract;

pub use extract::{AdminUser, AuthUser};
pub use flowtrack_store::auth::Principal;
