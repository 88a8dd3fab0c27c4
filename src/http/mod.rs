//! HTTP plumbing shared by the handlers: request bodies (declared once with
//! `request_body!`/`patch_body!`, read by the field rules of `fields`) and query strings
//! (declared once with `query_params!`), path segments, errors as problem+json, the server
//! loop and request telemetry; content codings and response compression.

pub mod access;
pub mod body;
pub mod compression;
pub mod conditional;
pub mod encoding;
pub mod fields;
pub mod input;
pub mod path;
pub mod problem;
pub mod query;
pub mod server;
pub mod telemetry;
pub mod timeout;
