//! Business rules, authorization and transactions. Services take the caller (`Principal`)
//! and the state; they never see HTTP types.

pub mod auth;
pub mod users;
