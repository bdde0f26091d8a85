//! Attempt latencies over a sliding window: two periods swapped every period, so a read always
//! sees at least one full past period (tower's `RotatingHistogram`, in microseconds rather than
//! milliseconds, and keeping answered attempts apart from attempts cut short).

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::survival::Survival;

#[derive(Debug)]
pub(crate) struct RotatingHistogram {
    period: Duration,
    rotated_at: Instant,
    current: Period,
    previous: Period,
}

/// One period's latencies, µs.
#[derive(Debug, Clone)]
struct Period {
    answered: Histogram<u64>,
    /// Lower bounds: attempts cut short after that long.
    cut_short: Histogram<u64>,
}

impl Period {
    fn new() -> Period {
        Period {
            answered: histogram(),
            cut_short: histogram(),
        }
    }

    fn len(&self) -> u64 {
        self.answered.len() + self.cut_short.len()
    }

    fn reset(&mut self) {
        self.answered.reset();
        self.cut_short.reset();
    }
}

/// Two significant digits: within 1% (40 µs at 4 ms, finer than the hedge timer's own lateness),
/// so that reading the window every 10 ms costs ~15 µs; three would cost ~110. It grows past a
/// minute if an attempt ever runs that long.
pub(super) fn histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 60_000_000, 2).expect("valid bounds");
    h.auto(true);
    h
}

impl RotatingHistogram {
    pub(crate) fn new(period: Duration, now: Instant) -> RotatingHistogram {
        RotatingHistogram {
            period,
            rotated_at: now,
            current: Period::new(),
            previous: Period::new(),
        }
    }

    fn rotate_if_due(&mut self, now: Instant) {
        let since = now.saturating_duration_since(self.rotated_at);
        if since >= self.period {
            if since >= self.period * 2 {
                // Nothing recorded for a whole period: the old samples are stale too.
                self.previous.reset();
            } else {
                std::mem::swap(&mut self.current, &mut self.previous);
            }
            self.current.reset();
            self.rotated_at = now;
        }
    }

    /// Record an attempt that answered after `us`, or (`cut_short`) was cut short after `us`.
    pub(crate) fn record(&mut self, us: u64, cut_short: bool, now: Instant) {
        self.rotate_if_due(now);
        let h = match cut_short {
            true => &mut self.current.cut_short,
            false => &mut self.current.answered,
        };
        let _ = h.record(us.max(1));
    }

    /// How long attempts kept their callers waiting over the last full period plus the current
    /// one, if at least `min_samples` were recorded there.
    pub(crate) fn survival(&mut self, min_samples: u64, now: Instant) -> Option<Survival> {
        self.rotate_if_due(now);
        if self.previous.len() + self.current.len() < min_samples {
            return None;
        }
        let mut merged = self.previous.clone();
        let _ = merged.answered.add(&self.current.answered);
        let _ = merged.cut_short.add(&self.current.cut_short);
        Survival::new(&merged.answered, &merged.cut_short)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_see_the_previous_period_after_a_rotation() {
        let t0 = Instant::now();
        let mut h = RotatingHistogram::new(Duration::from_secs(1), t0);
        for us in 1..=100 {
            h.record(us, false, t0);
        }
        let p50 = |h: &mut RotatingHistogram, t| h.survival(10, t).map(|s| s.percentile(50.0));
        assert_eq!(p50(&mut h, t0), Some(Some(50)));
        let t1 = t0 + Duration::from_millis(1500);
        // Rotated: the samples moved to `previous` and still count.
        assert_eq!(p50(&mut h, t1), Some(Some(50)));
        // Two periods later they are gone.
        assert_eq!(p50(&mut h, t1 + Duration::from_millis(2500)), None);
    }

    #[test]
    fn too_few_samples_give_none() {
        let t0 = Instant::now();
        let mut h = RotatingHistogram::new(Duration::from_secs(1), t0);
        h.record(5, true, t0);
        assert_eq!(h.survival(2, t0), None);
        h.record(5, false, t0);
        assert!(
            h.survival(2, t0).is_some(),
            "answered and cut short both count"
        );
    }
}
