//! Attempt latencies in microseconds, for the adaptive delay.
//!
//! tower records only successful calls, rounded to milliseconds, which biases the estimate toward
//! fast answers: the slow attempts that hedging cut short never show up. Here every attempt is
//! recorded: a finished one with its time, a cancelled one with the time it had run, a lower
//! bound ("at least this long").

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::rotating_histogram::RotatingHistogram;
use crate::sync::ForkMutex;

/// How long the sliding window's periods are.
const PERIOD: Duration = Duration::from_secs(2);
/// Samples needed before the percentile replaces the fixed delay.
pub(crate) const MIN_SAMPLES: u64 = 100;
/// How often the cached percentile is recomputed.
const REFRESH: Duration = Duration::from_millis(10);

#[derive(Debug)]
pub(crate) struct Latency {
    percentile: f64,
    /// Per fork generation (as `refreshed_at`): a forked child starts with an empty window.
    hist: ForkMutex<RotatingHistogram>,
    /// The last computed percentile in µs; 0 = not enough samples yet.
    cached_us: AtomicU64,
    refreshed_at: ForkMutex<Instant>,
}

impl Latency {
    pub(crate) fn new(percentile: f64) -> Latency {
        Latency {
            percentile,
            hist: ForkMutex::new(|| RotatingHistogram::new(PERIOD, Instant::now())),
            cached_us: AtomicU64::new(0),
            refreshed_at: ForkMutex::new(Instant::now),
        }
    }

    /// Record an attempt that ran for `elapsed`: finished, or cancelled (then a lower bound).
    pub(crate) fn record(&self, elapsed: Duration) {
        let now = Instant::now();
        let us = elapsed.as_micros() as u64;
        self.hist.lock().record(us, now);
    }

    /// The percentile of recent attempt latency, if enough samples exist.
    pub(crate) fn estimate(&self) -> Option<Duration> {
        let now = Instant::now();
        // One caller refreshes at a time; the rest use the cached value.
        if let Some(mut at) = self.refreshed_at.try_lock() {
            if now.duration_since(*at) >= REFRESH {
                *at = now;
                let p = self
                    .hist
                    .lock()
                    .percentile(self.percentile, MIN_SAMPLES, now);
                self.cached_us.store(p.map_or(0, |us| us.max(1)), Relaxed);
            }
        }
        match self.cached_us.load(Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }
}

/// Times one attempt for [`Latency`]. [`Stopwatch::finish`] records the attempt's time (when
/// its outcome says something about latency); dropped unfinished — its call was dropped while it
/// ran — it records the time the attempt had run, a lower bound.
pub(crate) struct Stopwatch<'a> {
    latency: &'a Latency,
    started: Instant,
    finished: bool,
}

impl<'a> Stopwatch<'a> {
    pub(crate) fn start(latency: &'a Latency) -> Stopwatch<'a> {
        Stopwatch {
            latency,
            started: Instant::now(),
            finished: false,
        }
    }

    /// The attempt ended; record its time if `record`.
    pub(crate) fn finish(mut self, record: bool) {
        self.finished = true;
        if record {
            self.latency.record(self.started.elapsed());
        }
    }
}

impl Drop for Stopwatch<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.latency.record(self.started.elapsed());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_estimate_until_enough_samples_then_the_percentile() {
        let l = Latency::new(95.0);
        assert_eq!(l.estimate(), None);
        for us in 1..=1000u64 {
            l.record(Duration::from_micros(us));
        }
        std::thread::sleep(REFRESH);
        let e = l.estimate().unwrap().as_micros();
        assert!((945..=955).contains(&e), "{e}");
    }

    #[test]
    fn cancelled_attempts_pull_the_estimate_up() {
        // 90 fast answers and 10 slow attempts cut short at 50 ms: tower would see only the fast
        // ones (p95 = 1 ms); counting the cut-short ones as lower bounds gives p95 >= 50 ms.
        let l = Latency::new(95.0);
        for _ in 0..90 {
            l.record(Duration::from_millis(1));
        }
        for _ in 0..10 {
            l.record(Duration::from_millis(50));
        }
        std::thread::sleep(REFRESH);
        assert!(l.estimate().unwrap() >= Duration::from_millis(49));
    }

    #[test]
    fn an_estimate_needs_a_hundred_samples() {
        let l = Latency::new(50.0);
        for _ in 0..99 {
            l.record(Duration::from_millis(5));
        }
        std::thread::sleep(REFRESH);
        assert_eq!(l.estimate(), None, "99 samples");
        l.record(Duration::from_millis(5));
        std::thread::sleep(REFRESH);
        assert!(l.estimate().is_some(), "100 samples");
    }

    #[test]
    fn a_stopwatch_dropped_unfinished_records_a_lower_bound() {
        let l = Latency::new(50.0);
        // Finished attempts whose outcome says nothing about latency (connection errors).
        for _ in 0..MIN_SAMPLES {
            Stopwatch::start(&l).finish(false);
        }
        std::thread::sleep(REFRESH);
        assert_eq!(l.estimate(), None, "nothing recorded");
        // Attempts dropped unfinished after 40 ms: their calls were dropped.
        for _ in 0..MIN_SAMPLES {
            let mut w = Stopwatch::start(&l);
            w.started -= Duration::from_millis(40);
            drop(w);
        }
        std::thread::sleep(REFRESH);
        let e = l.estimate().expect("every dropped attempt counted");
        assert!(e >= Duration::from_millis(40), "{e:?}");
    }
}
