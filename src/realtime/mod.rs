//! Real-time delivery: the event bus (and, with the real-time layer, the hub and the
//! WebSocket endpoint).

pub mod bus;
