//! A circuit breaker: after `failures` failures in a row it opens for `open_for`, then lets one
//! trial call through (half-open) whose outcome closes or reopens it.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::platform::clock::Clock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// For the `circuit_breaker_state` gauge.
    pub fn as_number(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }
}

struct Inner {
    consecutive_failures: u32,
    opened_at: Option<DateTime<Utc>>,
    trial_running: bool,
}

pub struct CircuitBreaker {
    failures: u32,
    open_for: Duration,
    inner: Mutex<Inner>,
    clock: Clock,
}

impl CircuitBreaker {
    pub fn new(failures: u32, open_for: Duration, clock: Clock) -> Self {
        Self {
            failures,
            open_for,
            clock,
            inner: Mutex::new(Inner {
                consecutive_failures: 0,
                opened_at: None,
                trial_running: false,
            }),
        }
    }

    pub fn state(&self) -> BreakerState {
        let inner = self.inner.lock().expect("breaker lock");
        match inner.opened_at {
            None => BreakerState::Closed,
            Some(at) if !self.open_for_elapsed_since(at) => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// May a call go through now? In half-open, only one trial at a time.
    pub fn allow(&self) -> bool {
        let mut inner = self.inner.lock().expect("breaker lock");
        match inner.opened_at {
            None => true,
            Some(at) if !self.open_for_elapsed_since(at) => false,
            Some(_) if inner.trial_running => false,
            Some(_) => {
                inner.trial_running = true;
                true
            }
        }
    }

    fn open_for_elapsed_since(&self, opened_at: DateTime<Utc>) -> bool {
        (self.clock.now() - opened_at)
            .to_std()
            .is_ok_and(|open| open >= self.open_for)
    }

    pub fn record_success(&self) {
        let mut inner = self.inner.lock().expect("breaker lock");
        *inner = Inner {
            consecutive_failures: 0,
            opened_at: None,
            trial_running: false,
        };
    }

    pub fn record_failure(&self) {
        let mut inner = self.inner.lock().expect("breaker lock");
        inner.consecutive_failures += 1;
        inner.trial_running = false;
        if inner.opened_at.is_some() || inner.consecutive_failures >= self.failures {
            // A failed trial, or the threshold reached: (re)open.
            inner.opened_at = Some(self.clock.now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_n_failures_then_a_trial_decides() {
        let clock = Clock::system();
        let breaker = CircuitBreaker::new(3, Duration::from_secs(30), clock.clone());
        for _ in 0..2 {
            assert!(breaker.allow());
            breaker.record_failure();
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.record_failure();
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(!breaker.allow());

        clock.advance(Duration::from_secs(31));
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert!(breaker.allow(), "one trial");
        assert!(!breaker.allow(), "only one trial at a time");
        breaker.record_failure();
        assert_eq!(
            breaker.state(),
            BreakerState::Open,
            "a failed trial reopens"
        );

        clock.advance(Duration::from_secs(31));
        assert!(breaker.allow());
        breaker.record_success();
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(breaker.allow());
    }
}
