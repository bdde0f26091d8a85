//! Round robin: each pick starts one past the last.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

#[derive(Debug, Default)]
pub(super) struct RoundRobin {
    next: AtomicUsize,
}

impl RoundRobin {
    /// The next eligible host after the last pick.
    pub(super) fn pick(&self, n: usize, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
        let start = self.next.fetch_add(1, Relaxed);
        let picked = (0..n).map(|k| (start + k) % n).find(|&i| eligible(i))?;
        // Skipped hosts do not shift the rotation for everyone else.
        Some(picked)
    }
}
