//! The delay before the next attempt: fixed (`hedge_delay_ms`), or the `hedge_percentile` of
//! recent attempt latency once enough samples exist (Tail at Scale's "hedged requests").
//!
//! With a budget the percentile is raised toward what the budget can pay for: hedging at P sends
//! a hedge for about (100 − P)% of calls, so a budget b smaller than that would be spent on the
//! first calls to cross P — mostly ones about to answer — and the slow calls that come after find
//! it empty. Raising the percentile to 100·(1 − 0.9·b) keeps the budget for the slowest calls
//! (0.9 leaves headroom for bursts) — but it stops at the knee of the tail, where the calls still
//! waiting are nearly all slow ones ([`Latency`]): past there, waiting longer saves nothing.

use std::time::Duration;

use super::latency::Latency;

#[derive(Debug)]
pub(crate) struct Delay {
    fixed: Duration,
    adaptive: Option<Latency>,
}

impl Delay {
    pub(crate) fn new(fixed: Duration, percentile: f64, budget: Option<f64>) -> Delay {
        Delay {
            fixed,
            adaptive: (percentile > 0.0)
                .then(|| Latency::new(percentile, affordable_percentile(percentile, budget))),
        }
    }

    /// The delay to wait now before the next attempt.
    pub(crate) fn current(&self) -> Duration {
        self.adaptive
            .as_ref()
            .and_then(Latency::estimate)
            .unwrap_or(self.fixed)
    }

    /// Where attempt latencies go, when the delay adapts.
    pub(crate) fn latency(&self) -> Option<&Latency> {
        self.adaptive.as_ref()
    }
}

/// The percentile the budget pays for: the asked one, raised so the hedges it would send fit.
fn affordable_percentile(asked: f64, budget: Option<f64>) -> f64 {
    const HEADROOM: f64 = 0.9;
    match budget {
        Some(b) => asked.max(100.0 * (1.0 - HEADROOM * b)).min(99.99),
        None => asked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The delay after 1..=1000 µs were recorded once each.
    fn delay_after_1_to_1000_us(percentile: f64, budget: Option<f64>) -> u128 {
        let d = Delay::new(Duration::from_secs(10), percentile, budget);
        for us in 1..=1000u64 {
            d.latency().unwrap().record(Duration::from_micros(us));
        }
        // The estimate is refreshed at most every 10 ms.
        std::thread::sleep(Duration::from_millis(11));
        d.current().as_micros()
    }

    #[test]
    fn the_delay_follows_the_asked_percentile_raised_by_the_budget() {
        let us = delay_after_1_to_1000_us(90.0, None);
        assert!((895..=905).contains(&us), "p90: {us} µs");
        // A 2% budget pays for hedging past p98.2 only.
        let us = delay_after_1_to_1000_us(90.0, Some(0.02));
        assert!((977..=987).contains(&us), "p98.2: {us} µs");
    }

    #[test]
    fn a_budget_raises_the_percentile_only_when_it_cannot_pay_for_it() {
        assert_eq!(affordable_percentile(95.0, None), 95.0);
        assert_eq!(affordable_percentile(90.0, Some(0.5)), 90.0);
        let p = affordable_percentile(95.0, Some(0.02));
        assert!((p - 98.2).abs() < 1e-9, "{p}");
        assert_eq!(affordable_percentile(95.0, Some(0.0)), 99.99);
    }
}
