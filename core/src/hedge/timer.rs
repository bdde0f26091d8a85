//! A sleep precise to tens of microseconds, for hedge delays and attempt timeouts below 20 ms.
//!
//! tokio's timer wheel ticks once a millisecond, so `tokio::time::sleep(250µs)` sleeps about a
//! millisecond or more: for a sub-millisecond service the hedge would go out several
//! times later than the percentile says. Short delays are therefore kept by one timer thread
//! (per process and fork generation) that waits on a condvar with 1 µs timer slack and wakes the
//! sleeping task. `examples/timer_precision.rs` measures both.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::runtime::ForkLocal;
use crate::sync::lock;

/// Delays at least this long use tokio's timer (its 1 ms granularity no longer matters).
pub(crate) const PRECISE_BELOW: Duration = Duration::from_millis(20);

#[derive(Debug, Default)]
pub(crate) struct Entry {
    fired: AtomicBool,
    cancelled: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

struct Due {
    at: Instant,
    seq: u64,
    entry: Arc<Entry>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Default)]
struct State {
    heap: BinaryHeap<Reverse<Due>>,
    seq: u64,
    /// When the thread will wake by itself (None: only when notified).
    wakes_at: Option<Instant>,
}

struct TimerThread {
    state: Mutex<State>,
    cv: Condvar,
}

impl TimerThread {
    /// The timer thread, or `None` when the OS refuses a thread: sleeps then use tokio's timer,
    /// less precise but working.
    fn start() -> Option<&'static TimerThread> {
        // Leaked on purpose: it lives as long as the process (or its fork generation).
        let t: &'static TimerThread = Box::leak(Box::new(TimerThread {
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("tailrace-timer".into())
            .spawn(move || t.run())
            .ok()
            .map(|_| t)
    }

    fn run(&self) {
        // Wake within a microsecond of the deadline rather than the default 50 µs slack.
        // SAFETY: prctl with PR_SET_TIMERSLACK only changes this thread's slack.
        unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, 1u64, 0, 0, 0);
        }
        let mut state = lock(&self.state);
        loop {
            let now = Instant::now();
            while let Some(Reverse(due)) = state.heap.peek() {
                if due.at > now {
                    break;
                }
                let Reverse(due) = state.heap.pop().expect("peeked");
                if !due.entry.cancelled.load(Ordering::Acquire) {
                    due.entry.fired.store(true, Ordering::Release);
                    if let Some(w) = lock(&due.entry.waker).take() {
                        w.wake();
                    }
                }
            }
            // Most sleeps are dropped before they are due (the call answered first): drop those
            // from the top now so the thread sleeps until the next live one instead of waking
            // once per call for nothing.
            while state
                .heap
                .peek()
                .is_some_and(|Reverse(d)| d.entry.cancelled.load(Ordering::Acquire))
            {
                state.heap.pop();
            }
            state.wakes_at = state.heap.peek().map(|Reverse(d)| d.at);
            state = match state.wakes_at {
                Some(at) => {
                    let wait = at.saturating_duration_since(Instant::now());
                    self.cv
                        .wait_timeout(state, wait)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => self.cv.wait(state).unwrap_or_else(|p| p.into_inner()),
            };
        }
    }

    fn schedule(&self, at: Instant, entry: Arc<Entry>) {
        let mut state = lock(&self.state);
        state.seq += 1;
        let seq = state.seq;
        // Wake the thread only when it would otherwise sleep past this deadline.
        let sooner = state.wakes_at.is_none_or(|w| at < w);
        state.heap.push(Reverse(Due { at, seq, entry }));
        if sooner {
            state.wakes_at = Some(at);
            self.cv.notify_one();
        }
    }
}

/// The timer thread of this fork generation (a forked child starts its own). One atomic load per
/// precise sleep once started: the runtime's `ForkLocal`, as the other per-generation state.
fn timer() -> Option<&'static TimerThread> {
    static TIMER: OnceLock<ForkLocal<Option<&'static TimerThread>>> = OnceLock::new();
    *TIMER
        .get_or_init(|| ForkLocal::new(TimerThread::start()))
        .get_or_make(TimerThread::start)
}

/// Sleep for `d`: precisely (tens of µs) below [`PRECISE_BELOW`], with tokio's timer above.
pub(crate) fn sleep(d: Duration) -> Sleep {
    if d >= PRECISE_BELOW {
        Sleep::Tokio(Box::pin(tokio::time::sleep(d)))
    } else {
        Sleep::Precise {
            at: Instant::now() + d,
            entry: None,
        }
    }
}

/// A sleep from [`sleep`]. Dropping it cancels the wake-up.
pub(crate) enum Sleep {
    Tokio(Pin<Box<tokio::time::Sleep>>),
    Precise {
        at: Instant,
        entry: Option<Arc<Entry>>,
    },
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sleep")
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut *self {
            Sleep::Tokio(s) => s.as_mut().poll(cx),
            Sleep::Precise { at, entry } => {
                if Instant::now() >= *at {
                    return Poll::Ready(());
                }
                match entry {
                    Some(e) => {
                        if e.fired.load(Ordering::Acquire) {
                            return Poll::Ready(());
                        }
                        *lock(&e.waker) = Some(cx.waker().clone());
                        // Fired between the check and storing the waker: do not miss it.
                        if e.fired.load(Ordering::Acquire) {
                            return Poll::Ready(());
                        }
                    }
                    None => match timer() {
                        Some(t) => {
                            let e = Arc::new(Entry::default());
                            *lock(&e.waker) = Some(cx.waker().clone());
                            t.schedule(*at, e.clone());
                            *entry = Some(e);
                        }
                        // No timer thread: tokio's timer, to the same instant.
                        None => {
                            let at = *at;
                            *self = Sleep::Tokio(Box::pin(tokio::time::sleep_until(at.into())));
                            return self.poll(cx);
                        }
                    },
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Sleep::Precise { entry: Some(e), .. } = self {
            e.cancelled.store(true, Ordering::Release);
            // The entry stays in the timer's heap until its time; its waker (which keeps the
            // task alive) goes now.
            lock(&e.waker).take();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precise_sleep_wakes_near_its_deadline() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            for us in [100u64, 300, 800] {
                let t = Instant::now();
                sleep(Duration::from_micros(us)).await;
                // Never early; generous upper bound (a loaded CI machine), this is no benchmark.
                assert!(t.elapsed() >= Duration::from_micros(us));
                assert!(t.elapsed() < Duration::from_millis(50));
            }
        });
    }

    #[test]
    fn short_delays_use_the_precise_timer_and_long_ones_tokios() {
        // The precision itself is measured by examples/timer_precision.rs (tests/bench/hedge.sh).
        for us in [1u64, 250, 19_999] {
            let s = sleep(Duration::from_micros(us));
            assert!(matches!(s, Sleep::Precise { .. }), "{us} µs");
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { assert!(matches!(sleep(PRECISE_BELOW), Sleep::Tokio(_))) });
    }

    #[test]
    fn dropped_sleeps_never_wake_anyone() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let s = sleep(Duration::from_millis(5));
            let r = tokio::time::timeout(Duration::from_micros(10), s).await;
            assert!(r.is_err());
            tokio::time::sleep(Duration::from_millis(10)).await;
        });
    }
}
