//! The limiter against a real testbed, which counts its own in-flight requests. Races are decided
//! by the testbed's delays; the client never sleeps to decide one.

use std::future::Future;
use std::time::Duration;

use tailrace::{Client, ErrorKind, Request, Response, Result, Sent, TimeoutKind};
use tailrace_testbed::{Config as TestbedConfig, Stats, Testbed};

fn testbed() -> Testbed {
    Testbed::start(TestbedConfig::default()).unwrap()
}

fn wait(call: impl Future<Output = Result<Response>> + Send + 'static) -> Result<Response> {
    tailrace::runtime::block_on(call).unwrap()
}

fn settled(tb: &Testbed) -> Stats {
    tb.wait_until(Duration::from_secs(10), |s| s.in_flight == 0)
        .expect("every request ended")
}

#[test]
fn the_backend_never_sees_more_than_max_count() {
    let tb = testbed();
    let c = Client::builder()
        .hosts([tb.url()])
        .max_count(4)
        .build()
        .unwrap();
    let calls: Vec<_> = (0..60)
        .map(|i| c.send(Request::get(format!("/l?delay_ms={}", 5 + i % 4 * 10))))
        .collect();
    for call in calls {
        assert_eq!(wait(call).unwrap().status(), 200);
    }
    let log = settled(&tb);
    assert_eq!(log.max_in_flight, 4);
    assert_eq!(log.requests, 60);
    let s = c.stats();
    assert_eq!((s.max_in_flight, s.in_flight, s.queued), (4, 0, 0));
}

#[test]
fn the_queue_is_first_in_first_out_in_submission_order() {
    // Calls take their place at the limiter when they are submitted (their order turn has come),
    // not when their tasks happen to run: the last one submitted is the one a full queue
    // rejects, and the queued ones start in the order they were submitted.
    let tb = testbed();
    let c = Client::builder()
        .hosts([tb.url()])
        .max_count(1)
        .max_queue(8)
        .build()
        .unwrap();
    for round in 0..5 {
        tb.reset();
        let calls: Vec<_> = (0..10)
            .map(|i| {
                c.send(
                    Request::get(format!("/fifo?delay_ms={}", if i == 0 { 50 } else { 1 }))
                        .header("x-seq", &i.to_string())
                        .header("x-key", "fifo"),
                )
            })
            .collect();
        let outcomes: Vec<_> = calls.into_iter().map(wait).collect();
        for (i, o) in outcomes.iter().enumerate() {
            match i {
                // one in flight, eight queued: the tenth submitted is the one turned away
                9 => assert_eq!(
                    o.as_ref().unwrap_err().kind(),
                    ErrorKind::LimitQueueFull,
                    "round {round}"
                ),
                _ => assert_eq!(o.as_ref().unwrap().status(), 200, "round {round}, call {i}"),
            }
        }
        let log = settled(&tb);
        assert_eq!(
            log.starts_in_order_for_key("fifo"),
            (0..9).collect::<Vec<i64>>(),
            "round {round}"
        );
    }
}

#[test]
fn cancelling_a_queued_call_while_the_limiter_is_full_gives_the_slot_back() {
    let tb = testbed();
    let c = Client::builder()
        .hosts([tb.url()])
        .max_count(1)
        .max_queue(1)
        .build()
        .unwrap();
    let running = c.send(Request::get("/l?delay_ms=5000").header("x-seq", "0"));
    tb.wait_until(Duration::from_secs(5), |s| s.in_flight == 1)
        .expect("the first call holds the slot");
    let queued = c.send(Request::get("/l").header("x-seq", "1"));
    wait_for(|| c.stats().queued == 1);
    // The queue (max 1) is full: a third call is rejected at once and sends nothing.
    let rejected = wait(c.send(Request::get("/l").header("x-seq", "2"))).unwrap_err();
    assert_eq!(rejected.kind(), ErrorKind::LimitQueueFull);
    assert_eq!(rejected.sent_anything(), Sent::No);
    // Cancel the queued call: it leaves the queue...
    drop(queued);
    wait_for(|| c.stats().queued == 0);
    // ...and the running one: its slot comes back.
    drop(running);
    wait_for(|| c.stats().in_flight == 0);
    let log = settled(&tb);
    assert_eq!(log.requests, 1, "only the first call reached the backend");
    // The slot is usable again, at once.
    assert_eq!(wait(c.send(Request::get("/l"))).unwrap().status(), 200);
    let s = c.stats();
    assert_eq!(s.rejected_queue_full, 1);
    assert_eq!(s.errors["cancelled"], 2);
}

#[test]
fn a_call_timeout_while_waiting_for_a_slot_says_nothing_was_sent() {
    let tb = testbed();
    let c = Client::builder()
        .hosts([tb.url()])
        .max_count(1)
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let running = c.send(Request::get("/l?delay_ms=5000").timeout(Duration::from_secs(30)));
    tb.wait_until(Duration::from_secs(5), |s| s.in_flight == 1)
        .expect("the first call holds the slot");
    // Queued behind it, this call's own timeout_ms passes before it gets a slot: nothing sent,
    // so a retry cannot duplicate work.
    let err = wait(c.send(Request::post("/l?never=1"))).unwrap_err();
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Call), "{err}");
    assert_eq!(err.sent_anything(), Sent::No);
    drop(running);
    wait_for(|| c.stats().in_flight == 0);
    // A call that was at the server when its timeout_ms passed may have been processed.
    let err = wait(c.send(Request::get("/l?delay_ms=5000"))).unwrap_err();
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Call), "{err}");
    assert_eq!(err.sent_anything(), Sent::Maybe);
    let log = settled(&tb);
    assert_eq!(log.requests, 2, "the queued call never reached the backend");
}

#[test]
fn a_queue_timeout_is_its_own_error_and_sends_nothing() {
    let tb = testbed();
    let c = Client::builder()
        .hosts([tb.url()])
        .max_count(1)
        .queue_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let running = c.send(Request::get("/l?delay_ms=400"));
    tb.wait_until(Duration::from_secs(5), |s| s.in_flight == 1)
        .expect("the first call holds the slot");
    let err = wait(c.send(Request::get("/l?never=1"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitTimeout);
    assert_eq!(err.sent_anything(), Sent::No);
    assert!(err.message().contains("queue_timeout_ms"), "{err}");
    wait(running).unwrap();
    let log = settled(&tb);
    assert_eq!(log.requests, 1);
    assert_eq!(c.stats().limit_timeouts, 1);
}

#[test]
fn per_key_numbers_are_reported_on_request() {
    let tb = testbed();
    let c = Client::builder()
        .hosts([tb.url()])
        .max_count(2)
        .max_queue(10)
        .build()
        .unwrap();
    let calls: Vec<_> = (0..3)
        .map(|_| c.send(Request::get("/l?delay_ms=300").limit_key("tenant-a")))
        .collect();
    let other = c.send(Request::get("/l?delay_ms=300"));
    tb.wait_until(Duration::from_secs(5), |s| s.in_flight == 3)
        .expect("two of tenant-a and the client-wide call run");
    wait_for(|| c.limit_key_stats(Some("tenant-a")).queued == 1);
    let a = c.limit_key_stats(Some("tenant-a"));
    assert_eq!((a.in_flight, a.queued, a.max_count), (2, 1, 2));
    assert_eq!(a.max_queue, Some(10));
    let wide = c.limit_key_stats(None);
    assert_eq!((wide.in_flight, wide.queued), (1, 0));
    let s = c.stats();
    assert_eq!((s.in_flight, s.queued), (3, 1));
    assert!(s.utilization_percent > 0.0, "{}", s.utilization_percent);
    assert!(a.to_json().contains("\"limit_key\":\"tenant-a\""));
    for call in calls {
        wait(call).unwrap();
    }
    wait(other).unwrap();
    // An idle key reads as zeros (its state is gone).
    let a = c.limit_key_stats(Some("tenant-a"));
    assert_eq!((a.in_flight, a.queued), (0, 0));
}

/// The seam between hedging and the limiter: a hedge needs a free slot at once and never waits
/// for one, so with every slot taken no hedge is sent and the backend sees at most max_count.
#[test]
fn hedge_attempts_never_wait_for_a_slot() {
    let tb = testbed();
    let c = Client::builder()
        .hosts([tb.url()])
        .max_count(2)
        .max_queue(10)
        .concurrent_calls(2)
        .hedge_delay(Duration::from_millis(30))
        .build()
        .unwrap();
    // Two slow calls take both slots and their hedges find none. A third call queues, gets the
    // first call's slot, and its hedge finds none either (the second call still runs).
    let mut calls: Vec<_> = [250, 600]
        .iter()
        .map(|d| c.send(Request::get(format!("/h?delay_ms={d}"))))
        .collect();
    tb.wait_until(Duration::from_secs(5), |s| s.in_flight == 2)
        .expect("both slots taken");
    calls.push(c.send(Request::get("/h?delay_ms=250")));
    for call in calls {
        assert_eq!(wait(call).unwrap().attempts(), 1);
    }
    let log = settled(&tb);
    assert_eq!(log.max_in_flight, 2);
    assert_eq!(log.requests, 3);
    let s = c.stats();
    assert_eq!(s.hedges_sent, 0);
    assert!(
        s.hedges_skipped_no_slot >= 3,
        "{}",
        s.hedges_skipped_no_slot
    );

    // With a spare slot the same call does hedge (so the check above is about slots).
    let spare = Client::builder()
        .hosts([tb.url()])
        .max_count(2)
        .concurrent_calls(2)
        .hedge_delay(Duration::from_millis(30))
        .build()
        .unwrap();
    let r = spare
        .send_blocking(Request::get("/h?delay_ms=250"))
        .unwrap();
    assert_eq!(r.attempts(), 2);
    assert_eq!(spare.stats().hedges_sent, 1);
}

/// Poll a client-side condition that follows from an event already observed (a drop, a send);
/// bounded, so a bug fails the test instead of hanging it.
fn wait_for(cond: impl Fn() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("condition not reached within 5 s");
}
