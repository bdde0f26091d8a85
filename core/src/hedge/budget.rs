//! The extra-load budget (`hedge_max_extra_load`): over a sliding window, extra attempts never
//! exceed that fraction of calls — except for a small floor of hedges per second, so that low
//! traffic still hedges. Out of budget means no new hedge; attempts in flight are never touched.

use crate::sync::ForkMutex;
use std::time::{Duration, Instant};

/// Buckets of the sliding window.
const BUCKETS: usize = 10;
/// Each bucket's span; the window is `BUCKETS × BUCKET`.
const BUCKET: Duration = Duration::from_secs(1);
/// Hedges per second always allowed, whatever the ratio says.
pub(crate) const FLOOR_PER_SEC: f64 = 3.0;

#[derive(Debug, Default, Clone, Copy)]
struct Bucket {
    /// Which bucket-span since `epoch` this bucket counts (stale buckets are skipped).
    span: u64,
    calls: u64,
    extra: u64,
}

#[derive(Debug)]
struct Window {
    epoch: Instant,
    buckets: [Bucket; BUCKETS],
}

impl Window {
    fn span(&self, now: Instant) -> u64 {
        (now.saturating_duration_since(self.epoch).as_millis() / BUCKET.as_millis()) as u64
    }

    fn bucket(&mut self, now: Instant) -> &mut Bucket {
        let span = self.span(now);
        let b = &mut self.buckets[(span % BUCKETS as u64) as usize];
        if b.span != span {
            *b = Bucket {
                span,
                calls: 0,
                extra: 0,
            };
        }
        b
    }

    fn totals(&self, now: Instant) -> (u64, u64) {
        let span = self.span(now);
        self.buckets
            .iter()
            .filter(|b| b.span + (BUCKETS as u64) > span && b.span <= span)
            .fold((0, 0), |(c, e), b| (c + b.calls, e + b.extra))
    }
}

/// A budget of extra attempts; `None` ratio = no limit.
#[derive(Debug)]
pub(crate) struct Budget {
    ratio: Option<f64>,
    /// Per fork generation: a forked child starts with an empty window.
    window: ForkMutex<Window>,
}

impl Budget {
    pub(crate) fn new(ratio: Option<f64>) -> Budget {
        Budget {
            ratio,
            window: ForkMutex::new(|| Window {
                epoch: Instant::now(),
                buckets: Default::default(),
            }),
        }
    }

    /// Count a call that may hedge.
    pub(crate) fn record_call(&self) {
        self.record_call_at(Instant::now());
    }

    /// Take one extra attempt from the budget, if there is room.
    pub(crate) fn try_spend(&self) -> bool {
        self.try_spend_at(Instant::now())
    }

    /// Give back an extra attempt taken by `try_spend` that was not sent after all.
    pub(crate) fn refund(&self) {
        self.refund_at(Instant::now());
    }

    fn refund_at(&self, now: Instant) {
        if self.ratio.is_some() {
            let mut w = self.window.lock();
            let b = w.bucket(now);
            b.extra = b.extra.saturating_sub(1);
        }
    }

    fn record_call_at(&self, now: Instant) {
        if self.ratio.is_some() {
            self.window.lock().bucket(now).calls += 1;
        }
    }

    fn try_spend_at(&self, now: Instant) -> bool {
        let Some(ratio) = self.ratio else { return true };
        let mut w = self.window.lock();
        let (calls, extra) = w.totals(now);
        // The floor covers the part of the window that has elapsed so far.
        let covered = now
            .saturating_duration_since(w.epoch)
            .min(BUCKET * BUCKETS as u32);
        let floor = FLOOR_PER_SEC * covered.as_secs_f64().max(BUCKET.as_secs_f64());
        let allowed = (ratio * calls as f64).max(floor);
        if (extra + 1) as f64 <= allowed {
            w.bucket(now).extra += 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_attempts_never_exceed_the_ratio_under_load() {
        let b = Budget::new(Some(0.05));
        let t0 = b.window.lock().epoch;
        let mut spent = 0;
        // 10,000 calls in 2 s, each wanting a hedge.
        for i in 0..10_000u32 {
            let now = t0 + Duration::from_micros(200 * i as u64);
            b.record_call_at(now);
            if b.try_spend_at(now) {
                spent += 1;
            }
        }
        assert!(spent <= 500, "{spent} hedges for 10,000 calls exceeds 5%");
        assert!(
            spent >= 450,
            "{spent}: the budget should be used, not starved"
        );
    }

    #[test]
    fn low_traffic_still_hedges_up_to_the_floor() {
        let b = Budget::new(Some(0.01));
        let t0 = b.window.lock().epoch;
        // 10 calls in the first second: 1% of 10 is 0.1 hedges, the floor allows 3.
        let spent = (0..10)
            .filter(|i| {
                let now = t0 + Duration::from_millis(90 * i);
                b.record_call_at(now);
                b.try_spend_at(now)
            })
            .count();
        assert_eq!(spent as f64, FLOOR_PER_SEC);
    }

    #[test]
    fn the_window_slides() {
        let b = Budget::new(Some(0.0));
        let t0 = b.window.lock().epoch;
        let spent = |at: Instant| (0..100).filter(|_| b.try_spend_at(at)).count();
        assert_eq!(spent(t0), 3);
        assert_eq!(spent(t0 + Duration::from_millis(500)), 0);
        // Ten seconds on, the old hedges left the window: the floor (30 over 10 s) is free again.
        assert_eq!(spent(t0 + Duration::from_secs(25)), 30);
    }

    #[test]
    fn a_refunded_hedge_can_be_spent_again() {
        let b = Budget::new(Some(0.0));
        let t0 = b.window.lock().epoch;
        assert_eq!((0..10).filter(|_| b.try_spend_at(t0)).count(), 3);
        b.refund_at(t0);
        assert!(b.try_spend_at(t0));
        assert!(!b.try_spend_at(t0));
    }

    #[test]
    fn no_ratio_means_no_limit() {
        let b = Budget::new(None);
        assert!((0..1000).all(|_| b.try_spend()));
    }
}
