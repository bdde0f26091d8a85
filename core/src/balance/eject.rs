//! Ejection: a host whose last `eject_after` attempts all failed is left out for `eject_ms`,
//! then let back in (one more failure after it returns ejects it again). Lock-free: `pick`
//! checks every host on every attempt.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct HostState {
    consecutive_failures: AtomicU32,
    /// Microseconds since `Ejector::epoch` until which the host is out; 0 = never ejected.
    ejected_until_us: AtomicU64,
}

#[derive(Debug)]
pub(super) struct Ejector {
    after: u32,
    cool_down: Duration,
    epoch: Instant,
    hosts: Vec<HostState>,
}

impl Ejector {
    pub(super) fn new(hosts: usize, after: u32, cool_down: Duration) -> Ejector {
        Ejector {
            after,
            cool_down,
            epoch: Instant::now(),
            hosts: (0..hosts).map(|_| HostState::default()).collect(),
        }
    }

    fn us(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_micros() as u64
    }

    pub(super) fn is_ejected(&self, i: usize, now: Instant) -> bool {
        self.after > 0 && self.us(now) < self.hosts[i].ejected_until_us.load(Relaxed)
    }

    /// Record an attempt's outcome; returns true when this failure ejected the host.
    pub(super) fn report(&self, i: usize, success: bool, now: Instant) -> bool {
        if self.after == 0 {
            return false;
        }
        let h = &self.hosts[i];
        if success {
            h.consecutive_failures.store(0, Relaxed);
            return false;
        }
        let failures = h.consecutive_failures.fetch_add(1, Relaxed) + 1;
        let now_us = self.us(now);
        let until = h.ejected_until_us.load(Relaxed);
        if now_us >= until && failures >= self.after {
            let new_until = now_us + self.cool_down.as_micros() as u64;
            // One reporter wins the ejection; the others see it done.
            if h.ejected_until_us
                .compare_exchange(until, new_until.max(1), Relaxed, Relaxed)
                .is_ok()
            {
                // After the cool-down, one more failure ejects it again.
                h.consecutive_failures.store(self.after - 1, Relaxed);
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ejected_after_consecutive_failures_and_back_after_cool_down() {
        let e = Ejector::new(1, 3, Duration::from_millis(100));
        let t0 = Instant::now();
        assert!(!e.report(0, false, t0));
        assert!(!e.report(0, true, t0)); // a success resets the count
        assert!(!e.report(0, false, t0));
        assert!(!e.report(0, false, t0));
        assert!(e.report(0, false, t0));
        assert!(e.is_ejected(0, t0 + Duration::from_millis(50)));
        assert!(!e.is_ejected(0, t0 + Duration::from_millis(150)));
        // Back in, and one more failure ejects it again.
        assert!(e.report(0, false, t0 + Duration::from_millis(150)));
    }

    #[test]
    fn zero_means_never() {
        let e = Ejector::new(1, 0, Duration::from_secs(1));
        for _ in 0..10 {
            assert!(!e.report(0, false, Instant::now()));
        }
        assert!(!e.is_ejected(0, Instant::now()));
    }
}
