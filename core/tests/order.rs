//! The order gate against a real testbed: every assertion reads the testbed's start/finish log,
//! and every race is decided by the testbed's delays.

use std::future::Future;
use std::time::Duration;

use tailrace::{Client, Request, Response, Result};
use tailrace_testbed::{Config as TestbedConfig, Stats, Testbed, START};

fn testbed() -> Testbed {
    Testbed::start(TestbedConfig::default()).unwrap()
}

fn client(tb: &Testbed) -> Client {
    Client::builder().hosts([tb.url()]).build().unwrap()
}

/// Request `seq` (logged as `x-seq`), held `delay_ms` by the testbed, with an order key (also
/// logged, as `x-key`) and a flush flag.
fn req(seq: u32, key: Option<&str>, flush: bool, delay_ms: u32) -> Request {
    let mut r = Request::get(format!("/o?delay_ms={delay_ms}"))
        .header("x-seq", &seq.to_string())
        .flush(flush);
    if let Some(k) = key {
        r = r.header("x-key", k).order_key(k);
    }
    r
}

fn wait(call: impl Future<Output = Result<Response>> + Send + 'static) -> Result<Response> {
    tailrace::runtime::block_on(call).unwrap()
}

fn settled(tb: &Testbed) -> Stats {
    tb.wait_until(Duration::from_secs(10), |s| s.in_flight == 0)
        .expect("every request ended")
}

/// Log positions of request `seq`'s start and end.
fn span(log: &Stats, seq: i64) -> (usize, usize) {
    let mut start = None;
    let mut end = None;
    for (i, e) in log.events.iter().enumerate() {
        if e.seq == Some(seq) {
            if e.event == START {
                start.get_or_insert(i);
            } else {
                end = Some(i);
            }
        }
    }
    (
        start.unwrap_or_else(|| panic!("request {seq} never started")),
        end.unwrap_or_else(|| panic!("request {seq} never ended")),
    )
}

fn ended_before_started(log: &Stats, a: i64, b: i64) -> bool {
    span(log, a).1 < span(log, b).0
}

fn overlapped(log: &Stats, a: i64, b: i64) -> bool {
    let (sa, ea) = span(log, a);
    let (sb, eb) = span(log, b);
    sa < eb && sb < ea
}

/// Seed 004's worked example. Its text names the keys of requests 1 and 3 (A) and 10 (A, flush)
/// and the flushes (6 and 10); the rest of its diagram is not in the text, so the other keys
/// are chosen to exercise every rule it states: 2 and 5 share key B, 8 and 9 share key C,
/// 4, 7 and 12 have none, 11 has key A. Assertions follow the seed's steps.
#[test]
fn apama_worked_example_runs_in_the_order_the_seed_describes() {
    let tb = testbed();
    let c = client(&tb);
    #[rustfmt::skip]
    let plan: [(Option<&str>, bool, u32); 12] = [
        (Some("A"), false, 150), (Some("B"), false, 60), (Some("A"), false, 60),
        (None, false, 60), (Some("B"), false, 60), (None, true, 300),
        (None, false, 300), (Some("C"), false, 300), (Some("C"), false, 60),
        (Some("A"), true, 300), (Some("A"), false, 10), (None, false, 10),
    ];
    // 1. Requests 1 to 12 are sent (numbered from 1, as in the seed).
    let calls: Vec<_> = plan
        .iter()
        .enumerate()
        .map(|(i, (key, flush, delay))| c.send(req(i as u32 + 1, *key, *flush, *delay)))
        .collect();
    for call in calls {
        assert_eq!(wait(call).unwrap().status(), 200);
    }
    let log = settled(&tb);
    // 2. 1 and 3 have the same key: in order. 2 and 4 run beside 1 in the meantime.
    assert!(ended_before_started(&log, 1, 3));
    assert!(overlapped(&log, 1, 2) && overlapped(&log, 1, 4));
    // 3. 6 is a flush: 1 to 5 finish before it (and anything after it) starts.
    for earlier in 1..=5 {
        for later in 6..=12 {
            assert!(
                ended_before_started(&log, earlier, later),
                "{earlier} → {later}"
            );
        }
    }
    // 4. Once the queue has flushed, 6, 7 and 8 run concurrently.
    assert!(overlapped(&log, 6, 7) && overlapped(&log, 6, 8) && overlapped(&log, 7, 8));
    assert!(ended_before_started(&log, 8, 9), "9 shares 8's key");
    // 5. 10 flushes with key A: 1 to 9 finish before it; the next A request (11) waits for it to
    //    complete, while 12 (no key) runs beside it.
    for earlier in 1..=9 {
        assert!(ended_before_started(&log, earlier, 10), "{earlier} → 10");
    }
    assert!(ended_before_started(&log, 10, 11));
    assert!(overlapped(&log, 10, 12));
    assert_eq!(log.starts_in_order_for_key("A"), vec![1, 3, 10, 11]);
    let stats = c.stats();
    assert_eq!(stats.flush_waits, 2);
    assert_eq!(stats.waiting_for_order, 0);
}

#[test]
fn under_load_each_key_runs_one_at_a_time_in_submission_order() {
    let tb = testbed();
    let c = client(&tb);
    let keys = ["k0", "k1", "k2", "k3", "k4"];
    let calls: Vec<(usize, _)> = (0..100)
        .map(|i| {
            let key = keys[i % keys.len()];
            (i, c.send(req(i as u32, Some(key), false, (i % 3) as u32)))
        })
        .collect();
    for (_, call) in calls {
        wait(call).unwrap();
    }
    let log = settled(&tb);
    for (k, key) in keys.iter().enumerate() {
        let want: Vec<i64> = (0..100i64)
            .filter(|i| *i as usize % keys.len() == k)
            .collect();
        assert_eq!(log.starts_in_order_for_key(key), want, "key {key}");
        assert_eq!(log.max_concurrent_for_key(key), 1, "key {key}");
    }
    // Different keys did run at once.
    assert!(log.max_in_flight > 1);
}

#[test]
fn a_call_dropped_while_waiting_gives_up_its_place_in_order() {
    let tb = testbed();
    let c = client(&tb);
    let first = c.send(req(0, Some("A"), false, 300));
    let dropped = c.send(req(1, Some("A"), false, 0));
    let third = c.send(req(2, Some("A"), false, 0));
    tb.wait_until(Duration::from_secs(5), |s| s.in_flight == 1)
        .expect("the first call is running");
    assert_eq!(c.stats().waiting_for_order, 2);
    drop(dropped);
    wait(third).unwrap();
    wait(first).unwrap();
    let log = settled(&tb);
    assert_eq!(log.starts_in_order_for_key("A"), vec![0, 2]);
    assert!(ended_before_started(&log, 0, 2));
    assert_eq!(c.stats().waiting_for_order, 0);
}
