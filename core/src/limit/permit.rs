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
