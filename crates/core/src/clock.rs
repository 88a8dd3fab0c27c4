//! The server's clock, injectable so tests can move time (token expiry, rate-limit windows,
//! report histories) without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

#[derive(Clone, Default)]
pub struct Clock {
    /// Milliseconds added to the system time (0 in production).
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    /// Now, truncated to milliseconds: the precision of every stored and rendered timestamp,
    /// so a value read back from either database compares equal to the one written.
    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now() + TimeDelta::milliseconds(self.offset_ms.load(Ordering::Relaxed));
        now.duration_trunc(TimeDelta::milliseconds(1))
            .unwrap_or(now)
    }

    /// Moves this clock (and every clone of it) forward; for tests.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// Moves this clock back; for tests that build a history over past days.
    pub fn rewind(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_sub(ms, Ordering::Relaxed);
    }

    /// Puts this clock back on the system time.
    pub fn reset(&self) {
        self.offset_ms.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_is_shared_by_clones() {
        let clock = Clock::system();
        let other = clock.clone();
        let before = other.now();
        clock.advance(std::time::Duration::from_secs(3600));
        assert!(other.now() - before >= TimeDelta::seconds(3599));
        assert_eq!(other.now().timestamp_subsec_nanos() % 1_000_000, 0);
    }
}
