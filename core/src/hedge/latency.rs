//! Attempt latencies in microseconds, and the adaptive delay read from them.
//!
//! tower records only successful calls, rounded to milliseconds, which biases the estimate toward
//! fast answers: the slow attempts that hedging cut short never show up. Here every attempt is
//! recorded: an answered one with its time, one cut short — a loser, an attempt of a dropped
//! call, an attempt that timed out — with the time it had run, a lower bound ("at least this
//! long"); [`Survival`] reads the two kinds without mistaking a lower bound for an answer.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::rotating_histogram::RotatingHistogram;
use super::survival::Survival;
use crate::sync::ForkMutex;

/// How long the sliding window's periods are.
const PERIOD: Duration = Duration::from_secs(2);
/// Samples needed before the percentile replaces the fixed delay.
pub(crate) const MIN_SAMPLES: u64 = 100;
/// How often the cached delay is recomputed.
const REFRESH: Duration = Duration::from_millis(10);
/// Past the knee, at most this fraction of the attempts still waiting answers within another
/// median latency ([`Survival::knee`]).
const KNEE_WASTE: f64 = 0.05;

#[derive(Debug)]
pub(crate) struct Latency {
    /// The asked percentile: the delay never goes below it.
    asked: f64,
    /// The percentile the budget can pay for (≥ `asked`): the delay goes up to it, or to the
    /// knee of the tail if that comes first.
    affordable: f64,
    /// Per fork generation (as `refreshed_at`): a forked child starts with an empty window.
    hist: ForkMutex<RotatingHistogram>,
    /// The last computed delay in µs; 0 = not enough samples yet.
    cached_us: AtomicU64,
    refreshed_at: ForkMutex<Instant>,
}

impl Latency {
    /// A delay at the `asked` percentile, raised toward the `affordable` one (see
    /// [`Latency::delay_us`]).
    pub(crate) fn new(asked: f64, affordable: f64) -> Latency {
        Latency {
            asked,
            affordable: affordable.max(asked),
            hist: ForkMutex::new(|| RotatingHistogram::new(PERIOD, Instant::now())),
            cached_us: AtomicU64::new(0),
            refreshed_at: ForkMutex::new(Instant::now),
        }
    }

    /// Record an attempt that answered after `elapsed`.
    pub(crate) fn record(&self, elapsed: Duration) {
        self.record_kind(elapsed, false);
    }

    /// Record an attempt cut short after `elapsed` (a lower bound of its latency).
    pub(crate) fn record_cut_short(&self, elapsed: Duration) {
        self.record_kind(elapsed, true);
    }

    /// Record an attempt that ended after `elapsed` with `outcome`.
    pub(crate) fn record_outcome(&self, elapsed: Duration, outcome: Outcome) {
        match outcome {
            Outcome::Answered => self.record(elapsed),
            Outcome::TimedOut => self.record_cut_short(elapsed),
            Outcome::Silent => {}
        }
    }

    fn record_kind(&self, elapsed: Duration, cut_short: bool) {
        let now = Instant::now();
        let us = elapsed.as_micros() as u64;
        self.hist.lock().record(us, cut_short, now);
    }

    /// The delay recent attempt latency calls for, if enough samples exist.
    pub(crate) fn estimate(&self) -> Option<Duration> {
        let now = Instant::now();
        // One caller refreshes at a time; the rest use the cached value.
        if let Some(mut at) = self.refreshed_at.try_lock() {
            if now.duration_since(*at) >= REFRESH {
                *at = now;
                let survival = self.hist.lock().survival(MIN_SAMPLES, now);
                let us = survival.map_or(0, |s| self.delay_us(&s).max(1));
                self.cached_us.store(us, Relaxed);
            }
        }
        match self.cached_us.load(Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// The asked percentile, raised toward the affordable one — but never past the knee of the
    /// tail: once the attempts still waiting are nearly all slow ones, waiting longer before
    /// hedging only makes those calls slower. When the slow calls outnumber what the budget pays
    /// for, the affordable percentile lies among them and would wait for the slow answers
    /// themselves (hedging none in time); at the knee the budget hedges as many of them as it
    /// can.
    fn delay_us(&self, s: &Survival) -> u64 {
        // Percentiles the answers seen do not reach lie past the longest attempt seen.
        let at = |p| s.percentile(p).unwrap_or_else(|| s.longest_us());
        let floor = at(self.asked);
        if self.affordable <= self.asked {
            return floor;
        }
        let affordable = at(self.affordable);
        let knee = s
            .percentile(50.0)
            .and_then(|median| s.knee(floor, median, KNEE_WASTE));
        knee.map_or(affordable, |k| k.min(affordable)).max(floor)
    }
}

/// What an attempt's end says about its latency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Outcome {
    /// An answer: its time is the latency.
    Answered,
    /// Its own timeout cut it: the latency is at least its time.
    TimedOut,
    /// It failed before any answer (a connection error): nothing about latency.
    Silent,
}

/// Times one attempt for [`Latency`]. [`Stopwatch::finish`] records the attempt's outcome;
/// dropped unfinished — its call was dropped while it ran — it records the time the attempt had
/// run, a lower bound.
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

    /// The attempt ended with `outcome`.
    pub(crate) fn finish(mut self, outcome: Outcome) {
        self.finished = true;
        self.latency.record_outcome(self.started.elapsed(), outcome);
    }
}

impl Drop for Stopwatch<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.latency.record_cut_short(self.started.elapsed());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The delay once the refresh interval has passed.
    fn refreshed(l: &Latency) -> Option<Duration> {
        std::thread::sleep(REFRESH);
        l.estimate()
    }

    #[test]
    fn no_estimate_until_enough_samples_then_the_percentile() {
        let l = Latency::new(95.0, 95.0);
        assert_eq!(l.estimate(), None);
        for us in 1..=1000u64 {
            l.record(Duration::from_micros(us));
        }
        let e = refreshed(&l).unwrap().as_micros();
        assert!((945..=955).contains(&e), "{e}");
    }

    #[test]
    fn attempts_cut_short_pull_the_estimate_up() {
        // 90 fast answers and 10 slow attempts cut short at 50 ms: tower would see only the fast
        // ones (p95 = 1 ms); counting the cut-short ones as lower bounds gives p95 >= 50 ms.
        let l = Latency::new(95.0, 95.0);
        for _ in 0..90 {
            l.record(Duration::from_millis(1));
        }
        for _ in 0..10 {
            l.record_cut_short(Duration::from_millis(50));
        }
        assert!(refreshed(&l).unwrap() >= Duration::from_millis(49));
    }

    #[test]
    fn an_estimate_needs_a_hundred_samples() {
        let l = Latency::new(50.0, 50.0);
        for _ in 0..99 {
            l.record(Duration::from_millis(5));
        }
        assert_eq!(refreshed(&l), None, "99 samples");
        l.record(Duration::from_millis(5));
        assert!(refreshed(&l).is_some(), "100 samples");
    }

    /// Fast answers spread over 1–4 ms and 1% slow calls whose originals a hedge cut short at
    /// `cut_ms`.
    fn a_fast_mode_and_slow_calls_cut_at(cut_ms: u64) -> Latency {
        // Asked p95, affordable p99.1: less than the 1% of slow calls.
        let l = Latency::new(95.0, 99.1);
        for i in 0..9900u64 {
            l.record(Duration::from_micros(1000 + i * 3000 / 9900));
        }
        for _ in 0..100 {
            l.record_cut_short(Duration::from_millis(cut_ms));
        }
        l
    }

    #[test]
    fn a_budget_smaller_than_the_slow_calls_hedges_at_the_knee_wherever_they_were_cut() {
        // Read as answers, the slow originals cut at 7 ms would put p99.1 at 7 ms, and the next
        // window's at 7 ms + a hedge: the delay would climb toward the slow answers. Read as
        // lower bounds, p99.1 is not reached at all; the delay stays where the fast answers end.
        for cut_ms in [5, 7, 20] {
            let us = refreshed(&a_fast_mode_and_slow_calls_cut_at(cut_ms))
                .unwrap()
                .as_micros();
            assert!((3_800..=4_000).contains(&us), "cut at {cut_ms} ms: {us} µs");
        }
    }

    #[test]
    fn a_budget_that_pays_for_more_than_the_knee_is_used_below_it() {
        // Affordable p97: 3% of attempts, more than the 1% slow: the delay goes to p97, inside
        // the fast answers (1 ms + 97/99 × 3 ms = 3.94 ms), before the knee (4 ms).
        let l = a_fast_mode_and_slow_calls_cut_at(7);
        let l = Latency {
            affordable: 97.0,
            ..l
        };
        let us = refreshed(&l).unwrap().as_micros();
        assert!((3_910..=3_970).contains(&us), "{us} µs");
    }

    #[test]
    fn a_stopwatch_records_answers_and_timeouts_and_dropped_attempts() {
        let l = Latency::new(50.0, 50.0);
        // Attempts whose outcome says nothing about latency (connection errors).
        for _ in 0..MIN_SAMPLES {
            Stopwatch::start(&l).finish(Outcome::Silent);
        }
        assert_eq!(refreshed(&l), None, "nothing recorded");
        // Attempts dropped unfinished after 40 ms (their calls were dropped), and attempts that
        // timed out after 30 ms: lower bounds, so the median is past every one of them.
        for _ in 0..MIN_SAMPLES {
            let mut w = Stopwatch::start(&l);
            w.started -= Duration::from_millis(40);
            drop(w);
            let mut w = Stopwatch::start(&l);
            w.started -= Duration::from_millis(30);
            w.finish(Outcome::TimedOut);
        }
        let e = refreshed(&l).expect("every dropped attempt counted");
        assert!(e >= Duration::from_millis(40), "{e:?}");
        // 300 attempts answering at once: most attempts now answer at once.
        for _ in 0..MIN_SAMPLES * 3 {
            Stopwatch::start(&l).finish(Outcome::Answered);
        }
        assert!(refreshed(&l).unwrap() < Duration::from_millis(1));
    }
}
