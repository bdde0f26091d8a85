//! The watchdog: ends a pending call when its client closes (`ClientClosed`, at once, even one
//! waiting on a slow server) or when its deadline passes (`Timeout(call)`, from `timeout_ms`).
//!
//! A pending call registers its task's waker and deadline once, in one of a few per-thread
//! shards, and after that polls an atomic flag (and reads the clock only after a sweep has ended
//! some call). A call with a deadline reads the clock once more, on its first poll and before
//! anything runs: one whose deadline had passed before it was first polled ends at once, without
//! sending anything. One watcher task per client sleeps until the earliest deadline registered; it
//! wakes the calls whose deadline passed and sleeps again. A tokio timer per call cost more than
//! a microsecond a call (each registers in and leaves the runtime's timer wheel, and clones the
//! runtime handle every worker shares); a broadcast channel for closing would lock its waiter
//! list on every poll of every call.
//!
//! With every call given the same timeout, the earliest deadline belongs to the oldest call in
//! flight, so the watcher wakes about once per timeout, not once per call.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::runtime;
use crate::shard;
use crate::sync::lock;

/// One client's watchdog (one per fork generation: a forked child starts with a fresh one).
#[derive(Debug)]
pub(crate) struct Watchdog {
    me: Weak<Watchdog>,
    closed: AtomicBool,
    shards: [shard::Padded<Mutex<Slots>>; shard::SHARDS],
    /// Deadlines are kept as nanoseconds after this instant, so they fit an atomic.
    origin: Instant,
    /// When the watcher looks at deadlines next (`u64::MAX`: it sleeps until told).
    next_check: AtomicU64,
    /// Bumped by every sweep that ended a call; a woken call reads the clock only when it moved.
    sweeps_that_fired: AtomicU64,
    watcher_started: AtomicBool,
    /// Wakes the watcher: an earlier deadline arrived, or the watchdog is gone.
    rearm: Arc<Notify>,
}

/// Registered calls; a removed one leaves a hole reused by the next registration, so a steady
/// stream of calls allocates nothing here.
#[derive(Debug, Default)]
struct Slots {
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
}

#[derive(Debug)]
struct Slot {
    waker: Waker,
    /// Cleared once the watcher has woken the call for it (or never set: no `timeout_ms`).
    deadline: Option<Instant>,
}

/// How a watched call ended.
#[derive(Debug, PartialEq)]
pub(crate) enum Ended<T> {
    Done(T),
    Closed,
    /// The deadline passed; the call's `timeout_ms`.
    TimedOut(Duration),
}

impl Watchdog {
    pub(crate) fn new(closed: bool) -> Arc<Watchdog> {
        Arc::new_cyclic(|me| Watchdog {
            me: me.clone(),
            closed: AtomicBool::new(closed),
            shards: Default::default(),
            origin: Instant::now(),
            next_check: AtomicU64::new(u64::MAX),
            sweeps_that_fired: AtomicU64::new(0),
            watcher_started: AtomicBool::new(false),
            rearm: Arc::new(Notify::new()),
        })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Acquire)
    }

    /// Close; every call registered now is woken to see it.
    pub(crate) fn close(&self) {
        if self.closed.swap(true, AcqRel) {
            return;
        }
        for shard in &self.shards {
            let slots = lock(shard);
            for s in slots.slots.iter().flatten() {
                s.waker.wake_by_ref();
            }
        }
    }

    /// Run `call` until it finishes, the client closes, or `deadline` (with the `timeout_ms` it
    /// came from) passes.
    pub(crate) fn watch<F: Future>(
        &self,
        deadline: Option<(Instant, Duration)>,
        call: F,
    ) -> Watched<'_, F> {
        Watched {
            dog: self,
            deadline,
            registered: None,
            sweeps_seen: 0,
            call,
        }
    }

    fn register(&self, waker: &Waker, deadline: Option<Instant>) -> (usize, usize) {
        let shard = shard::index();
        let slot = Slot {
            waker: waker.clone(),
            deadline,
        };
        let index = {
            let mut s = lock(&self.shards[shard]);
            match s.free.pop() {
                Some(i) => {
                    s.slots[i] = Some(slot);
                    i
                }
                None => {
                    s.slots.push(Some(slot));
                    s.slots.len() - 1
                }
            }
        };
        if let Some(d) = deadline {
            self.start_watcher();
            // Registered first, then compared (SeqCst, paired with the sweep's reset of
            // `next_check` before it scans): a sweep either sees this slot or is told to look.
            let at = self.nanos(d);
            if at < self.next_check.load(SeqCst) {
                self.next_check.fetch_min(at, SeqCst);
                self.rearm.notify_one();
            }
        }
        (shard, index)
    }

    fn update(&self, (shard, index): (usize, usize), waker: &Waker) {
        if let Some(s) = lock(&self.shards[shard]).slots[index].as_mut() {
            s.waker = waker.clone();
        }
    }

    fn unregister(&self, (shard, index): (usize, usize)) {
        let mut s = lock(&self.shards[shard]);
        s.slots[index] = None;
        s.free.push(index);
    }

    fn nanos(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.origin).as_nanos() as u64
    }

    fn start_watcher(&self) {
        if self.watcher_started.load(Relaxed) || self.watcher_started.swap(true, AcqRel) {
            return;
        }
        runtime::handle().spawn(watcher(self.me.clone(), self.rearm.clone()));
    }

    /// Wake every call whose deadline passed; the earliest deadline left, if any.
    fn sweep(&self, now: Instant) -> Option<Instant> {
        self.next_check.store(u64::MAX, SeqCst);
        let mut earliest: Option<Instant> = None;
        let mut ended = Vec::new();
        for shard in &self.shards {
            let mut slots = lock(shard);
            ended.clear();
            for (i, s) in slots.slots.iter_mut().enumerate() {
                let Some(s) = s else { continue };
                match s.deadline {
                    Some(d) if d <= now => {
                        s.deadline = None;
                        ended.push(i);
                    }
                    Some(d) => earliest = Some(earliest.map_or(d, |e| e.min(d))),
                    None => {}
                }
            }
            if !ended.is_empty() {
                // Bumped before the wake-ups, so a woken call sees it.
                self.sweeps_that_fired.fetch_add(1, Release);
                for &i in &ended {
                    if let Some(s) = &slots.slots[i] {
                        s.waker.wake_by_ref();
                    }
                }
            }
        }
        if let Some(e) = earliest {
            self.next_check.fetch_min(self.nanos(e), SeqCst);
        }
        earliest
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Let the watcher see the watchdog is gone and end.
        self.rearm.notify_one();
    }
}

/// The watcher task: sleep until the earliest deadline, wake the calls it ends, repeat. Holds
/// the watchdog weakly, so a dropped client's watcher ends.
async fn watcher(dog: Weak<Watchdog>, rearm: Arc<Notify>) {
    loop {
        let next = match dog.upgrade() {
            Some(d) => d.sweep(Instant::now()),
            None => return,
        };
        // `notify_one` leaves a permit when the watcher is not waiting yet: no wake-up is lost
        // between the sweep and the wait.
        match next {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = rearm.notified() => {}
                }
            }
            None => rearm.notified().await,
        }
    }
}

pin_project_lite::pin_project! {
    /// A call under the watchdog. See [`Watchdog::watch`].
    pub(crate) struct Watched<'a, F> {
        dog: &'a Watchdog,
        deadline: Option<(Instant, Duration)>,
        // Where this call is registered, and the waker registered (to tell when it changed).
        registered: Option<((usize, usize), Waker)>,
        sweeps_seen: u64,
        #[pin]
        call: F,
    }

    impl<F> PinnedDrop for Watched<'_, F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some((at, _)) = this.registered.take() {
                this.dog.unregister(at);
            }
        }
    }
}

impl<F: Future> Future for Watched<'_, F> {
    type Output = Ended<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if this.dog.is_closed() {
            return Poll::Ready(Ended::Closed);
        }
        if let Some((deadline, timeout)) = *this.deadline {
            let passed = match this.registered {
                // Later polls read the clock only after a sweep has ended some call.
                Some(_) => {
                    let sweeps = this.dog.sweeps_that_fired.load(Acquire);
                    if sweeps == *this.sweeps_seen {
                        false
                    } else {
                        *this.sweeps_seen = sweeps;
                        Instant::now() >= deadline
                    }
                }
                // The first poll: a call whose deadline passed before it was ever polled (the
                // runtime was busy, or it was submitted long before it was awaited) must not
                // send anything. One clock read per call, and only for calls with a deadline.
                None => Instant::now() >= deadline,
            };
            if passed {
                return Poll::Ready(Ended::TimedOut(timeout));
            }
        }
        if let Poll::Ready(out) = this.call.poll(cx) {
            return Poll::Ready(Ended::Done(out));
        }
        match this.registered {
            Some((at, w)) => {
                if !w.will_wake(cx.waker()) {
                    this.dog.update(*at, cx.waker());
                    *w = cx.waker().clone();
                }
            }
            None => {
                // Read before registering: a sweep that ends this call bumps it after.
                *this.sweeps_seen = this.dog.sweeps_that_fired.load(Acquire);
                let at = this.dog.register(cx.waker(), this.deadline.map(|(d, _)| d));
                *this.registered = Some((at, cx.waker().clone()));
                // A close that swept the shards before this registration did not wake this
                // call; the flag, set before the sweep, says so.
                if this.dog.is_closed() {
                    return Poll::Ready(Ended::Closed);
                }
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_ms(ms: u64) -> Option<(Instant, Duration)> {
        let t = Duration::from_millis(ms);
        Some((Instant::now() + t, t))
    }

    #[test]
    fn a_pending_call_ends_when_closed_and_frees_its_slot() {
        let dog = Watchdog::new(false);
        let d = dog.clone();
        let waiting = runtime::handle()
            .spawn(async move { d.watch(None, std::future::pending::<()>()).await });
        while dog.shards.iter().all(|s| lock(s).slots.is_empty()) {
            std::thread::yield_now();
        }
        dog.close();
        assert_eq!(runtime::block_on(waiting).unwrap().unwrap(), Ended::Closed);
        assert!(dog
            .shards
            .iter()
            .all(|s| lock(s).slots.iter().all(Option::is_none)));
        let done = runtime::block_on(async move { dog.watch(None, async { 7 }).await }).unwrap();
        assert_eq!(done, Ended::Closed, "a closed watchdog ends calls at once");
    }

    #[test]
    fn deadlines_end_calls_in_order_even_when_an_earlier_one_comes_later() {
        let dog = Watchdog::new(false);
        let (d1, d2) = (dog.clone(), dog.clone());
        let started = Instant::now();
        let late = runtime::handle().spawn(async move {
            let r = d1.watch(in_ms(400), std::future::pending::<()>()).await;
            (r, started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(20));
        // Registered after a later deadline: the watcher must be woken to sleep less.
        let early = runtime::handle().spawn(async move {
            let r = d2.watch(in_ms(60), std::future::pending::<()>()).await;
            (r, started.elapsed())
        });
        let (r, at) = runtime::block_on(early).unwrap().unwrap();
        assert_eq!(r, Ended::TimedOut(Duration::from_millis(60)));
        assert!(
            at >= Duration::from_millis(80) && at < Duration::from_millis(390),
            "{at:?}"
        );
        let (r, at) = runtime::block_on(late).unwrap().unwrap();
        assert_eq!(r, Ended::TimedOut(Duration::from_millis(400)));
        assert!(at >= Duration::from_millis(400), "{at:?}");
    }

    #[test]
    fn a_call_first_polled_after_its_deadline_times_out_without_running() {
        let dog = Watchdog::new(false);
        let d = dog.clone();
        let polled = Arc::new(AtomicBool::new(false));
        let p = polled.clone();
        let now = Instant::now();
        let timeout = Duration::from_millis(5);
        let passed = now.checked_sub(Duration::from_millis(1)).unwrap_or(now);
        let out = runtime::block_on(async move {
            d.watch(Some((passed, timeout)), async move {
                p.store(true, SeqCst);
                7
            })
            .await
        })
        .unwrap();
        assert_eq!(out, Ended::TimedOut(timeout));
        assert!(!polled.load(SeqCst), "the call ran after its deadline");
        assert!(
            dog.shards.iter().all(|s| lock(s).slots.is_empty()),
            "nothing registered"
        );
    }

    #[test]
    fn a_call_that_finishes_first_returns_its_output() {
        let dog = Watchdog::new(false);
        let out = runtime::block_on(async move {
            dog.watch(in_ms(10_000), tokio::time::sleep(Duration::from_millis(5)))
                .await
        })
        .unwrap();
        assert_eq!(out, Ended::Done(()));
    }
}
