//! Real-time delivery: the event bus, the hub (connection manager), the WebSocket endpoint
//! and the background duties that keep them honest.

pub mod bus;
pub mod hub;
pub mod maintenance;
pub mod ws;
