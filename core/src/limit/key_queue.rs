//! Per-key state: slots in use plus the FIFO queue of waiters, and the table holding one such
//! state per key that has anything in flight or queued. Idle keys are removed at once, so memory
//! follows the keys in use now, not every key ever seen.

use std::collections::VecDeque;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;
use tokio::sync::oneshot;

use super::permit::Permit;
use crate::sync::lock;

/// Shards of the named-key table: calls on different keys rarely meet on one lock. Each key still
/// has its own queue (a shard is only where the key's state is stored).
const SHARDS: usize = 16;
/// A map that held many keys gives its memory back once most of them are gone.
const SHRINK_ABOVE: usize = 1024;

/// A limit key: the client-wide one, or a named one with its hash (taken once, when the call
/// came to the limiter, and used again when its slot is released). The name is the table's own
/// copy: a key already in use costs no allocation.
#[derive(Clone, Debug)]
pub(super) enum Key {
    ClientWide,
    Named { name: Arc<str>, hash: u64 },
}

impl Key {
    /// The name of the key a call names; `None` for the client-wide key (`None` or `""`).
    fn named(limit_key: Option<&str>) -> Option<&str> {
        limit_key.filter(|k| !k.is_empty())
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::ClientWide => f.write_str("(client-wide)"),
            Key::Named { name, .. } => write!(f, "`{name}`"),
        }
    }
}

/// One key's slots and waiters.
#[derive(Debug, Default)]
pub(super) struct KeyState {
    /// Slots held now.
    pub(super) in_flight: usize,
    /// Waiters in arrival order (ids increase from front to back). A waiter that leaves (it timed
    /// out or was cancelled) leaves a hole (`None`) that the queue skips and drops when it
    /// reaches the front, so leaving from anywhere costs a binary search, not a shift.
    waiters: VecDeque<(u64, Option<oneshot::Sender<Permit>>)>,
    /// Live waiters: entries that are not holes.
    queued: usize,
}

/// Holes are swept out once they outnumber live waiters by this much: memory stays within a
/// constant factor of the live queue however many waiters leave from its middle.
const SWEEP_HOLES_ABOVE: usize = 32;

impl KeyState {
    /// Take a slot if one is free and nobody is queued for it (a hedge never jumps the queue).
    pub(super) fn take_free(&mut self, bounds: &super::Bounds) -> bool {
        let free = self.in_flight < bounds.max_count && self.queued == 0;
        if free {
            self.in_flight += 1;
        }
        free
    }

    /// Live waiters.
    pub(super) fn queued(&self) -> usize {
        self.queued
    }

    /// Join the back of the queue; the slot arrives through the returned receiver. Ids must
    /// increase from call to call.
    pub(super) fn enqueue(&mut self, id: u64) -> oneshot::Receiver<Permit> {
        let (tx, rx) = oneshot::channel();
        debug_assert!(self.waiters.back().is_none_or(|(last, _)| *last < id));
        self.waiters.push_back((id, Some(tx)));
        self.queued += 1;
        rx
    }

    /// The oldest waiter, taken out of the queue.
    pub(super) fn dequeue(&mut self) -> Option<oneshot::Sender<Permit>> {
        while let Some((_, entry)) = self.waiters.pop_front() {
            if let Some(tx) = entry {
                self.queued -= 1;
                return Some(tx);
            }
        }
        None
    }

    /// Leave the queue; false if the waiter is no longer in it (it was handed a slot).
    pub(super) fn leave(&mut self, id: u64) -> bool {
        let Ok(pos) = self.waiters.binary_search_by_key(&id, |(i, _)| *i) else {
            return false;
        };
        if self.waiters[pos].1.take().is_none() {
            return false;
        }
        self.queued -= 1;
        // Holes at either end go at once; the rest when they pile up.
        while self.waiters.front().is_some_and(|(_, e)| e.is_none()) {
            self.waiters.pop_front();
        }
        while self.waiters.back().is_some_and(|(_, e)| e.is_none()) {
            self.waiters.pop_back();
        }
        if self.waiters.len() > 2 * self.queued + SWEEP_HOLES_ABOVE {
            self.waiters.retain(|(_, e)| e.is_some());
            self.waiters.shrink_to(2 * self.queued);
        }
        true
    }

    fn is_idle(&self) -> bool {
        self.in_flight == 0 && self.queued == 0
    }
}

/// A named key's entry in its shard.
#[derive(Debug)]
struct Named {
    name: Arc<str>,
    hash: u64,
    state: KeyState,
}

type Shard = Mutex<HashTable<Named>>;

/// Every key's state. The client-wide key has its own lock and is never dropped.
#[derive(Debug)]
pub(super) struct KeyTable {
    client_wide: Mutex<KeyState>,
    shards: [Shard; SHARDS],
    /// SipHash with a random key: limit keys may come from untrusted input (a tenant name).
    hasher: RandomState,
}

impl KeyTable {
    pub(super) fn new() -> KeyTable {
        KeyTable {
            client_wide: Mutex::new(KeyState::default()),
            shards: std::array::from_fn(|_| Mutex::new(HashTable::new())),
            hasher: RandomState::new(),
        }
    }

    /// Run `f` on the state of the key a call names (`None` or `""`: the client-wide key) under
    /// its lock, creating the state if the key is new, and drop the state if `f` left it idle.
    /// Returns the [`Key`] too, for the permit or the waiter to find the state again with.
    /// `f` must not drop a [`Permit`]: releasing takes this same lock.
    pub(super) fn with_name<R>(
        &self,
        limit_key: Option<&str>,
        f: impl FnOnce(&mut KeyState) -> R,
    ) -> (Key, R) {
        let Some(name) = Key::named(limit_key) else {
            return (Key::ClientWide, f(&mut lock(&self.client_wide)));
        };
        let hash = self.hasher.hash_one(name);
        self.with_entry(
            hash,
            name,
            || name.into(),
            |e| {
                let out = f(&mut e.state);
                let key = Key::Named {
                    name: e.name.clone(),
                    hash,
                };
                (key, out)
            },
        )
    }

    /// Run `f` on a key's state under its lock (creating the state if the key went idle since
    /// the [`Key`] was made), then drop the state if `f` left it idle. `f` must not drop a
    /// [`Permit`].
    pub(super) fn with<R>(&self, key: &Key, f: impl FnOnce(&mut KeyState) -> R) -> R {
        match key {
            Key::ClientWide => f(&mut lock(&self.client_wide)),
            Key::Named { name, hash } => {
                self.with_entry(*hash, name, || name.clone(), |e| f(&mut e.state))
            }
        }
    }

    /// Run `f` on the entry of the named key `name` (hashed `hash`) under its shard's lock,
    /// making the entry (its name from `owned`) if the key has none, and remove the entry if `f`
    /// left the key idle. One probe of the table either way.
    fn with_entry<R>(
        &self,
        hash: u64,
        name: &str,
        owned: impl FnOnce() -> Arc<str>,
        f: impl FnOnce(&mut Named) -> R,
    ) -> R {
        let mut map = lock(self.shard(hash));
        let mut entry = match map.entry(hash, |e| *e.name == *name, |e| e.hash) {
            Entry::Occupied(e) => e,
            Entry::Vacant(v) => v.insert(Named {
                name: owned(),
                hash,
                state: KeyState::default(),
            }),
        };
        let out = f(entry.get_mut());
        if entry.get().state.is_idle() {
            entry.remove();
            if map.capacity() > SHRINK_ABOVE && map.len() < map.capacity() / 4 {
                map.shrink_to_fit(|e| e.hash);
            }
        }
        out
    }

    /// Read the state of the key a call names, if it has one (an idle key has none).
    pub(super) fn peek<R>(
        &self,
        limit_key: Option<&str>,
        f: impl FnOnce(&KeyState) -> R,
    ) -> Option<R> {
        let Some(name) = Key::named(limit_key) else {
            return Some(f(&lock(&self.client_wide)));
        };
        let hash = self.hasher.hash_one(name);
        let map = lock(self.shard(hash));
        map.find(hash, |e| *e.name == *name).map(|e| f(&e.state))
    }

    /// Named keys with state now (for tests of the idle-key rule).
    #[cfg(test)]
    pub(super) fn named_keys(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    fn shard(&self, hash: u64) -> &Shard {
        // Bits the table inside does not use: it indexes buckets with the low bits and tags
        // them with the top seven.
        &self.shards[((hash >> 32) as usize) % SHARDS]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waiters that leave from anywhere are skipped in FIFO order, and their holes do not pile up.
    #[test]
    fn leaving_waiters_keep_fifo_order_and_bounded_memory() {
        let mut st = KeyState::default();
        let _rx: Vec<_> = (0..10).map(|id| st.enqueue(id)).collect();
        assert!(st.leave(3) && st.leave(0) && st.leave(9));
        assert!(!st.leave(3), "a waiter leaves once");
        assert!(!st.leave(42), "an unknown waiter is not in the queue");
        assert_eq!(st.queued(), 7);
        // Holes at the ends went at once: 1..=8 remain, 3 a hole.
        assert_eq!(st.waiters.len(), 8);
        let mut order = Vec::new();
        while let Some(tx) = st.dequeue() {
            order.push(tx);
        }
        assert_eq!(order.len(), 7);
        assert!(st.is_idle() && st.waiters.is_empty());

        // Many leave from the middle while the head stays: the holes are swept.
        let _rx: Vec<_> = (100..1100).map(|id| st.enqueue(id)).collect();
        for id in 101..1099 {
            assert!(st.leave(id));
        }
        assert_eq!(st.queued(), 2);
        assert!(
            st.waiters.len() <= 2 * 2 + SWEEP_HOLES_ABOVE,
            "{}",
            st.waiters.len()
        );
        assert!(st.dequeue().is_some() && st.dequeue().is_some() && st.dequeue().is_none());
        // A waiter handed a slot (dequeued) can no longer leave.
        let _rx = st.enqueue(2000);
        let _tx = st.dequeue();
        assert!(!st.leave(2000));
    }
}
