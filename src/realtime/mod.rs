//! Real-time delivery: the hub (connection manager fed by the event bus) and the WebSocket
//! endpoint. Both read the event log only through `flowtrack_store::feed`.

pub mod hub;
pub mod outlet;
pub mod ws;
