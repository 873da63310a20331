//! Business time: what the domains call "now" (expiries, lockouts, token lifetimes, quiet
//! hours, reservation lapses). The system clock in production. A clock can be moved ahead
//! (`advance`, `set_ahead_to`), which is how tests see an hour pass without waiting for it;
//! it never runs backwards, so every timestamp a domain writes still grows.
//!
//! Infrastructure that measures real durations (queue leases and backoff, HTTP timeouts,
//! rate limits, caches) keeps the system clock: a moved clock must not expire a lease a
//! worker is still holding.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};

#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Milliseconds this clock is ahead of the system clock.
    ahead_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// To the microsecond, as PostgreSQL keeps it: a value written and the same value read
    /// back are equal, so a service can answer with what it wrote without reading it again.
    pub fn now(&self) -> DateTime<Utc> {
        (Utc::now() + chrono::Duration::milliseconds(self.ahead_ms.load(Ordering::SeqCst)))
            .trunc_subsecs(6)
    }

    /// Unix seconds of `now`.
    pub fn timestamp(&self) -> i64 {
        self.now().timestamp()
    }

    /// Moves this clock, and every copy of it, ahead by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.ahead_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Moves this clock ahead to `at`; a time already passed leaves it where it is.
    pub fn set_ahead_to(&self, at: DateTime<Utc>) {
        let by = at - self.now();
        if let Ok(by) = by.to_std() {
            self.advance(by);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_system_clock_until_moved() {
        let clock = Clock::system();
        let drift = (clock.now() - Utc::now()).num_milliseconds().abs();
        assert!(drift < 1_000, "{drift} ms");
    }

    #[test]
    fn copies_move_together_and_never_back() {
        let clock = Clock::system();
        let copy = clock.clone();
        let before = copy.now();
        clock.advance(std::time::Duration::from_secs(3600));
        assert!(copy.now() - before >= chrono::Duration::seconds(3600));

        let later = copy.now();
        clock.set_ahead_to(later - chrono::Duration::days(1));
        assert!(copy.now() >= later, "set_ahead_to never moves back");

        let target = later + chrono::Duration::days(2);
        clock.set_ahead_to(target);
        assert!((copy.now() - target).num_milliseconds().abs() < 1_000);
    }
}
