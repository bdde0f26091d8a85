//! One FIFO chain per order key: the calls with that key not yet completed, in submission order.
//! The chain's head is the only one that may run; when it completes (or a waiting call is
//! cancelled) it leaves the chain, and the next call becomes the head. A chain that empties is
//! removed, so memory follows the keys in use now, not every key ever seen.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::Wake;

/// A map that held many keys gives its memory back once most of them are gone.
const SHRINK_ABOVE: usize = 1024;

/// One call in a chain.
#[derive(Clone, Debug)]
pub(super) struct Link {
    pub(super) seq: u64,
    /// The flush epoch the call belongs to (see `flush.rs`).
    pub(super) epoch: u64,
    pub(super) flush: bool,
    /// How to tell the call it may start; `None` for a call that could start when submitted.
    pub(super) wake: Option<Arc<Wake>>,
}

#[derive(Debug)]
struct Chain {
    /// The map's key, shared with every ticket of this chain (one allocation per chain).
    key: Arc<str>,
    links: VecDeque<Link>,
}

/// Every order key with a call not yet completed.
#[derive(Debug, Default)]
pub(super) struct KeyChains {
    chains: HashMap<Arc<str>, Chain>,
}

impl KeyChains {
    /// Whether a call with `key` would be the head of its chain (no earlier call pending).
    pub(super) fn is_free(&self, key: &str) -> bool {
        !self.chains.contains_key(key)
    }

    /// Append a call to its key's chain; returns the shared key.
    pub(super) fn push(&mut self, key: &str, link: Link) -> Arc<str> {
        if let Some(chain) = self.chains.get_mut(key) {
            chain.links.push_back(link);
            return chain.key.clone();
        }
        let shared: Arc<str> = Arc::from(key);
        self.chains.insert(
            shared.clone(),
            Chain {
                key: shared.clone(),
                links: VecDeque::from([link]),
            },
        );
        shared
    }

    /// A call leaves its chain (completed or cancelled). If it was the head, the new head (if
    /// any) is returned: it may now be allowed to start.
    pub(super) fn leave(&mut self, key: &str, seq: u64) -> Option<Link> {
        let chain = self.chains.get_mut(key)?;
        // Almost always the head; a call cancelled while waiting may be anywhere.
        let pos = chain.links.iter().position(|l| l.seq == seq)?;
        chain.links.remove(pos);
        let new_head = (pos == 0).then(|| chain.links.front().cloned()).flatten();
        if chain.links.is_empty() {
            self.chains.remove(key);
            if self.chains.capacity() > SHRINK_ABOVE
                && self.chains.len() < self.chains.capacity() / 4
            {
                self.chains.shrink_to_fit();
            }
        }
        new_head
    }

    /// Keys with a pending call (for tests of the idle-key rule).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.chains.len()
    }
}
