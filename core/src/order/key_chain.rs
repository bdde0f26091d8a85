//! One FIFO chain per order key: the calls with that key not yet completed, in submission order.
//! The chain's head is the only one that may run; when it completes (or a waiting call is
//! cancelled) it leaves the chain, and the next call becomes the head. A chain that empties is
//! removed, so memory follows the keys in use now, not every key ever seen.
//!
//! A keyed call hashes its key once, at submission and outside the gate's lock; its ticket keeps
//! the hash and its chain's id ([`ChainRef`]), so completing finds the chain without hashing or
//! comparing the key again. A chain holding one call (the usual case: a key rarely has two calls
//! pending) allocates only its key.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

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

/// How a ticket finds its chain again: the key's hash and the chain's id (a key whose chain
/// emptied and came back has a new id; no ticket of the old chain is left by then).
#[derive(Clone, Copy, Debug)]
pub(super) struct ChainRef {
    hash: u64,
    id: u64,
}

/// A call's order key, hashed once with the hasher of the table it is for. The chain a new key
/// starts keeps the call's own string.
#[derive(Debug)]
pub(super) struct HashedKey {
    key: String,
    hash: u64,
}

#[derive(Debug)]
struct Chain {
    key: Box<str>,
    hash: u64,
    id: u64,
    /// The call that may run (or runs).
    head: Link,
    /// The calls after it, in submission order.
    rest: VecDeque<Link>,
}

/// Every order key with a call not yet completed.
#[derive(Debug, Default)]
pub(super) struct KeyChains {
    chains: HashTable<Chain>,
    next_id: u64,
}

/// The hasher of [`KeyChains`]' keys: SipHash with a per-gate random key, since order keys may
/// come from untrusted input (a tenant name, a user id) and must not be able to collide on
/// purpose. Kept outside the table so keys are hashed before the gate's lock is taken.
#[derive(Debug, Default)]
pub(super) struct KeyHasher(RandomState);

impl KeyHasher {
    pub(super) fn hash(&self, key: String) -> HashedKey {
        let hash = self.0.hash_one(key.as_str());
        HashedKey { key, hash }
    }
}

impl KeyChains {
    /// Append a call to its key's chain. `link` is told whether the call is the chain's head
    /// (no earlier call with its key pending) and makes the call's link.
    pub(super) fn push(&mut self, key: HashedKey, link: impl FnOnce(bool) -> Link) -> ChainRef {
        let HashedKey { key, hash } = key;
        // One probe finds the key's chain or the slot for a new one.
        match self.chains.entry(hash, |c| *c.key == *key, |c| c.hash) {
            Entry::Occupied(mut found) => {
                let chain = found.get_mut();
                chain.rest.push_back(link(false));
                ChainRef { hash, id: chain.id }
            }
            Entry::Vacant(slot) => {
                let id = self.next_id;
                self.next_id += 1;
                slot.insert(Chain {
                    key: key.into_boxed_str(),
                    hash,
                    id,
                    head: link(true),
                    rest: VecDeque::new(),
                });
                ChainRef { hash, id }
            }
        }
    }

    /// A call leaves its chain (completed or cancelled). If it was the head, the new head (if
    /// any) is returned: it may now be allowed to start.
    pub(super) fn leave(&mut self, at: ChainRef, seq: u64) -> Option<Link> {
        let Ok(mut entry) = self.chains.find_entry(at.hash, |c| c.id == at.id) else {
            return None;
        };
        let chain = entry.get_mut();
        if chain.head.seq != seq {
            // A call cancelled while it waited: it may be anywhere after the head.
            let pos = chain.rest.iter().position(|l| l.seq == seq)?;
            chain.rest.remove(pos);
            return None;
        }
        if let Some(next) = chain.rest.pop_front() {
            chain.head = next;
            return Some(chain.head.clone());
        }
        entry.remove();
        if self.chains.capacity() > SHRINK_ABOVE && self.chains.len() < self.chains.capacity() / 4 {
            self.chains.shrink_to_fit(|c| c.hash);
        }
        None
    }

    /// Keys with a pending call (for tests of the idle-key rule).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.chains.len()
    }
}
