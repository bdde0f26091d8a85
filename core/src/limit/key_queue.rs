//! Per-key state: slots in use plus the FIFO queue of waiters, and the table holding one such
//! state per key that has anything in flight or queued. Idle keys are removed at once, so memory
//! follows the keys in use now, not every key ever seen.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::permit::Permit;
use crate::sync::lock;

/// Shards of the named-key table: calls on different keys rarely meet on one lock. Each key still
/// has its own queue (a shard is only where the key's state is stored).
const SHARDS: usize = 16;
/// A map that held many keys gives its memory back once most of them are gone.
const SHRINK_ABOVE: usize = 1024;

/// A limit key: the client-wide one, or a named one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Key {
    ClientWide,
    Named(Arc<str>),
}

impl Key {
    /// `None` and `""` are the client-wide key.
    pub(super) fn new(limit_key: Option<&str>) -> Key {
        match limit_key {
            None | Some("") => Key::ClientWide,
            Some(k) => Key::Named(Arc::from(k)),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::ClientWide => f.write_str("(client-wide)"),
            Key::Named(k) => write!(f, "`{k}`"),
        }
    }
}

/// One key's slots and waiters.
#[derive(Debug, Default)]
pub(super) struct KeyState {
    /// Slots held now.
    pub(super) in_flight: usize,
    /// Waiters by arrival id: the first entry is the oldest. A waiter that is cancelled removes
    /// its own entry, so the queue only ever holds live waiters.
    pub(super) waiters: BTreeMap<u64, oneshot::Sender<Permit>>,
}

impl KeyState {
    /// Join the back of the queue; the slot arrives through the returned receiver.
    pub(super) fn enqueue(&mut self, id: u64) -> oneshot::Receiver<Permit> {
        let (tx, rx) = oneshot::channel();
        self.waiters.insert(id, tx);
        rx
    }

    /// The oldest waiter, taken out of the queue.
    pub(super) fn dequeue(&mut self) -> Option<oneshot::Sender<Permit>> {
        self.waiters.pop_first().map(|(_, tx)| tx)
    }

    /// Leave the queue; false if the waiter is no longer in it (it was handed a slot).
    pub(super) fn leave(&mut self, id: u64) -> bool {
        self.waiters.remove(&id).is_some()
    }

    fn is_idle(&self) -> bool {
        self.in_flight == 0 && self.waiters.is_empty()
    }
}

/// Every key's state. The client-wide key has its own lock and is never dropped.
#[derive(Debug)]
pub(super) struct KeyTable {
    client_wide: Mutex<KeyState>,
    shards: [Mutex<HashMap<Arc<str>, KeyState>>; SHARDS],
    hasher: RandomState,
}

impl KeyTable {
    pub(super) fn new() -> KeyTable {
        KeyTable {
            client_wide: Mutex::new(KeyState::default()),
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            hasher: RandomState::new(),
        }
    }

    /// Run `f` on the key's state under its lock (creating the state if the key is new), then
    /// drop the state if the key is left idle. `f` must not drop a [`Permit`]: releasing takes
    /// this same lock.
    pub(super) fn with<R>(&self, key: &Key, f: impl FnOnce(&mut KeyState) -> R) -> R {
        match key {
            Key::ClientWide => f(&mut lock(&self.client_wide)),
            Key::Named(name) => {
                let mut map = lock(self.shard(name));
                let out = match map.get_mut(&**name) {
                    Some(st) => f(st),
                    None => f(map.entry(name.clone()).or_default()),
                };
                if map.get(&**name).is_some_and(KeyState::is_idle) {
                    map.remove(&**name);
                    if map.capacity() > SHRINK_ABOVE && map.len() < map.capacity() / 4 {
                        map.shrink_to_fit();
                    }
                }
                out
            }
        }
    }

    /// Read the key's state if it has one (an idle key has none).
    pub(super) fn peek<R>(&self, key: &Key, f: impl FnOnce(&KeyState) -> R) -> Option<R> {
        match key {
            Key::ClientWide => Some(f(&lock(&self.client_wide))),
            Key::Named(name) => lock(self.shard(name)).get(&**name).map(f),
        }
    }

    /// Named keys with state now (for tests of the idle-key rule).
    #[cfg(test)]
    pub(super) fn named_keys(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    fn shard(&self, name: &str) -> &Mutex<HashMap<Arc<str>, KeyState>> {
        &self.shards[(self.hasher.hash_one(name) as usize) % SHARDS]
    }
}
