//! Who is calling (extractors) and what they may do (pure policy rules).

pub mod extract;
pub mod policy;

pub use extract::{AdminUser, AuthUser, Principal};
