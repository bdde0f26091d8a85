//! The order gate (DESIGN.md, "Ordering"):
//!
//! - Every call gets a sequence number when it is submitted ([`Gate::submit`], called
//!   synchronously by `Client::send`), so submission order is the order the submit calls return.
//! - A call with order key K starts only after every earlier call with key K has completed —
//!   success, failure, timeout, rejection or cancellation all count as completed.
//! - A call with `flush` starts only after every earlier call has completed. Calls submitted after
//!   it do not start before it starts; once it has started they may run beside it, except those
//!   with its order key, which wait for it to complete.
//! - Calls with no key and no flush never wait on other keys: no head-of-line blocking.
//! - A call cancelled while it waits gives up its place without letting a later same-key call
//!   overtake an earlier one that is still running.
//!
//! "Starts" means: leaves the gate. A flush counts as started once it also holds its limiter
//! slot ([`Ticket::started`]), so calls after it queue behind it at the limiter too. "Completed"
//! means its [`Ticket`] was dropped, which happens however the call ends.
//!
//! The parts, one job each: [`key_chain`] (per-key FIFO chains; a key with nothing pending has
//! none) and [`flush`] (flush barriers as epochs of the submission sequence). One lock covers
//! both, since a flush depends on every key; it is held for a few map operations per call.
//!
//! Most calls have no key and no flush, and while no flush is pending such a call has nothing
//! to wait for: it only has to be counted, so that a later flush waits for it. It takes the
//! *fast path*: counted in a per-thread sharded counter, never taking the lock (two lock round
//! trips per call on a lock every worker thread shares were a measurable part of a call's cost).
//!
//! Stage before: submission. Stage after: the limiter — a call never holds a limiter slot while
//! it waits for its turn here.

mod flush;
mod key_chain;

use std::sync::atomic::{AtomicBool, Ordering, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::shard;
use crate::stats::Stats;
use crate::sync::lock;

use flush::Epochs;
use key_chain::{ChainRef, KeyChains, KeyHasher, Link};

/// How the gate tells one waiting call that it may start.
#[derive(Debug, Default)]
struct Wake {
    /// Set (under the gate's lock) when the call may start; never unset.
    ready: AtomicBool,
    notify: Notify,
}

/// Everything the gate knows, under one lock.
#[derive(Debug, Default)]
struct Book {
    next_seq: u64,
    chains: KeyChains,
    epochs: Epochs,
    /// Calls held now by a key or a flush.
    waiting: u64,
    /// Flush calls that had to wait for earlier calls.
    flush_waits: u64,
}

impl Book {
    /// Let flushes whose turn came start, counting fast-path calls in the open epoch, and keep
    /// the fast path closed exactly while a flush has not started.
    fn settle(&mut self, shared: &Shared, woken: &mut Vec<Arc<Wake>>) {
        let fast = shared.fast_incomplete.sum(SeqCst).max(0) as u64;
        self.epochs.settle(fast, woken);
        let pending = self.epochs.flush_pending();
        // Written only when it changes: fast-path calls read it, and a write would take the
        // cache line from every core that holds it.
        if shared.flush_pending.load(SeqCst) != pending {
            shared.flush_pending.store(pending, SeqCst);
        }
    }

    /// Tell each call it may start (at most once each).
    fn signal(&mut self, woken: Vec<Arc<Wake>>) {
        for w in woken {
            if !w.ready.swap(true, Ordering::Release) {
                self.waiting -= 1;
                w.notify.notify_one();
            }
        }
    }

    /// A call became the head of its key chain: it may start unless a flush still holds it.
    fn promote(&mut self, head: Link, woken: &mut Vec<Arc<Wake>>) {
        // A flush waits for every earlier call, so the flush rule alone decides when it starts.
        let (false, Some(wake)) = (head.flush, head.wake) else {
            return;
        };
        if self.epochs.is_open(head.epoch) {
            woken.push(wake);
        } else {
            self.epochs.park(head.epoch, wake);
        }
    }
}

/// Hands out tickets in submission order and decides when each may start.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    shared: Arc<Shared>,
}

/// What the gate and its tickets share.
#[derive(Debug, Default)]
struct Shared {
    book: Mutex<Book>,
    /// Hashes order keys before the lock is taken.
    key_hasher: KeyHasher,
    /// Fast-path calls not yet completed; all of them belong to the open epoch.
    fast_incomplete: shard::Counter,
    /// Set while a flush has not started yet (a closed epoch exists): calls take the locked
    /// path then. Written under the lock; read without it.
    flush_pending: AtomicBool,
}

/// A call's place in submission order. Dropping it — the call completed, failed, timed out, was
/// rejected or was cancelled, waiting or running — passes its turn on.
#[derive(Debug)]
pub(crate) struct Ticket {
    shared: Arc<Shared>,
    /// Counted on the fast path: no key, no flush, no epoch bookkeeping under the lock.
    fast: bool,
    /// Submission order among the calls that took the lock (the fast path takes none).
    seq: u64,
    /// The call's key chain, when it has an order key.
    key: Option<ChainRef>,
    flush: bool,
    epoch: u64,
    /// `None` when the call could start at once.
    wake: Option<Arc<Wake>>,
    started: bool,
}

impl Gate {
    pub(crate) fn new() -> Gate {
        Gate::default()
    }

    /// Take a place in submission order; called synchronously by `Client::send`. A key that
    /// starts a chain is kept as it is (no copy).
    pub(crate) fn submit(&self, order_key: Option<String>, flush: bool) -> Ticket {
        let order_key = order_key.filter(|k| !k.is_empty());
        let keyless = order_key.is_none() && !flush;
        if keyless {
            // Count first, then look for a pending flush (both SeqCst, paired with the flush's
            // store of the flag and its sum of the counter): either the flush's sum sees this
            // call, or this call sees the flush and takes the locked path behind it.
            self.shared.fast_incomplete.add(1, SeqCst);
            if !self.shared.flush_pending.load(SeqCst) {
                return Ticket {
                    shared: self.shared.clone(),
                    fast: true,
                    seq: 0,
                    key: None,
                    flush: false,
                    epoch: 0,
                    wake: None,
                    started: false,
                };
            }
            self.shared.fast_incomplete.add(-1, SeqCst);
        }
        let order_key = order_key.map(|k| self.shared.key_hasher.hash(k));
        let mut guard = lock(&self.shared.book);
        let book = &mut *guard;
        let seq = book.next_seq;
        book.next_seq += 1;
        let mut woken = Vec::new();
        if keyless {
            // Fell back from the fast path: the flush may have counted this call in the moment
            // it was counted there, so let it look again.
            book.settle(&self.shared, &mut woken);
        }
        let (epoch, wake, key);
        if flush {
            let w = Arc::new(Wake::default());
            book.waiting += 1;
            epoch = book.epochs.begin_flush(w.clone());
            self.shared.flush_pending.store(true, SeqCst);
            key = order_key.map(|k| book.chains.push(k, |_| link(seq, epoch, true, Some(&w))));
            book.settle(&self.shared, &mut woken);
            if !woken.iter().any(|x| Arc::ptr_eq(x, &w)) {
                book.flush_waits += 1;
            }
            wake = Some(w);
        } else {
            epoch = book.epochs.join();
            let open = book.epochs.is_open(epoch);
            let (waiting, epochs) = (&mut book.waiting, &mut book.epochs);
            // A call that may start now (no flush ahead, head of its chain) needs no wake-up;
            // one that is the head waits only for its flush to start.
            let mut wake_for = |head: bool| {
                let w = (!(open && head)).then(|| {
                    *waiting += 1;
                    Arc::new(Wake::default())
                });
                if let (true, Some(w)) = (head, &w) {
                    epochs.park(epoch, w.clone());
                }
                w
            };
            match order_key {
                None => {
                    wake = wake_for(true);
                    key = None;
                }
                Some(k) => {
                    let mut made = None;
                    key = Some(book.chains.push(k, |head| {
                        made = wake_for(head);
                        link(seq, epoch, false, made.as_ref())
                    }));
                    wake = made;
                }
            }
        }
        book.signal(woken);
        Ticket {
            shared: self.shared.clone(),
            fast: false,
            seq,
            key,
            flush,
            epoch,
            wake,
            started: false,
        }
    }

    /// Fill the gate's numbers into a snapshot.
    pub(crate) fn fill(&self, stats: &mut Stats) {
        let book = lock(&self.shared.book);
        stats.waiting_for_order = book.waiting;
        stats.flush_waits = book.flush_waits;
    }

    /// Order keys with a call pending (for tests of the idle-key rule).
    #[cfg(test)]
    fn keys_pending(&self) -> usize {
        lock(&self.shared.book).chains.len()
    }
}

fn link(seq: u64, epoch: u64, flush: bool, wake: Option<&Arc<Wake>>) -> Link {
    Link {
        seq,
        epoch,
        flush,
        wake: wake.cloned(),
    }
}

impl Ticket {
    /// The call's sequence number (submission order, from 0 per client).
    #[cfg(test)]
    fn seq(&self) -> u64 {
        self.seq
    }

    /// Whether this call may start now (its turn has come, or it never had to wait).
    pub(crate) fn is_ready(&self) -> bool {
        self.wake
            .as_ref()
            .is_none_or(|w| w.ready.load(Ordering::Acquire))
    }

    /// Wait until this call may start. Cancel-safe: dropping the future (or the ticket) gives the
    /// place up.
    pub(crate) async fn wait(&mut self) {
        let Some(w) = &self.wake else { return };
        // `notify_one` stores a permit when nobody waits yet, so no wake-up is lost.
        while !w.ready.load(Ordering::Acquire) {
            w.notify.notified().await;
        }
    }

    /// Whether the call has started: a call that ends before cannot have sent anything.
    pub(crate) fn has_started(&self) -> bool {
        self.started
    }

    /// The call has started (it holds its limiter slot). For a flush, calls submitted after it
    /// may now start beside it.
    pub(crate) fn started(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        if self.flush {
            let mut book = lock(&self.shared.book);
            let mut woken = Vec::new();
            book.epochs.flush_started(self.epoch);
            book.settle(&self.shared, &mut woken);
            book.signal(woken);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.fast {
            // Uncount first, then look for a pending flush (pairs with the flush's flag store
            // and sum): a flush that might be waiting for this call gets to look again.
            self.shared.fast_incomplete.add(-1, SeqCst);
            if self.shared.flush_pending.load(SeqCst) {
                let mut book = lock(&self.shared.book);
                let mut woken = Vec::new();
                book.settle(&self.shared, &mut woken);
                book.signal(woken);
            }
            return;
        }
        let mut book = lock(&self.shared.book);
        let mut woken = Vec::new();
        if let Some(w) = &self.wake {
            // Still waiting: it gives up its place (and is no longer counted as waiting).
            if !w.ready.swap(true, Ordering::Relaxed) {
                book.waiting -= 1;
            }
        }
        if let Some(key) = self.key {
            if let Some(head) = book.chains.leave(key, self.seq) {
                book.promote(head, &mut woken);
            }
        }
        if self.flush && !self.started {
            book.epochs.flush_gone(self.epoch);
        } else {
            book.epochs.complete(self.epoch);
        }
        book.settle(&self.shared, &mut woken);
        book.signal(woken);
    }
}

#[cfg(test)]
mod tests;
