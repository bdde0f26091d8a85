//! The gate's rules on its own (no HTTP): a ticket "runs" from when it is ready until the test
//! drops it.

use super::*;

fn ready(t: &Ticket) -> bool {
    t.wake
        .as_ref()
        .is_none_or(|w| w.ready.load(Ordering::Acquire))
}

fn stats(g: &Gate) -> Stats {
    let mut s = Stats::default();
    g.fill(&mut s);
    s
}

#[test]
fn same_key_calls_run_one_at_a_time_in_submission_order() {
    let g = Gate::new();
    let a1 = g.submit(Some("A".into()), false);
    let a2 = g.submit(Some("A".into()), false);
    let a3 = g.submit(Some("A".into()), false);
    let b = g.submit(Some("B".into()), false);
    let x = g.submit(None, false);
    assert!(ready(&a1) && ready(&b) && ready(&x));
    assert!(!ready(&a2) && !ready(&a3));
    assert_eq!(stats(&g).waiting_for_order, 2);
    drop(a1);
    assert!(ready(&a2) && !ready(&a3));
    drop(a2);
    assert!(ready(&a3));
    assert_eq!(stats(&g).waiting_for_order, 0);
    // Keyed calls are numbered in submission order; x, with no key, took the fast path.
    assert_eq!((a3.seq(), b.seq()), (2, 3));
    assert!(x.fast);
}

#[test]
fn a_flush_waits_for_every_earlier_call_and_holds_later_ones_until_it_starts() {
    let g = Gate::new();
    let a = g.submit(Some("A".into()), false);
    let x = g.submit(None, false);
    let mut f = g.submit(Some("K".into()), true);
    let later = g.submit(None, false);
    let later_k = g.submit(Some("K".into()), false);
    assert!(!ready(&f) && !ready(&later) && !ready(&later_k));
    drop(a);
    assert!(!ready(&f));
    drop(x);
    assert!(ready(&f));
    // Ready is not started: later calls still wait.
    assert!(!ready(&later));
    f.started();
    assert!(ready(&later), "runs beside the flush");
    assert!(!ready(&later_k), "same key waits for the flush to complete");
    drop(f);
    assert!(ready(&later_k));
    assert_eq!(stats(&g).flush_waits, 1);
}

#[test]
fn a_flush_with_nothing_before_it_does_not_wait() {
    let g = Gate::new();
    let mut f = g.submit(None, true);
    assert!(ready(&f));
    let after = g.submit(None, false);
    assert!(!ready(&after));
    f.started();
    assert!(ready(&after));
    assert_eq!(stats(&g).flush_waits, 0);
}

#[test]
fn a_cancelled_waiter_never_lets_a_later_same_key_call_overtake() {
    let g = Gate::new();
    let a1 = g.submit(Some("A".into()), false);
    let a2 = g.submit(Some("A".into()), false);
    let a3 = g.submit(Some("A".into()), false);
    drop(a2);
    assert!(!ready(&a3), "a1 is still running");
    drop(a1);
    assert!(ready(&a3));
}

#[test]
fn a_flush_cancelled_while_waiting_frees_the_calls_behind_it() {
    let g = Gate::new();
    let running = g.submit(Some("A".into()), false);
    let f = g.submit(None, true);
    let behind = g.submit(None, false);
    let behind_a = g.submit(Some("A".into()), false);
    assert!(!ready(&behind));
    drop(f);
    assert!(ready(&behind));
    assert!(!ready(&behind_a), "still behind the running A call");
    drop(running);
    assert!(ready(&behind_a));
}

#[test]
fn consecutive_flushes_each_wait_for_everything_before_them() {
    let g = Gate::new();
    let a = g.submit(None, false);
    let mut f1 = g.submit(None, true);
    let x1 = g.submit(None, false);
    let mut f2 = g.submit(None, true);
    let x2 = g.submit(None, false);
    drop(a);
    assert!(ready(&f1) && !ready(&x1) && !ready(&f2));
    f1.started();
    assert!(ready(&x1) && !ready(&f2) && !ready(&x2));
    drop(f1);
    assert!(!ready(&f2), "x1 is earlier and still running");
    drop(x1);
    assert!(ready(&f2) && !ready(&x2));
    f2.started();
    assert!(ready(&x2));
    // A later flush cancelled before an earlier one starts: its calls wait for the earlier one.
    let g = Gate::new();
    let a = g.submit(None, false);
    let f1 = g.submit(None, true);
    let f2 = g.submit(None, true);
    let y = g.submit(None, false);
    drop(f2);
    assert!(!ready(&y));
    drop(a);
    assert!(ready(&f1));
    drop(f1);
    assert!(ready(&y));
}

#[test]
fn a_ready_flush_dropped_before_it_started_passes_the_turn() {
    let g = Gate::new();
    let f = g.submit(None, true);
    let after = g.submit(Some("A".into()), false);
    assert!(ready(&f) && !ready(&after));
    drop(f); // e.g. rejected by the limiter
    assert!(ready(&after));
}

#[test]
fn keys_with_nothing_pending_are_dropped() {
    let g = Gate::new();
    for i in 0..20_000 {
        let key = format!("key-{i}");
        let t1 = g.submit(Some(key.clone()), false);
        let t2 = g.submit(Some(key.clone()), false);
        drop(t1);
        drop(t2);
    }
    assert_eq!(g.keys_pending(), 0);
    let s = stats(&g);
    assert_eq!(s.waiting_for_order, 0);
}

#[tokio::test]
async fn wait_returns_once_the_turn_comes() {
    let g = Gate::new();
    let a = g.submit(Some("A".into()), false);
    let mut b = g.submit(Some("A".into()), false);
    let waiter = tokio::spawn(async move {
        b.wait().await;
        b.seq()
    });
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    drop(a);
    assert_eq!(waiter.await.unwrap(), 1);
}

#[test]
fn the_fast_path_reopens_after_a_flush_and_never_loses_a_flush_wake_up() {
    let g = Arc::new(Gate::new());
    let mut f = g.submit(None, true);
    assert!(
        !g.submit(None, false).fast,
        "behind a pending flush: the locked path"
    );
    f.started();
    drop(f);
    assert!(
        g.submit(None, false).fast,
        "no flush pending: the fast path again"
    );

    // Keyless calls come and go on other threads while flushes arrive: every flush must become
    // ready (a count missed between the fast path and the flush would leave it waiting forever).
    let stop = Arc::new(AtomicBool::new(false));
    let churn: Vec<_> = (0..3)
        .map(|_| {
            let (g, stop) = (g.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let t = g.submit(None, false);
                    std::hint::spin_loop();
                    drop(t);
                }
            })
        })
        .collect();
    for _ in 0..300 {
        let mut f = g.submit(None, true);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !ready(&f) {
            assert!(
                std::time::Instant::now() < deadline,
                "a flush never became ready"
            );
            std::thread::yield_now();
        }
        f.started();
    }
    stop.store(true, Ordering::Relaxed);
    for t in churn {
        t.join().unwrap();
    }
    assert_eq!(stats(&g).waiting_for_order, 0);
}
