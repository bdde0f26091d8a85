//! Slots in use, averaged over the last second (Apama's `concurrencyUtilizationPercent`, made
//! precise): the time integral of the in-flight count is kept in one-second buckets, and a reading
//! combines the current partial bucket with the matching tail of the previous one.

use crate::sync::lock;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BUCKET: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Window {
    /// Slots in use now.
    level: u64,
    /// When `level` last changed or was accounted.
    last: Instant,
    bucket_start: Instant,
    /// Slot-seconds in the current bucket so far.
    current: f64,
    /// Slot-seconds in the previous, full bucket.
    previous: f64,
}

impl Window {
    /// Account the time since `last` at the current level, rolling buckets as they end.
    fn advance(&mut self, now: Instant) {
        let level = self.level as f64;
        let end = self.bucket_start + BUCKET;
        if now < end {
            self.current += level * now.saturating_duration_since(self.last).as_secs_f64();
        } else {
            let whole = now.duration_since(self.bucket_start).as_secs_f64().floor();
            self.previous = if whole >= 2.0 {
                // At least one full bucket passed at this level.
                level
            } else {
                self.current + level * end.saturating_duration_since(self.last).as_secs_f64()
            };
            self.bucket_start += Duration::from_secs_f64(whole);
            self.current = level * now.duration_since(self.bucket_start).as_secs_f64();
        }
        self.last = now;
    }
}

/// Time-averaged slots in use over the last second.
#[derive(Debug)]
pub(super) struct Utilization {
    window: Mutex<Window>,
}

impl Utilization {
    pub(super) fn new() -> Utilization {
        let now = Instant::now();
        Utilization {
            window: Mutex::new(Window {
                level: 0,
                last: now,
                bucket_start: now,
                current: 0.0,
                previous: 0.0,
            }),
        }
    }

    /// Slots in use changed by `delta` (a slot was taken or freed, not handed over).
    pub(super) fn change(&self, delta: i64) {
        let now = Instant::now();
        let mut w = lock(&self.window);
        w.advance(now);
        w.level = w.level.saturating_add_signed(delta);
    }

    /// Average slots in use over the last second as a percentage of `max_count`, to 0.1.
    pub(super) fn percent_of(&self, max_count: usize) -> f64 {
        self.percent_at(Instant::now(), max_count)
    }

    fn percent_at(&self, now: Instant, max_count: usize) -> f64 {
        let mut w = lock(&self.window);
        w.advance(now);
        let into = now.duration_since(w.bucket_start).as_secs_f64().min(1.0);
        let slot_seconds = w.previous * (1.0 - into) + w.current;
        let pct = 100.0 * slot_seconds / max_count.max(1) as f64;
        (pct * 10.0).round() / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(u: &Utilization, t0: Instant, ms: u64, delta: i64) {
        let now = t0 + Duration::from_millis(ms);
        let mut w = u.window.lock().unwrap();
        w.advance(now);
        w.level = w.level.saturating_add_signed(delta);
    }

    #[test]
    fn a_steady_level_reads_as_its_share_of_max_count() {
        let u = Utilization::new();
        let t0 = u.window.lock().unwrap().bucket_start;
        at(&u, t0, 0, 3);
        for ms in [1500, 2000, 2700, 9000] {
            let pct = u.percent_at(t0 + Duration::from_millis(ms), 4);
            assert_eq!(pct, 75.0, "at {ms} ms");
        }
    }

    #[test]
    fn only_the_last_second_counts() {
        let u = Utilization::new();
        let t0 = u.window.lock().unwrap().bucket_start;
        at(&u, t0, 0, 2);
        at(&u, t0, 1000, -2);
        // Half a second after everything ended, half of the last second was busy at 2 of 2.
        assert_eq!(u.percent_at(t0 + Duration::from_millis(1500), 2), 50.0);
        assert_eq!(u.percent_at(t0 + Duration::from_millis(2500), 2), 0.0);
        assert_eq!(u.percent_at(t0 + Duration::from_millis(60_000), 2), 0.0);
    }

    #[test]
    fn a_burst_within_a_bucket_is_weighted_by_its_duration() {
        let u = Utilization::new();
        let t0 = u.window.lock().unwrap().bucket_start;
        at(&u, t0, 2000, 10);
        at(&u, t0, 2100, -10);
        // 10 slots for 0.1 s of the last second, out of 10 slots: 10 %.
        assert_eq!(u.percent_at(t0 + Duration::from_millis(2500), 10), 10.0);
    }
}
