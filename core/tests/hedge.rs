//! Hedging and the balancer against real servers on 127.0.0.1. Each race is decided by the
//! testbeds' own delays (a slow host and a fast host), never by sleeps in the client.

use std::time::{Duration, Instant};

use tailrace::{Client, ErrorKind, Request};
use tailrace_testbed::{Config as TestbedConfig, Testbed};

fn testbed(latency: &str) -> Testbed {
    Testbed::start(TestbedConfig {
        latency: latency.parse().unwrap(),
        ..TestbedConfig::default()
    })
    .unwrap()
}

fn failing_testbed() -> Testbed {
    Testbed::start(TestbedConfig {
        error_rate: 1.0,
        ..TestbedConfig::default()
    })
    .unwrap()
}

/// A runtime of the test's own to await calls on (tailrace runs them on its shared one).
fn caller_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://127.0.0.1:{}", l.local_addr().unwrap().port())
}

#[test]
fn first_success_wins_and_the_loser_is_cancelled_at_the_server() {
    let slow = testbed("fixed:2000000");
    // The winner answers after 100 ms, when the loser's request has surely reached the slow host:
    // a loser cancelled before its request is written never shows there at all.
    let fast = testbed("fixed:100000");
    let c = Client::builder()
        .hosts([slow.url(), fast.url()])
        .concurrent_calls(2)
        .build()
        .unwrap();
    let t = Instant::now();
    let r = c.send_blocking(Request::get("/race")).unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "did not wait for the slow host"
    );
    assert_eq!(r.host(), fast.url());
    assert_eq!((r.attempts(), r.winner()), (2, 1));
    // The slow host saw its attempt cancelled, promptly, and holds nothing.
    let s = slow
        .wait_until(Duration::from_secs(5), |s| {
            s.count_events("cancel") == 1 && s.in_flight == 0
        })
        .expect("loser cancelled at the server");
    assert_eq!(s.in_flight, 0);
    let stats = c.stats();
    assert_eq!((stats.hedges_sent, stats.hedges_won), (1, 1));
}

#[test]
fn an_attempt_that_fails_starts_the_next_at_once() {
    let failing = failing_testbed();
    let fast = testbed("fixed:0");
    let c = Client::builder()
        .hosts([failing.url(), fast.url()])
        .concurrent_calls(2)
        .hedge_delay(Duration::from_secs(20))
        .build()
        .unwrap();
    let t = Instant::now();
    let r = c.send_blocking(Request::get("/ff")).unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "waited for the 20 s delay"
    );
    assert_eq!(r.status(), 200);
    assert_eq!(r.host(), fast.url());
    assert_eq!((r.attempts(), r.winner()), (2, 1));
}

#[test]
fn with_a_delay_no_hedge_is_sent_when_the_first_answers_in_time() {
    let fast = testbed("fixed:0");
    let other = testbed("fixed:0");
    let c = Client::builder()
        .hosts([fast.url(), other.url()])
        .concurrent_calls(3)
        .hedge_delay(Duration::from_secs(5))
        .build()
        .unwrap();
    for _ in 0..10 {
        assert_eq!(
            c.send_blocking(Request::get("/quick")).unwrap().attempts(),
            1
        );
    }
    assert_eq!(c.stats().hedges_sent, 0);
}

#[test]
fn a_delay_lets_the_hedge_go_after_it_passes() {
    let slow = testbed("fixed:1000000");
    let fast = testbed("fixed:0");
    let c = Client::builder()
        .hosts([slow.url(), fast.url()])
        .concurrent_calls(2)
        .hedge_delay(Duration::from_millis(30))
        .build()
        .unwrap();
    let r = c.send_blocking(Request::get("/delayed")).unwrap();
    assert_eq!((r.winner(), r.attempts()), (1, 2));
    assert!(
        r.elapsed() >= Duration::from_millis(30),
        "hedge went before its delay"
    );
    assert!(r.elapsed() < Duration::from_millis(900), "hedge never went");
}

#[test]
fn when_every_attempt_fails_the_error_lists_each_host_and_cause() {
    let a = failing_testbed();
    let b = failing_testbed();
    let refused = refused_url();
    let c = Client::builder()
        .hosts([a.url(), b.url(), refused.clone()])
        .concurrent_calls(3)
        .set("eject_after", "0")
        .build()
        .unwrap();
    let e = c.send_blocking(Request::get("/all-fail")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AllAttemptsFailed, "{e}");
    let mut hosts: Vec<_> = e.attempts().iter().map(|a| a.host.clone()).collect();
    hosts.sort();
    let mut expected = vec![a.url(), b.url(), refused.clone()];
    expected.sort();
    assert_eq!(hosts, expected);
    for at in e.attempts() {
        if at.host == refused {
            assert_eq!(at.error.kind(), ErrorKind::Connect);
        } else {
            assert_eq!(at.error.kind(), ErrorKind::HttpStatus);
            assert_eq!(at.error.status(), Some(503));
        }
    }
    assert!(e.to_string().contains(&refused), "{e}");
}

#[test]
fn a_single_attempt_returns_its_own_outcome() {
    let failing = failing_testbed();
    let c = Client::builder().hosts([failing.url()]).build().unwrap();
    // Not hedged: a 503 is the answer, as any HTTP client would return it.
    assert_eq!(c.send_blocking(Request::get("/one")).unwrap().status(), 503);
}

#[test]
fn a_4xx_is_an_answer_and_wins_unless_listed_in_retry_on_status() {
    let tb = testbed("fixed:0");
    let c = Client::builder()
        .hosts([tb.url()])
        .concurrent_calls(2)
        .build()
        .unwrap();
    let r = c
        .send_blocking(Request::get("/missing?status=404"))
        .unwrap();
    assert_eq!(r.status(), 404);
    let c = Client::builder()
        .hosts([tb.url()])
        .concurrent_calls(2)
        .set("retry_on_status", "404,5xx")
        .build()
        .unwrap();
    let e = c
        .send_blocking(Request::get("/missing?status=404"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AllAttemptsFailed);
}

#[test]
fn only_idempotent_calls_are_hedged() {
    // The answer waits 100 ms, so every attempt reaches the server before the winner answers and
    // the losers are cancelled (with an instant answer, a loser may be cancelled before it
    // arrives, and the count below would depend on the machine's load).
    let tb = testbed("fixed:0");
    let c = Client::builder()
        .hosts([tb.url()])
        .concurrent_calls(3)
        // No budget: every idempotent call here sends all 3 (the default budget of 1 extra
        // attempt per call would stop some of them; budgets are tested on their own).
        .set("hedge_max_extra_load", "")
        .build()
        .unwrap();
    assert_eq!(
        c.send_blocking(Request::post("/p?delay_ms=100").body("x"))
            .unwrap()
            .attempts(),
        1
    );
    assert_eq!(
        c.send_blocking(Request::put("/p?delay_ms=100").body("x"))
            .unwrap()
            .attempts(),
        3
    );
    assert_eq!(
        c.send_blocking(Request::delete("/p?delay_ms=100"))
            .unwrap()
            .attempts(),
        3
    );
    let declared = c
        .send_blocking(Request::post("/p?delay_ms=100").body("x").idempotent(true))
        .unwrap();
    assert_eq!(declared.attempts(), 3);
    let refused = c
        .send_blocking(Request::get("/p?delay_ms=100").idempotent(false))
        .unwrap();
    assert_eq!(refused.attempts(), 1);
    assert_eq!(tb.stats().requests, 1 + 3 + 3 + 3 + 1);
}

#[test]
fn every_attempt_replays_the_same_body() {
    let tb = testbed("fixed:0");
    let c = Client::builder()
        .hosts([tb.url()])
        .concurrent_calls(3)
        .build()
        .unwrap();
    // Held 100 ms: every attempt arrives before one wins (see only_idempotent_calls_are_hedged).
    c.send_blocking(Request::put("/__echo?delay_ms=100").body("same bytes"))
        .unwrap();
    let s = tb
        .wait_until(Duration::from_secs(5), |s| s.requests == 3)
        .unwrap();
    assert_eq!(s.requests, 3, "all three attempts reached the server");
}

#[test]
fn each_attempt_goes_to_a_host_the_call_is_not_using() {
    let tbs: Vec<_> = (0..3).map(|_| testbed("fixed:20000")).collect();
    for strategy in ["round_robin", "random", "p2c"] {
        let c = Client::builder()
            .hosts(tbs.iter().map(|t| t.url()))
            .concurrent_calls(3)
            .set("balance", strategy)
            .build()
            .unwrap();
        for t in &tbs {
            t.reset();
        }
        c.send_blocking(Request::get("/spread")).unwrap();
        for t in &tbs {
            let s = t.wait_until(Duration::from_secs(5), |s| {
                s.requests == 1 && s.in_flight == 0
            });
            assert!(s.is_ok(), "{strategy}: each host got exactly one attempt");
        }
    }
}

#[test]
fn hedging_clients_number_their_attempts_unless_turned_off() {
    let slow = testbed("fixed:300000");
    let fast = testbed("fixed:50000");
    let c = Client::builder()
        .hosts([slow.url(), fast.url()])
        .concurrent_calls(2)
        .build()
        .unwrap();
    c.send_blocking(Request::get("/h")).unwrap();
    let attempt_of = |t: &Testbed| {
        t.wait_until(Duration::from_secs(5), |s| s.count_events("start") == 1)
            .unwrap()
            .events[0]
            .attempt
    };
    assert_eq!(attempt_of(&slow), Some(0));
    assert_eq!(attempt_of(&fast), Some(1));
    // Turned off on a hedging client (the long delay keeps it to one attempt here).
    let off = Client::builder()
        .hosts([fast.url()])
        .concurrent_calls(2)
        .hedge_delay(Duration::from_secs(10))
        .set("attempt_header", "false")
        .build()
        .unwrap();
    fast.reset();
    off.send_blocking(Request::get("/h")).unwrap();
    assert_eq!(attempt_of(&fast), None);
    // A client that never hedges has no attempt numbers to tell apart.
    let plain = Client::builder().hosts([fast.url()]).build().unwrap();
    fast.reset();
    plain.send_blocking(Request::get("/h")).unwrap();
    assert_eq!(attempt_of(&fast), None);
}

#[test]
fn the_budget_caps_extra_load_with_a_small_floor() {
    let tb = testbed("fixed:0");
    // Ratio 0: only the floor (a few hedges per second) is left.
    let c = Client::builder()
        .hosts([tb.url()])
        .concurrent_calls(2)
        .hedge_max_extra_load(0.0)
        .build()
        .unwrap();
    let t = Instant::now();
    for _ in 0..30 {
        c.send_blocking(Request::get("/b")).unwrap();
    }
    let secs = t.elapsed().as_secs_f64().ceil().max(1.0) as u64;
    let s = c.stats();
    assert!(
        s.hedges_sent >= 3,
        "the floor lets low traffic hedge: {}",
        s.hedges_sent
    );
    assert!(
        s.hedges_sent <= 3 * (secs + 1),
        "floor exceeded: {} in {secs}s",
        s.hedges_sent
    );
    assert_eq!(s.hedges_sent + s.hedges_skipped_budget, 30);

    // Ratio 0.1 over 300 calls: at most 10% extra (or the floor, if the run was slow).
    let c = Client::builder()
        .hosts([tb.url()])
        .concurrent_calls(2)
        .hedge_max_extra_load(0.1)
        .build()
        .unwrap();
    let t = Instant::now();
    for _ in 0..300 {
        c.send_blocking(Request::get("/b")).unwrap();
    }
    let floor = 3 * (t.elapsed().as_secs_f64().ceil() as u64 + 1);
    let s = c.stats();
    assert!(
        s.hedges_sent <= 30.max(floor),
        "budget exceeded: {} hedges",
        s.hedges_sent
    );
    assert!(s.hedges_skipped_budget > 0);
    assert_eq!(s.attempts, 300 + s.hedges_sent);
}

#[test]
fn a_hedge_the_budget_turned_down_goes_out_once_it_refills() {
    let slow = testbed("fixed:5000000");
    let fast = testbed("fixed:0");
    // Ratio 0: only the floor, 3 hedges in the first second and 3 more each second after.
    let c = Client::builder()
        .hosts([slow.url(), fast.url()])
        .concurrent_calls(2)
        .hedge_delay(Duration::from_millis(20))
        .hedge_max_extra_load(0.0)
        .build()
        .unwrap();
    // Round robin: 4 of the 8 calls start on the slow host and want a hedge after 20 ms.
    let calls: Vec<_> = (0..8).map(|_| c.send(Request::get("/refill"))).collect();
    let rt = caller_runtime();
    let t = Instant::now();
    let answers: Vec<_> = calls
        .into_iter()
        .map(|call| rt.block_on(call).unwrap())
        .collect();
    // The fourth found the floor spent, asked again (20, 40, 80, ... ms later) and got its
    // hedge once the floor grew, long before the slow host's 5 s.
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert_eq!(answers.iter().filter(|r| r.attempts() == 2).count(), 4);
    let s = c.stats();
    assert_eq!((s.hedges_sent, s.hedges_won), (4, 4));
    assert_eq!(
        s.hedges_skipped_budget, 1,
        "counted once however often it asked"
    );
}

#[test]
fn a_hedge_that_found_no_free_slot_goes_out_once_one_frees() {
    let slow = testbed("fixed:2000000");
    let fast = testbed("fixed:0");
    let c = Client::builder()
        .hosts([slow.url(), fast.url()])
        .max_count(2)
        .concurrent_calls(2)
        .hedge_delay(Duration::from_millis(20))
        .build()
        .unwrap();
    // Round robin: the holder (a POST, never hedged) on the slow host for 300 ms, a call on the
    // fast host, then the call under test on the slow host.
    let holder = c.send(Request::post("/hold?delay_ms=300").limit_key("a"));
    slow.wait_until(Duration::from_secs(5), |s| s.in_flight == 1)
        .unwrap();
    c.send_blocking(Request::get("/other")).unwrap();
    // Its first attempt takes key a's last slot; the hedge due at 20 ms finds none, asks again
    // (40, 80, 160 ms later ...) and goes to the fast host once the holder's slot frees.
    let r = c.send_blocking(Request::get("/a").limit_key("a")).unwrap();
    assert_eq!((r.attempts(), r.winner()), (2, 1));
    assert!(
        r.elapsed() < Duration::from_millis(1500),
        "{:?}",
        r.elapsed()
    );
    let rt = caller_runtime();
    rt.block_on(holder).unwrap();
    assert_eq!(c.stats().hedges_skipped_no_slot, 1, "counted once");
}

#[test]
fn the_default_budget_is_one_extra_attempt_per_call_and_empty_means_none() {
    let tb = testbed("fixed:0");
    // 3 copies wanted per call; by default (DESIGN.md: 1.0) extra attempts stay within calls.
    let c = Client::builder()
        .hosts([tb.url()])
        .concurrent_calls(3)
        .build()
        .unwrap();
    let t = Instant::now();
    for _ in 0..200 {
        c.send_blocking(Request::get("/d?delay_ms=1")).unwrap();
    }
    let floor = 3 * (t.elapsed().as_secs_f64().ceil() as u64 + 1);
    let s = c.stats();
    assert!(
        s.hedges_sent <= 200.max(floor),
        "default budget exceeded: {} hedges for 200 calls",
        s.hedges_sent
    );
    assert!(s.hedges_skipped_budget > 0, "nothing was held back");
    assert!(
        s.hedges_sent >= 100,
        "{} hedges: the budget is not 1",
        s.hedges_sent
    );

    // No budget (KrakenD's concurrent_calls): every call sends all 3.
    let c = Client::builder()
        .hosts([tb.url()])
        .concurrent_calls(3)
        .set("hedge_max_extra_load", "")
        .build()
        .unwrap();
    for _ in 0..50 {
        assert_eq!(
            c.send_blocking(Request::get("/d?delay_ms=1"))
                .unwrap()
                .attempts(),
            3
        );
    }
    assert_eq!(c.stats().hedges_skipped_budget, 0);
}

#[test]
fn the_delay_adapts_to_the_latency_percentile() {
    let tb = testbed("fixed:5000");
    let c = Client::builder()
        .hosts([tb.url()])
        .concurrent_calls(2)
        .hedge_delay(Duration::from_secs(10))
        .hedge_percentile(50.0)
        .build()
        .unwrap();
    // Until enough samples exist the fixed delay (10 s) holds: no hedges.
    assert_eq!(c.stats().hedge_delay_us, 10_000_000);
    let calls: Vec<_> = (0..150).map(|_| c.send(Request::get("/adapt"))).collect();
    let rt = caller_runtime();
    for call in calls {
        rt.block_on(call).unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
    let delay = c.stats().hedge_delay_us;
    assert!(
        (5_000..200_000).contains(&delay),
        "p50 of 5 ms answers, got {delay} µs"
    );
    // A call slower than the estimate now gets hedged.
    let r = c
        .send_blocking(Request::get("/adapt?delay_ms=300"))
        .unwrap();
    assert_eq!(r.attempts(), 2);
}

#[test]
fn a_budget_smaller_than_the_slow_calls_hedges_them_where_the_fast_answers_end() {
    // 3% of answers take 200 ms, the rest 2 ms; the budget (1%) cannot hedge every slow call, so
    // the percentile it could pay for (p99.1) lies among the slow answers. Waiting for it would
    // hedge no slow call in time; the delay must stay where the fast answers end, with the slow
    // originals the hedges cut short read as "longer than that", not as answers.
    let tb = testbed("tail:0.03:2000:200000");
    let c = Client::builder()
        .hosts([tb.url()])
        .concurrent_calls(2)
        .hedge_delay(Duration::from_millis(10))
        .hedge_percentile(95.0)
        .hedge_max_extra_load(0.01)
        .build()
        .unwrap();
    std::thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| {
                for _ in 0..100 {
                    c.send_blocking(Request::get("/knee")).unwrap();
                }
            });
        }
    });
    std::thread::sleep(Duration::from_millis(20));
    let s = c.stats();
    assert!(
        (2_000..50_000).contains(&s.hedge_delay_us),
        "delay {} µs: not where the 2 ms answers end",
        s.hedge_delay_us
    );
    assert!(s.hedges_won > 0, "no slow call was hedged in time: {s:?}");
}

/// Calls whose attempts are still waiting on a slow answer when the call's `timeout_ms` drops
/// them, then fast answers: the adaptive delay must reflect the slow attempts (as lower bounds),
/// not just the answers that came back. `request` makes the calls (GET races, POST runs alone).
fn attempts_dropped_at_the_call_timeout_pull_the_delay_up(request: fn(&'static str) -> Request) {
    let tb = testbed("fixed:0");
    let c = Client::builder()
        .hosts([tb.url()])
        .concurrent_calls(2)
        .hedge_delay(Duration::from_secs(10))
        .hedge_percentile(50.0)
        .timeout(Duration::from_millis(250))
        .build()
        .unwrap();
    let rt = caller_runtime();
    // All submitted at once, before any sample exists: each call's only attempt (the fixed 10 s
    // delay sends no hedge) is dropped with its call at 250 ms, the answer 5 s away.
    let slow: Vec<_> = (0..150)
        .map(|_| c.send(request("/slow?delay_ms=5000")))
        .collect();
    for call in slow {
        assert_eq!(rt.block_on(call).unwrap_err().kind(), ErrorKind::Timeout);
    }
    // 100 fast answers, one after another on a pooled connection: counted alone they would put
    // the p50 near zero.
    for _ in 0..100 {
        assert_eq!(c.send_blocking(request("/fast")).unwrap().status(), 200);
    }
    // The estimate is refreshed at most every 10 ms.
    std::thread::sleep(Duration::from_millis(20));
    let delay = c.stats().hedge_delay_us;
    assert!(
        (125_000..10_000_000).contains(&delay),
        "p50 of 150 attempts cut at 250 ms and 100 fast answers, got {delay} µs"
    );
}

#[test]
fn attempts_of_calls_that_timed_out_count_in_the_adaptive_delay() {
    attempts_dropped_at_the_call_timeout_pull_the_delay_up(Request::get);
}

#[test]
fn an_unhedged_attempt_of_a_call_that_timed_out_counts_in_the_adaptive_delay() {
    // POST is not idempotent: one attempt per call, outside any race.
    attempts_dropped_at_the_call_timeout_pull_the_delay_up(Request::post);
}

#[test]
fn a_failing_host_is_ejected_then_tried_again() {
    let refused = refused_url();
    let good = testbed("fixed:0");
    let c = Client::builder()
        .hosts([refused.clone(), good.url()])
        .set("eject_after", "2")
        .set("eject_ms", "300")
        .build()
        .unwrap();
    let mut failures = 0;
    for _ in 0..20 {
        if c.send_blocking(Request::get("/e")).is_err() {
            failures += 1;
        }
    }
    assert_eq!(
        failures, 2,
        "two failures eject it; then every call goes to the good host"
    );
    let s = c.stats();
    let bad = s.hosts.iter().find(|h| h.url == refused).unwrap();
    assert!(bad.ejected);
    assert_eq!(bad.ejections, 1);
    std::thread::sleep(Duration::from_millis(400));
    // Back in rotation: it gets tried (and fails, and is ejected again).
    let failures: usize = (0..4)
        .filter(|_| c.send_blocking(Request::get("/e")).is_err())
        .count();
    assert_eq!(failures, 1);
    assert_eq!(
        c.stats()
            .hosts
            .iter()
            .find(|h| h.url == refused)
            .unwrap()
            .ejections,
        2
    );
}

#[test]
fn hedging_cuts_the_tail_of_a_long_tail_server() {
    // 20% of answers take 300 ms; 3 copies at once (KrakenD's: no budget) make a slow answer
    // rare.
    let tb = testbed("tail:0.2:0:300000");
    let c = Client::builder()
        .hosts([tb.url()])
        .concurrent_calls(3)
        .set("hedge_max_extra_load", "")
        .build()
        .unwrap();
    let rt = caller_runtime();
    let calls: Vec<_> = (0..50).map(|_| c.send(Request::get("/tail"))).collect();
    let slow = calls
        .into_iter()
        .map(|call| rt.block_on(call).unwrap())
        .filter(|r| r.elapsed() >= Duration::from_millis(250))
        .count();
    // Plain, ~10 of 50 would be slow; with 3 copies each call is slow with p = 0.8%.
    assert!(slow <= 3, "{slow} slow calls of 50");
}

#[test]
fn a_hedging_call_that_sent_one_attempt_returns_that_attempts_answer() {
    let tb = Testbed::start(TestbedConfig {
        error_rate: 1.0,
        ..TestbedConfig::default()
    })
    .unwrap();
    let c = Client::builder()
        .hosts([tb.url()])
        .concurrent_calls(2)
        .hedge_max_extra_load(0.0)
        .build()
        .unwrap();
    for _ in 0..3 {
        let e = c.send_blocking(Request::get("/x")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AllAttemptsFailed, "{e}");
    }
    // The floor (3 hedges a second) is spent: the 4th call sends one attempt, and returns its
    // 503 as is, not an all-attempts-failed error.
    let r = c.send_blocking(Request::get("/x")).unwrap();
    assert_eq!((r.status().as_u16(), r.attempts()), (503, 1));
}

#[test]
fn a_win_by_the_first_attempt_is_not_a_hedge_win() {
    let fast = testbed("fixed:20000");
    let slow = testbed("fixed:1000000");
    let c = Client::builder()
        .hosts([fast.url(), slow.url()])
        .concurrent_calls(2)
        .set("hedge_max_extra_load", "")
        .build()
        .unwrap();
    let r = c.send_blocking(Request::get("/w")).unwrap();
    assert_eq!((r.winner(), r.attempts()), (0, 2));
    let s = c.stats();
    assert_eq!((s.hedges_sent, s.hedges_won), (1, 0));
}

#[test]
fn a_third_attempt_starts_one_delay_after_the_second() {
    let s1 = testbed("fixed:2000000");
    let s2 = testbed("fixed:2000000");
    let fast = testbed("fixed:0");
    let c = Client::builder()
        .hosts([s1.url(), s2.url(), fast.url()])
        .concurrent_calls(3)
        .hedge_delay(Duration::from_millis(30))
        .set("hedge_max_extra_load", "")
        .build()
        .unwrap();
    let r = c.send_blocking(Request::get("/t")).unwrap();
    assert_eq!((r.attempts(), r.winner()), (3, 2));
    assert!(
        r.elapsed() < Duration::from_millis(1500),
        "{:?}",
        r.elapsed()
    );
}

#[test]
fn a_hedge_that_finds_no_slot_gives_its_budget_back() {
    let tb = testbed("fixed:0");
    let c = Client::builder()
        .hosts([tb.url()])
        .max_count(2)
        .concurrent_calls(2)
        .hedge_max_extra_load(0.0)
        .build()
        .unwrap();
    let _holder = c.send(Request::post("/hold?delay_ms=2000").limit_key("a"));
    tb.wait_until(Duration::from_secs(5), |s| s.in_flight == 1)
        .unwrap();
    // Key a has one slot left, taken by each call's first attempt: no slot for a hedge.
    for _ in 0..3 {
        let r = c.send_blocking(Request::get("/a").limit_key("a")).unwrap();
        assert_eq!(r.attempts(), 1);
    }
    assert_eq!(c.stats().hedges_skipped_no_slot, 3);
    // Had those three kept the budget they could not use, the floor (3 a second) would be spent.
    let r = c
        .send_blocking(Request::get("/b?delay_ms=50").limit_key("b"))
        .unwrap();
    assert_eq!(r.attempts(), 2);
}

/// Attempts ended by `attempt_timeout_ms` count (at their timeout) in the adaptive delay.
fn attempt_timeouts_feed_the_delay(request: fn(&'static str) -> Request) {
    let tb = testbed("fixed:0");
    let c = Client::builder()
        .hosts([tb.url()])
        .concurrent_calls(2)
        .hedge_delay(Duration::from_secs(10))
        .hedge_percentile(50.0)
        .set("hedge_max_extra_load", "")
        .set("attempt_timeout_ms", "40")
        .build()
        .unwrap();
    let calls: Vec<_> = (0..120)
        .map(|_| c.send(request("/slow?delay_ms=2000")))
        .collect();
    for call in calls {
        assert!(tailrace::runtime::block_on(call).unwrap().is_err());
    }
    // The estimate is refreshed at most every 10 ms.
    std::thread::sleep(Duration::from_millis(20));
    let d = c.stats().hedge_delay_us;
    assert!((30_000..10_000_000).contains(&d), "{d} µs");
}

#[test]
fn attempt_timeouts_count_in_the_adaptive_delay_of_a_race() {
    attempt_timeouts_feed_the_delay(Request::get);
}

#[test]
fn attempt_timeouts_count_in_the_adaptive_delay_of_a_single_attempt() {
    attempt_timeouts_feed_the_delay(Request::post);
}
