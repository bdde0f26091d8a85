//! Two hdrhistograms swapped every period, so a read always sees at least one full past period
//! (tower's `RotatingHistogram`, in microseconds rather than milliseconds).

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

#[derive(Debug)]
pub(crate) struct RotatingHistogram {
    period: Duration,
    rotated_at: Instant,
    current: Histogram<u64>,
    previous: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds");
    h.auto(true);
    h
}

impl RotatingHistogram {
    pub(crate) fn new(period: Duration, now: Instant) -> RotatingHistogram {
        RotatingHistogram {
            period,
            rotated_at: now,
            current: histogram(),
            previous: histogram(),
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

    pub(crate) fn record(&mut self, us: u64, now: Instant) {
        self.rotate_if_due(now);
        let _ = self.current.record(us.max(1));
    }

    /// The `percentile` (0–100) of the last full period plus the current one, if at least
    /// `min_samples` were recorded there.
    pub(crate) fn percentile(
        &mut self,
        percentile: f64,
        min_samples: u64,
        now: Instant,
    ) -> Option<u64> {
        self.rotate_if_due(now);
        let total = self.previous.len() + self.current.len();
        if total < min_samples {
            return None;
        }
        let mut merged = self.previous.clone();
        let _ = merged.add(&self.current);
        Some(merged.value_at_quantile(percentile / 100.0))
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
            h.record(us, t0);
        }
        assert_eq!(h.percentile(50.0, 10, t0), Some(50));
        let t1 = t0 + Duration::from_millis(1500);
        // Rotated: the samples moved to `previous` and still count.
        assert_eq!(h.percentile(50.0, 10, t1), Some(50));
        // Two periods later they are gone.
        assert_eq!(
            h.percentile(50.0, 10, t1 + Duration::from_millis(2500)),
            None
        );
    }

    #[test]
    fn too_few_samples_give_none() {
        let t0 = Instant::now();
        let mut h = RotatingHistogram::new(Duration::from_secs(1), t0);
        h.record(5, t0);
        assert_eq!(h.percentile(95.0, 2, t0), None);
    }
}
