//! Property tests of the order gate and the limiter together: random scripts of calls (order
//! keys, flushes, limit keys, backend delays and errors, cancels, deadlines, queue bounds and
//! timeouts) run against a real testbed; the invariants are checked from the testbed's log, the
//! calls' outcomes and the client's stats, and every run must end with nothing in flight,
//! queued or waiting.
//!
//! Case count: 24 by default (each case is a few hundred ms of real HTTP); `PROPTEST_CASES=N`
//! runs more.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use tailrace::{Client, Request};
use tailrace_testbed::{Config as TestbedConfig, Stats as Log, Testbed, START};

#[derive(Clone, Debug)]
struct CallSpec {
    order_key: Option<&'static str>,
    flush: bool,
    limit_key: Option<&'static str>,
    delay_ms: u64,
    status: u16,
    cancel_after_ms: Option<u64>,
    timeout_ms: Option<u64>,
}

#[derive(Clone, Debug)]
struct Script {
    max_count: u32,
    max_queue: Option<u32>,
    queue_timeout_ms: Option<u64>,
    calls: Vec<CallSpec>,
}

fn call_spec() -> impl Strategy<Value = CallSpec> {
    (
        prop_oneof![3 => Just(None), 2 => prop::sample::select(vec!["A", "B", "C"]).prop_map(Some)],
        prop::bool::weighted(0.12),
        prop_oneof![2 => Just(None), 1 => prop::sample::select(vec!["L", "M"]).prop_map(Some)],
        0u64..40,
        prop_oneof![9 => Just(200u16), 1 => Just(503u16)],
        prop_oneof![6 => Just(None), 1 => (0u64..60).prop_map(Some)],
        prop_oneof![8 => Just(None), 1 => (15u64..80).prop_map(Some)],
    )
        .prop_map(
            |(order_key, flush, limit_key, delay_ms, status, cancel_after_ms, timeout_ms)| {
                CallSpec {
                    order_key,
                    flush,
                    limit_key,
                    delay_ms,
                    status,
                    cancel_after_ms,
                    timeout_ms,
                }
            },
        )
}

fn script() -> impl Strategy<Value = Script> {
    (
        1u32..4,
        prop_oneof![1 => Just(None), 2 => (0u32..5).prop_map(Some)],
        prop_oneof![2 => Just(None), 1 => (10u64..100).prop_map(Some)],
        prop::collection::vec(call_spec(), 1..14),
    )
        .prop_map(|(max_count, max_queue, queue_timeout_ms, calls)| Script {
            max_count,
            max_queue,
            queue_timeout_ms,
            calls,
        })
}

/// What one script did.
struct Outcome {
    /// Per call: "ok" or the error kind.
    results: Vec<String>,
    log: Log,
    stats: tailrace::Stats,
}

fn run(testbed: &Testbed, s: &Script) -> Outcome {
    testbed.reset();
    let mut b = Client::builder()
        .hosts([testbed.url()])
        .max_count(s.max_count);
    if let Some(q) = s.max_queue {
        b = b.max_queue(q);
    }
    if let Some(t) = s.queue_timeout_ms {
        b = b.queue_timeout(Duration::from_millis(t));
    }
    let client = b.build().unwrap();
    let mut calls = Vec::new();
    for (i, c) in s.calls.iter().enumerate() {
        let mut req = Request::get(format!("/p?delay_ms={}&status={}", c.delay_ms, c.status))
            .header("x-seq", &i.to_string())
            .flush(c.flush);
        if let Some(k) = c.order_key {
            req = req.order_key(k).header("x-key", k);
        }
        if let Some(k) = c.limit_key {
            req = req.limit_key(k);
        }
        if let Some(t) = c.timeout_ms {
            req = req.timeout(Duration::from_millis(t));
        }
        let call = client.spawn(req);
        if let (Some(ms), Some(abort)) = (c.cancel_after_ms, call.abort_handle()) {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(ms));
                abort.abort();
            });
        }
        calls.push(call);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let results = calls
        .into_iter()
        .enumerate()
        .map(|(i, call)| {
            let left = deadline.saturating_duration_since(Instant::now());
            match tailrace::runtime::block_on(async move { tokio::time::timeout(left, call).await })
                .unwrap()
            {
                Err(_) => panic!("call {i} hung"),
                Ok(Ok(_)) => "ok".to_string(),
                Ok(Err(e)) => e.kind().as_str().to_string(),
            }
        })
        .collect();
    let log = testbed
        .wait_until(Duration::from_secs(10), |l| l.in_flight == 0)
        .expect("the testbed drained");
    Outcome {
        results,
        log,
        stats: client.stats(),
    }
}

/// Log positions of each call's first start and last end, by seq.
fn spans(log: &Log, n: usize) -> Vec<(Option<usize>, Option<usize>)> {
    let mut out = vec![(None, None); n];
    for (pos, e) in log.events.iter().enumerate() {
        let Some(seq) = e.seq.map(|s| s as usize).filter(|s| *s < n) else {
            continue;
        };
        if e.event == START {
            out[seq].0.get_or_insert(pos);
        } else {
            out[seq].1 = Some(pos);
        }
    }
    out
}

fn check(s: &Script, o: &Outcome) -> Result<(), TestCaseError> {
    let n = s.calls.len();
    let span = spans(&o.log, n);
    let sent = |i: usize| span[i].0.is_some();
    // Answered: the testbed logged the finish before the client had the response.
    let answered = |i: usize| o.results[i] == "ok";
    for (i, r) in o.results.iter().enumerate() {
        // Rejections send nothing.
        if r == "limit_queue_full" || r == "limit_timeout" {
            prop_assert!(
                !sent(i),
                "call {i} was rejected ({r}) but reached the backend"
            );
        }
        if r == "ok" {
            prop_assert!(sent(i) && span[i].1.is_some(), "call {i} ok but not logged");
        }
    }
    for j in 0..n {
        let Some(start_j) = span[j].0 else { continue };
        for (i, &(_, end_i)) in span.iter().enumerate().take(j) {
            let same_key =
                s.calls[i].order_key.is_some() && s.calls[i].order_key == s.calls[j].order_key;
            // A flush that was sent had started, so everything before it had completed; and
            // everything after it started after it did.
            let flush_between = (i..=j).any(|f| s.calls[f].flush && sent(f) && f != i);
            if !(same_key || flush_between) {
                continue;
            }
            // Only an answered call gives an order the backend can see: a request abandoned by
            // the client (deadline, cancel) may still arrive at the backend after later ones.
            if answered(i) {
                let end_i = end_i.expect("answered calls ended");
                prop_assert!(
                    end_i < start_j,
                    "call {j} started before the earlier call {i} completed"
                );
            }
        }
    }
    // Per limit key, the backend never saw more than max_count at once — plus one for each call
    // of that key abandoned while running (the backend notices an abandoned request later than
    // the client frees its slot).
    let mut running: BTreeMap<Option<&str>, i64> = BTreeMap::new();
    let mut peak: BTreeMap<Option<&str>, i64> = BTreeMap::new();
    for e in &o.log.events {
        let Some(seq) = e.seq.map(|s| s as usize).filter(|s| *s < n) else {
            continue;
        };
        let key = s.calls[seq].limit_key;
        let r = running.entry(key).or_default();
        *r += if e.event == START { 1 } else { -1 };
        let now = *r;
        let p = peak.entry(key).or_default();
        *p = (*p).max(now);
    }
    for (key, p) in peak {
        let abandoned = (0..n)
            .filter(|i| s.calls[*i].limit_key == key && sent(*i) && !answered(*i))
            .count() as i64;
        prop_assert!(
            p <= s.max_count as i64 + abandoned,
            "limit key {key:?}: {p} at once at the backend (max_count {}, abandoned {abandoned})",
            s.max_count
        );
    }
    // The client's books match the outcomes and are empty at the end.
    let count = |kind: &str| o.results.iter().filter(|r| *r == kind).count() as u64;
    let st = &o.stats;
    // A call turned away at submission (queue full) that its caller cancels before it is first
    // polled ends as `cancelled`, though the limiter did reject it; every other rejection is the
    // call's outcome.
    let rejected = st.rejected_queue_full;
    let (full, cancelled) = (count("limit_queue_full"), count("cancelled"));
    prop_assert!(
        full <= rejected && rejected <= full + cancelled,
        "{rejected} rejections counted, {full} calls ended queue-full, {cancelled} cancelled"
    );
    prop_assert_eq!(st.limit_timeouts, count("limit_timeout"));
    prop_assert_eq!(
        (st.in_flight, st.queued, st.waiting_for_order),
        (0, 0, 0),
        "something still held after every call ended"
    );
    prop_assert!(st.max_in_flight <= 3 * s.max_count as u64);
    prop_assert_eq!(o.log.in_flight, 0);
    Ok(())
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    ProptestConfig {
        cases,
        max_shrink_iters: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[test]
fn random_mixes_keep_order_bounds_and_leave_nothing_behind() {
    let testbed = Testbed::start(TestbedConfig::default()).unwrap();
    proptest!(config(), |(s in script())| {
        let o = run(&testbed, &s);
        check(&s, &o)?;
    });
}
