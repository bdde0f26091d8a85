//! The delay before the next attempt: fixed (`hedge_delay_ms`), or the `hedge_percentile` of
//! recent attempt latency once enough samples exist (Tail at Scale's "hedged requests").

use std::time::Duration;

use super::latency::Latency;

#[derive(Debug)]
pub(crate) struct Delay {
    fixed: Duration,
    adaptive: Option<Latency>,
}

impl Delay {
    pub(crate) fn new(fixed: Duration, percentile: f64) -> Delay {
        Delay {
            fixed,
            adaptive: (percentile > 0.0).then(|| Latency::new(percentile)),
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
