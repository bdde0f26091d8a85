//! A held limiter slot. Dropping it — the attempt answered, failed, timed out or was cancelled —
//! hands the slot to the key's oldest waiter, or frees it.

use std::sync::Arc;

use super::key_queue::Key;
use super::Shared;

/// One attempt's slot; dropping it frees the slot (or passes it to the next waiter).
#[derive(Debug)]
pub(crate) struct Permit {
    /// `None` once forgotten: dropping it then does nothing.
    shared: Option<Arc<Shared>>,
    key: Key,
}

impl Permit {
    /// A slot of `key` that the caller has already counted in the key's state.
    pub(super) fn new(shared: Arc<Shared>, key: Key) -> Permit {
        Permit {
            shared: Some(shared),
            key,
        }
    }

    /// A slot of a limiter without bounds (it only counts the attempt in flight).
    pub(super) fn unbounded(shared: Arc<Shared>) -> Permit {
        Permit::new(shared, Key::ClientWide)
    }

    /// More slots of this permit's key, for the call's hedge attempts.
    pub(crate) fn spare_slots(&self) -> Option<SpareSlots> {
        let shared = self.shared.clone()?;
        Some(SpareSlots {
            shared,
            key: self.key.clone(),
        })
    }

    /// Drop without releasing: for a permit that never reached its waiter, whose slot the
    /// releaser still owns.
    pub(super) fn forget(mut self) {
        self.shared = None;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.release(&self.key);
        }
    }
}

/// Takes more slots of one call's limit key for its hedge attempts, each only if free at once
/// and nobody is queued for it (a hedge never jumps ahead of a waiting call, and never queues);
/// the key was looked up when the call was admitted.
#[derive(Debug)]
pub(crate) struct SpareSlots {
    shared: Arc<Shared>,
    key: Key,
}

impl SpareSlots {
    pub(crate) fn try_take(&self) -> Option<Permit> {
        self.shared.try_take_now(&self.key)
    }
}
