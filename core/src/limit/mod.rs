//! The limiter (DESIGN.md, "Limits"):
//!
//! - Per limit key (a call without one uses the client-wide key): at most `max_count` attempts in
//!   flight from this client, `max_queue` more waiting in FIFO order, each waiting at most
//!   `queue_timeout_ms`.
//! - Queue full → `LimitQueueFull` at once. Waited too long → `LimitTimeout`. Neither sends
//!   anything to the backend. A waiting call that is cancelled leaves the queue and holds no slot,
//!   even when the cancel races with the slot being handed to it.
//! - Hedge attempts never wait in the queue: [`Permit::spare_slots`] gives a slot only if one
//!   is free at once and nobody is queued for it, so hedging uses spare capacity only.
//! - Keys with nothing in flight and nothing queued are dropped: memory does not grow with the
//!   number of distinct keys ever seen.
//!
//! The parts, one job each: [`key_queue`] (per-key slots plus the FIFO of waiters, and the table
//! that drops idle keys), [`permit`] (a held slot; dropping it hands the slot to the next waiter),
//! [`wait`] (a queued call's wait, cancel- and timeout-safe), [`utilization`] (slots in use over
//! the last second).
//!
//! Stage before: the order gate (a call never holds a slot while it waits for its turn there).
//! Stage after: the hedger, whose extra attempts come through [`Permit::spare_slots`].

mod key_queue;
mod permit;
mod utilization;
mod wait;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result, Sent};
use crate::stats::{LimitKeyStats, Stats};

use key_queue::{Key, KeyTable};
pub(crate) use permit::Permit;
use utilization::Utilization;
pub(crate) use wait::Waiting;

/// The configured bounds; absent when `max_count` is not set (then every acquire succeeds).
#[derive(Debug)]
struct Bounds {
    max_count: usize,
    /// `None`: unbounded queue.
    max_queue: Option<usize>,
    queue_timeout: Option<Duration>,
}

/// Client-wide counters, updated by acquires, releases and waiters.
#[derive(Debug, Default)]
struct Counters {
    /// Slots in use now, over every key (each attempt holds one).
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    queued: AtomicU64,
    rejected_queue_full: AtomicU64,
    timed_out: AtomicU64,
    next_waiter: AtomicU64,
}

/// What permits and waiters share with the limiter.
#[derive(Debug)]
struct Shared {
    bounds: Option<Bounds>,
    table: KeyTable,
    counters: Counters,
    utilization: Utilization,
}

/// A call's place at the limiter: a slot, or a place in its key's queue. Dropping it frees the
/// slot or leaves the queue.
#[derive(Debug)]
pub(crate) enum Admission {
    Granted(Permit),
    Queued(Waiting),
}

impl Admission {
    /// The slot: at once, or when the queue hands one over (`LimitTimeout` past
    /// `queue_timeout_ms`, counted from when the call joined the queue).
    pub(crate) async fn into_permit(self) -> Result<Permit> {
        match self {
            Admission::Granted(p) => Ok(p),
            Admission::Queued(w) => w.until_granted().await,
        }
    }
}

/// Slots per limit key, with a bounded FIFO queue of calls waiting for one.
#[derive(Debug)]
pub(crate) struct Limiter {
    shared: Arc<Shared>,
}

impl Limiter {
    pub(crate) fn new(config: &Config) -> Limiter {
        let bounds = config.max_count.map(|n| Bounds {
            max_count: n as usize,
            max_queue: config.max_queue.map(|q| q as usize),
            queue_timeout: config.queue_timeout,
        });
        Limiter {
            shared: Arc::new(Shared {
                bounds,
                table: KeyTable::new(),
                counters: Counters::default(),
                utilization: Utilization::new(),
            }),
        }
    }

    /// A slot for a call's first attempt: at once if one is free and nobody is queued, else wait
    /// in the key's FIFO queue (bounded by `max_queue`, for at most `queue_timeout_ms`).
    /// Dropping the returned future while it waits leaves the queue without holding a slot.
    /// (The client uses the two halves, [`Limiter::admit`] then [`Admission::into_permit`].)
    #[cfg(test)]
    pub(crate) async fn acquire(&self, limit_key: Option<&str>) -> Result<Permit> {
        self.admit(limit_key)?.into_permit().await
    }

    /// The synchronous half of [`Limiter::acquire`]: take a free slot, or a place at the back of
    /// the key's queue, or be rejected because the queue is full. The client calls it at
    /// submission when the call's order turn has already come, so the queue's FIFO order is the
    /// order calls were submitted in, not the order their tasks happened to run.
    pub(crate) fn admit(&self, limit_key: Option<&str>) -> Result<Admission> {
        let shared = &self.shared;
        let Some(bounds) = &shared.bounds else {
            return Ok(Admission::Granted(shared.take_unbounded()));
        };
        let (key, queued) = shared.table.with_name(limit_key, |st| {
            if st.take_free(bounds) {
                return Ok(None);
            }
            if bounds.max_queue.is_some_and(|max| st.queued() >= max) {
                return Err(());
            }
            let id = shared.counters.next_waiter.fetch_add(1, Relaxed);
            let rx = st.enqueue(id);
            shared.counters.queued.fetch_add(1, Relaxed);
            Ok(Some((id, rx)))
        });
        match queued {
            Ok(None) => Ok(Admission::Granted(shared.took_free_slot(key))),
            Ok(Some((id, rx))) => Ok(Admission::Queued(Waiting::new(shared.clone(), key, id, rx))),
            Err(()) => {
                shared.counters.rejected_queue_full.fetch_add(1, Relaxed);
                Err(queue_full(&key, bounds))
            }
        }
    }

    /// A slot for a hedge attempt: only if one is free now and no call is queued for it (a hedge
    /// never jumps ahead of a waiting call); never queues. (A call's hedges use
    /// [`Permit::spare_slots`], which does the same without looking the key up again.)
    #[cfg(test)]
    pub(crate) fn try_acquire_now(&self, limit_key: Option<&str>) -> Option<Permit> {
        let shared = &self.shared;
        let Some(bounds) = &shared.bounds else {
            return Some(shared.take_unbounded());
        };
        let (key, free) = shared.table.with_name(limit_key, |st| st.take_free(bounds));
        free.then(|| shared.took_free_slot(key))
    }

    /// Fill the limiter's numbers into a snapshot.
    pub(crate) fn fill(&self, stats: &mut Stats) {
        let c = &self.shared.counters;
        stats.in_flight = c.in_flight.load(Relaxed);
        stats.max_in_flight = c.max_in_flight.load(Relaxed);
        stats.queued = c.queued.load(Relaxed);
        stats.rejected_queue_full = c.rejected_queue_full.load(Relaxed);
        stats.limit_timeouts = c.timed_out.load(Relaxed);
        stats.utilization_percent = match &self.shared.bounds {
            Some(b) => self.shared.utilization.percent_of(b.max_count),
            None => 0.0,
        };
    }

    /// One limit key's numbers now (a key with nothing in flight or queued reads as zeros).
    pub(crate) fn key_stats(&self, limit_key: Option<&str>) -> LimitKeyStats {
        let (in_flight, queued) = match &self.shared.bounds {
            Some(_) => self
                .shared
                .table
                .peek(limit_key, |st| (st.in_flight as u64, st.queued() as u64))
                .unwrap_or((0, 0)),
            None => (0, 0),
        };
        let b = self.shared.bounds.as_ref();
        LimitKeyStats {
            limit_key: limit_key.unwrap_or("").to_string(),
            in_flight,
            queued,
            max_count: b.map_or(0, |b| b.max_count as u64),
            max_queue: b.and_then(|b| b.max_queue).map(|q| q as u64),
        }
    }
}

impl Shared {
    /// A permit without bounds: it only counts the attempt in flight.
    fn take_unbounded(self: &Arc<Self>) -> Permit {
        self.count_in(1);
        Permit::unbounded(self.clone())
    }

    /// A free slot of `key` now if nobody is queued for it, or none (for a hedge attempt).
    fn try_take_now(self: &Arc<Self>, key: &Key) -> Option<Permit> {
        let Some(bounds) = &self.bounds else {
            return Some(self.take_unbounded());
        };
        let free = self.table.with(key, |st| st.take_free(bounds));
        free.then(|| self.took_free_slot(key.clone()))
    }

    /// A permit for a slot just taken from a key's free slots (not handed over by a release).
    fn took_free_slot(self: &Arc<Self>, key: Key) -> Permit {
        self.count_in(1);
        self.utilization.change(1);
        Permit::new(self.clone(), key)
    }

    fn count_in(&self, n: u64) {
        let now = self.counters.in_flight.fetch_add(n, Relaxed) + n;
        // Read before writing: a new maximum is rare, and a read keeps the line shared.
        if now > self.counters.max_in_flight.load(Relaxed) {
            self.counters.max_in_flight.fetch_max(now, Relaxed);
        }
    }

    /// A held slot ends: hand it to the key's next waiter in FIFO order, or free it.
    fn release(self: &Arc<Self>, key: &Key) {
        if self.bounds.is_none() {
            self.counters.in_flight.fetch_sub(1, Relaxed);
            return;
        }
        loop {
            let next = self.table.with(key, |st| {
                let next = st.dequeue();
                if next.is_none() {
                    st.in_flight -= 1;
                }
                next
            });
            let Some(tx) = next else { break };
            self.counters.queued.fetch_sub(1, Relaxed);
            // Sent outside the key's lock: waking the waiter's task may unpark a worker thread (a
            // syscall), and every call on this key waits for that lock. A waiter cancelled after
            // it was taken out of the queue has dropped its receiver: the slot is still ours and
            // goes to the next waiter.
            match tx.send(Permit::new(self.clone(), key.clone())) {
                Ok(()) => return,
                Err(unused) => unused.forget(),
            }
        }
        self.counters.in_flight.fetch_sub(1, Relaxed);
        self.utilization.change(-1);
    }
}

fn queue_full(key: &Key, b: &Bounds) -> Error {
    Error::new(
        ErrorKind::LimitQueueFull,
        format!(
            "limit key {key}: {} attempts in flight and {} calls waiting already \
             (max_count, max_queue); nothing was sent",
            b.max_count,
            b.max_queue.unwrap_or(0)
        ),
    )
    .with_sent(Sent::No)
}

fn limit_timeout(key: &Key, after: Duration) -> Error {
    Error::new(
        ErrorKind::LimitTimeout,
        format!(
            "limit key {key}: waited {} ms for a slot (queue_timeout_ms); nothing was sent",
            after.as_millis()
        ),
    )
    .with_sent(Sent::No)
}

#[cfg(test)]
mod tests;
