//! The limiter (DESIGN.md, "Limits"): per limit key at most `max_count` calls in flight,
//! `max_queue` more waiting FIFO for at most `queue_timeout_ms`; the rest rejected at once.
//!
//! Stage before: the order gate. Stage after: the hedger, whose extra attempts take a slot only
//! if one is free at once ([`Limiter::try_acquire_now`]).
//!
//! NOTE: placeholder until the "limits" issue lands: every acquire succeeds at once.

use crate::config::Config;
use crate::error::Result;
use crate::stats::Stats;

/// Slots per limit key.
#[derive(Debug)]
pub(crate) struct Limiter {}

/// A held slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Permit {}

impl Limiter {
    pub(crate) fn new(_config: &Config) -> Limiter {
        Limiter {}
    }

    /// A slot for a call's first attempt: wait in the key's FIFO queue if needed.
    pub(crate) async fn acquire(&self, _limit_key: Option<&str>) -> Result<Permit> {
        Ok(Permit {})
    }

    /// A slot for a hedge attempt: only if one is free now; never queues.
    pub(crate) fn try_acquire_now(&self, _limit_key: Option<&str>) -> Option<Permit> {
        Some(Permit {})
    }

    /// Fill the limiter's numbers into a snapshot.
    pub(crate) fn fill(&self, _stats: &mut Stats) {}
}
