//! How long attempts keep a caller waiting: the fraction of attempts still waiting after t, from
//! answered attempts (their latency) and attempts cut short (a lower bound: losers cancelled,
//! attempts of dropped calls, attempts that timed out) — the Kaplan–Meier estimate.
//!
//! Why not a percentile over both kinds, a cut-short attempt counted as if it had answered when it
//! was cut: hedging cuts the slow originals at delay + the hedge's latency, just past the delay,
//! so a high percentile lands on them and climbs by a hedge's latency every window, toward the
//! slow answers themselves. Kaplan–Meier takes a cut-short attempt out of the "still waiting"
//! count without counting it as an answer: slow calls stay slow in the estimate.

use hdrhistogram::Histogram;

/// The step function "fraction of attempts still waiting after t µs".
#[derive(Debug, PartialEq)]
pub(crate) struct Survival {
    /// (t µs, fraction still waiting after t): one step per latency at which some attempt
    /// answered, increasing t, decreasing fraction.
    steps: Vec<(u64, f64)>,
    /// The longest time any attempt was seen to run (answered or cut short).
    longest_us: u64,
}

impl Survival {
    /// From attempts that answered and attempts cut short, each a histogram of µs with the same
    /// settings. `None` when both are empty.
    pub(crate) fn new(answered: &Histogram<u64>, cut_short: &Histogram<u64>) -> Option<Survival> {
        let mut waiting = answered.len() + cut_short.len();
        if waiting == 0 {
            return None;
        }
        let longest_us = answered.max().max(cut_short.max());
        let mut steps = Vec::new();
        let mut still = 1.0f64;
        let mut a = answered.iter_recorded().peekable();
        let mut c = cut_short.iter_recorded().peekable();
        loop {
            // The next latency seen by either kind (the histograms share their buckets, so equal
            // latencies meet here), with how many answered and how many were cut there.
            let next_a = a.peek().map(|v| v.value_iterated_to());
            let next_c = c.peek().map(|v| v.value_iterated_to());
            let t = match (next_a, next_c) {
                (None, None) => break,
                (Some(x), None) | (None, Some(x)) => x,
                (Some(x), Some(y)) => x.min(y),
            };
            let answered_at = match next_a == Some(t) {
                true => a.next().map_or(0, |v| v.count_at_value()),
                false => 0,
            };
            let cut_at = match next_c == Some(t) {
                true => c.next().map_or(0, |v| v.count_at_value()),
                false => 0,
            };
            // Cut-short attempts count as still waiting at t itself (they ran at least that
            // long), then leave the count.
            if answered_at > 0 {
                still *= 1.0 - answered_at as f64 / waiting as f64;
                steps.push((t, still));
            }
            waiting -= answered_at + cut_at;
        }
        Some(Survival { steps, longest_us })
    }

    /// The fraction of attempts still waiting after `t_us`.
    pub(crate) fn waiting_after(&self, t_us: u64) -> f64 {
        match self.steps.partition_point(|&(t, _)| t <= t_us) {
            0 => 1.0,
            i => self.steps[i - 1].1,
        }
    }

    /// The `p`-th percentile (0–100) of attempt latency: the first latency after which at most
    /// (100 − p)% of attempts were still waiting. `None` when the attempts seen do not reach it
    /// (too many were cut short before any answer said how long they take).
    pub(crate) fn percentile(&self, p: f64) -> Option<u64> {
        // A hair of slack so that p = 50 of two answers is the first, as hdrhistogram has it.
        let left = (1.0 - p / 100.0) + 1e-9;
        self.steps
            .iter()
            .find(|&&(_, s)| s <= left)
            .map(|&(t, _)| t)
    }

    /// The first latency, from `from_us` on, after which the attempts still waiting are nearly
    /// all slow: at most a fraction `wasted` of them answers within `within_us` more. A hedge sent
    /// there goes, almost always, to a call that would have kept its caller waiting much longer.
    /// `None` when no such latency was seen (the tail keeps answering at a steady rate).
    pub(crate) fn knee(&self, from_us: u64, within_us: u64, wasted: f64) -> Option<u64> {
        let start = self.steps.partition_point(|&(t, _)| t < from_us);
        // Candidate delays: `from_us` itself and every later latency at which some attempt
        // answered (between two of those the fraction waiting does not change).
        let candidates = std::iter::once(from_us).chain(self.steps[start..].iter().map(|s| s.0));
        for t in candidates {
            let now = self.waiting_after(t);
            if now <= 0.0 {
                return None;
            }
            if self.waiting_after(t + within_us) >= (1.0 - wasted) * now {
                return Some(t);
            }
        }
        None
    }

    /// The longest time any attempt was seen to run.
    pub(crate) fn longest_us(&self) -> u64 {
        self.longest_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values: &[(u64, u64)]) -> Histogram<u64> {
        let mut h = super::super::rotating_histogram::histogram();
        for &(us, n) in values {
            h.record_n(us, n).unwrap();
        }
        h
    }

    /// Within the histograms' 1% (a bucket ends a little past the values in it).
    fn near(us: u64, expected: u64) -> bool {
        us.abs_diff(expected) * 100 <= expected
    }

    #[test]
    fn with_nothing_cut_short_it_is_the_plain_distribution() {
        let answered = histogram(&(1..=100).map(|us| (us, 1)).collect::<Vec<_>>());
        let s = Survival::new(&answered, &histogram(&[])).unwrap();
        assert_eq!(s.percentile(50.0), Some(50));
        assert_eq!(s.percentile(95.0), Some(95));
        assert_eq!(s.percentile(100.0), Some(100));
        assert!((s.waiting_after(10) - 0.9).abs() < 1e-9);
        assert_eq!(s.waiting_after(0), 1.0);
        assert_eq!(s.longest_us(), 100);
    }

    #[test]
    fn attempts_cut_short_stay_slow_instead_of_counting_as_answers() {
        // 98 answers at 1 ms; 2 slow attempts cut short at 6 ms (a hedge won) and none answered
        // later. Counted as answers at 6 ms, p99 would be 6 ms; they only say "longer than 6
        // ms", so p99 is not known yet and 2% are still waiting after any time seen.
        let s = Survival::new(&histogram(&[(1000, 98)]), &histogram(&[(6000, 2)])).unwrap();
        assert_eq!(s.percentile(99.0), None);
        assert!(near(s.percentile(98.0).unwrap(), 1000));
        assert!((s.waiting_after(50_000) - 0.02).abs() < 1e-9);
        assert!(near(s.longest_us(), 6000));
    }

    #[test]
    fn an_attempt_cut_short_still_counts_as_waiting_until_it_was_cut() {
        // 10 attempts: 5 cut at 2 ms, then 5 answer at 3, 4, 5, 6, 7 ms. Until 3 ms nobody
        // answered; after it, one of the 5 still waiting did: 80%.
        let answered = histogram(&[(3000, 1), (4000, 1), (5000, 1), (6000, 1), (7000, 1)]);
        let s = Survival::new(&answered, &histogram(&[(2000, 5)])).unwrap();
        assert!((s.waiting_after(2500) - 1.0).abs() < 1e-9);
        assert!((s.waiting_after(3500) - 0.8).abs() < 1e-9);
        assert!((s.waiting_after(7500)).abs() < 1e-9);
    }

    #[test]
    fn the_knee_is_where_the_attempts_still_waiting_stop_answering() {
        // Fast answers spread over 1–4 ms, 1% slow ones (100 ms). After 4 ms nobody still
        // waiting answers within another 2 ms: that is the knee.
        let mut answered: Vec<(u64, u64)> = (1000..4000).step_by(10).map(|us| (us, 33)).collect();
        answered.push((100_000, 100));
        let s = Survival::new(&histogram(&answered), &histogram(&[])).unwrap();
        let knee = s.knee(2000, 2000, 0.05).unwrap();
        assert!((3800..=4000).contains(&knee), "{knee}");
        // From past the knee on, the start itself qualifies.
        assert_eq!(s.knee(50_000, 2000, 0.05), Some(50_000));
    }

    #[test]
    fn a_tail_that_keeps_answering_has_no_knee() {
        // Halving every 1 ms: at any time, half or more of those still waiting answer within
        // 1.5 ms.
        let mut answered = Vec::new();
        let mut n = 1u64 << 16;
        for ms in 1..=16 {
            n /= 2;
            answered.push((ms * 1000, n));
        }
        let s = Survival::new(&histogram(&answered), &histogram(&[])).unwrap();
        assert_eq!(s.knee(1000, 1500, 0.05), None);
    }
}
