//! Retry delays: exponential, capped, with jitter so that many failures at once do not
//! come back at once.

use std::time::Duration;

use rand::Rng;

use crate::platform::config::QueueSettings;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    /// Fraction of the delay that may be taken off at random (0 = none, 1 = "full jitter").
    pub jitter: f64,
}

impl Backoff {
    pub fn from_settings(s: &QueueSettings) -> Self {
        Self {
            base: Duration::from_millis(s.backoff_base_ms),
            max: Duration::from_millis(s.backoff_max_ms),
            jitter: s.jitter,
        }
    }

    /// The delay before attempt `failed + 1`, after `failed` failed attempts (>= 1):
    /// `base * 2^(failed-1)`, capped at `max`, less up to `jitter` of it.
    pub fn delay(&self, failed: u32) -> Duration {
        let exp = failed.saturating_sub(1).min(32);
        let full = self.base.saturating_mul(1u32 << exp.min(31)).min(self.max);
        let cut: f64 = if self.jitter > 0.0 {
            rand::rng().random_range(0.0..self.jitter)
        } else {
            0.0
        };
        full.mul_f64(1.0 - cut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(jitter: f64) -> Backoff {
        Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter,
        }
    }

    #[test]
    fn doubles_then_caps_without_jitter() {
        let b = backoff(0.0);
        let delays: Vec<u128> = (1..=6).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(1000), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let b = backoff(0.25);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let d = b.delay(2).as_millis();
            assert!((150..=200).contains(&d), "{d}");
            seen.insert(d);
        }
        assert!(seen.len() > 1, "jitter should vary the delay");
    }
}
