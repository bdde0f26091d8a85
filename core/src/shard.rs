//! Per-thread shards for state every call touches. Threads on different cores writing one cache
//! line pass it back and forth on every write; giving each runtime worker its own shard keeps
//! the hot path's writes local, and readers (stats, a flush) add the shards up.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

/// Shards per sharded value: more than the worker threads of a typical host, few enough that
/// summing them is cheap.
pub(crate) const SHARDS: usize = 8;

/// This thread's shard. Threads take shards in turn as they first ask, so the runtime's few
/// workers each get their own (hashing thread ids lets two of them share one).
pub(crate) fn index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

/// A value on cache lines of its own (128 bytes: adjacent-line prefetch pairs 64-byte lines), so
/// shards written by different threads never share a line, nor share one with fields nearby.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Padded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// A counter added to on this thread's shard and read as the sum of all shards. A value added
/// on one thread and taken away on another leaves two shards off by one each; the sum is exact.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    shards: [Padded<AtomicI64>; SHARDS],
}

impl Counter {
    pub(crate) fn add(&self, n: i64, order: Ordering) {
        self.shards[index()].0.fetch_add(n, order);
    }

    pub(crate) fn sum(&self, order: Ordering) -> i64 {
        self.shards.iter().map(|s| s.0.load(order)).sum()
    }

    /// The sum as a count that cannot go below zero (a reader may catch an add on one shard
    /// before the matching one on another).
    pub(crate) fn get(&self) -> u64 {
        self.sum(Ordering::Relaxed).max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_on_many_threads_sum_exactly() {
        let c = std::sync::Arc::new(Counter::default());
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.add(2, Ordering::Relaxed);
                        c.add(-1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(c.get(), 12_000);
    }
}
