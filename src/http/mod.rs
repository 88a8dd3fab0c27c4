//! HTTP plumbing shared by the handlers: request bodies and query strings, path segments,
//! errors as problem+json, the server loop and request telemetry.

pub mod input;
pub mod path;
pub mod problem;
pub mod server;
pub mod telemetry;
