//! The limiter's rules on its own (no HTTP): every race here is decided by the order the test
//! polls and drops things, never by sleeping.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use super::*;

fn limiter(options: &[(&str, &str)]) -> Limiter {
    let mut c = Config::default();
    for (k, v) in options {
        c.set(k, v).unwrap();
    }
    c.validate().unwrap();
    Limiter::new(&c)
}

type Acquire<'a> = Pin<Box<dyn Future<Output = Result<Permit>> + 'a>>;

fn acquire<'a>(l: &'a Limiter, key: Option<&'a str>) -> Acquire<'a> {
    Box::pin(l.acquire(key))
}

/// Poll once: `Some` if it finished.
async fn poll_once<T>(f: &mut Pin<Box<dyn Future<Output = T> + '_>>) -> Option<T> {
    std::future::poll_fn(|cx| {
        Poll::Ready(match f.as_mut().poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    })
    .await
}

fn stats(l: &Limiter) -> Stats {
    let mut s = Stats::default();
    l.fill(&mut s);
    s
}

#[tokio::test]
async fn slots_up_to_max_count_then_a_fifo_queue() {
    let l = limiter(&[("max_count", "2"), ("max_queue", "10")]);
    let p1 = l.acquire(None).await.unwrap();
    let p2 = l.acquire(None).await.unwrap();
    let mut w3 = acquire(&l, None);
    let mut w4 = acquire(&l, None);
    let mut w5 = acquire(&l, None);
    for w in [&mut w3, &mut w4, &mut w5] {
        assert!(poll_once(w).await.is_none());
    }
    let s = stats(&l);
    assert_eq!((s.in_flight, s.queued), (2, 3));
    drop(p2);
    // The oldest waiter gets the slot, not a later one.
    assert!(poll_once(&mut w5).await.is_none());
    assert!(poll_once(&mut w4).await.is_none());
    let p3 = poll_once(&mut w3).await.unwrap().unwrap();
    drop(p1);
    assert!(poll_once(&mut w5).await.is_none());
    let p4 = poll_once(&mut w4).await.unwrap().unwrap();
    let s = stats(&l);
    assert_eq!((s.in_flight, s.queued, s.max_in_flight), (2, 1, 2));
    drop((p3, p4));
    let p5 = poll_once(&mut w5).await.unwrap().unwrap();
    drop(p5);
    let s = stats(&l);
    assert_eq!((s.in_flight, s.queued), (0, 0));
}

#[tokio::test]
async fn a_full_queue_rejects_at_once_and_sends_nothing() {
    let l = limiter(&[("max_count", "1"), ("max_queue", "1")]);
    let _p = l.acquire(Some("k")).await.unwrap();
    let mut w = acquire(&l, Some("k"));
    assert!(poll_once(&mut w).await.is_none());
    let err = l.acquire(Some("k")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitQueueFull);
    assert_eq!(err.sent_anything(), Sent::No);
    assert!(err.message().contains("`k`"), "{err}");
    let s = stats(&l);
    assert_eq!((s.rejected_queue_full, s.queued, s.in_flight), (1, 1, 1));
}

#[tokio::test]
async fn max_queue_zero_rejects_whenever_no_slot_is_free() {
    let l = limiter(&[("max_count", "1"), ("max_queue", "0")]);
    let p = l.acquire(None).await.unwrap();
    let err = l.acquire(None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitQueueFull);
    drop(p);
    l.acquire(None).await.unwrap();
}

#[tokio::test]
async fn waiting_past_queue_timeout_is_a_limit_timeout() {
    let l = limiter(&[("max_count", "1"), ("queue_timeout_ms", "100")]);
    let _held = l.acquire(None).await.unwrap();
    let t = std::time::Instant::now();
    let err = l.acquire(None).await.unwrap_err();
    // At the timeout: never before, and not much after (a loaded machine gets a wide margin).
    assert!(
        t.elapsed() >= Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );
    assert!(
        t.elapsed() < Duration::from_millis(450),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::LimitTimeout);
    assert_eq!(err.sent_anything(), Sent::No);
    let s = stats(&l);
    assert_eq!((s.limit_timeouts, s.queued, s.in_flight), (1, 0, 1));
}

#[tokio::test]
async fn a_cancelled_waiter_leaves_the_queue() {
    let l = limiter(&[("max_count", "1"), ("max_queue", "1")]);
    let p1 = l.acquire(None).await.unwrap();
    let mut w2 = acquire(&l, None);
    assert!(poll_once(&mut w2).await.is_none());
    drop(w2);
    assert_eq!(stats(&l).queued, 0);
    // Its place is free again: the queue (max 1) takes another waiter, which gets the slot.
    let mut w3 = acquire(&l, None);
    assert!(poll_once(&mut w3).await.is_none());
    drop(p1);
    let p3 = poll_once(&mut w3).await.unwrap().unwrap();
    assert_eq!(stats(&l).in_flight, 1);
    drop(p3);
    assert_eq!(stats(&l).in_flight, 0);
}

#[tokio::test]
async fn a_cancel_racing_a_grant_never_leaks_the_slot() {
    let l = limiter(&[("max_count", "1")]);
    let p1 = l.acquire(Some("k")).await.unwrap();
    let mut w2 = acquire(&l, Some("k"));
    let mut w3 = acquire(&l, Some("k"));
    assert!(poll_once(&mut w2).await.is_none());
    assert!(poll_once(&mut w3).await.is_none());
    // The slot is handed to w2, which is cancelled before it ever sees it: the slot goes on.
    drop(p1);
    drop(w2);
    let p3 = poll_once(&mut w3).await.unwrap().unwrap();
    assert_eq!(l.key_stats(Some("k")).in_flight, 1);
    drop(p3);
    // Nothing held, nothing queued: the key itself is gone.
    let s = stats(&l);
    assert_eq!((s.in_flight, s.queued), (0, 0));
    assert_eq!(l.shared.table.named_keys(), 0);
}

#[tokio::test]
async fn hedges_take_only_a_free_slot_and_never_queue() {
    let l = limiter(&[("max_count", "2")]);
    let p1 = l.acquire(None).await.unwrap();
    let hedge = l.try_acquire_now(None).expect("one slot free");
    assert!(l.try_acquire_now(None).is_none(), "full: no hedge");
    let mut w = acquire(&l, None);
    assert!(poll_once(&mut w).await.is_none());
    drop(hedge);
    // The freed slot went to the queued call; a hedge cannot take it.
    assert!(l.try_acquire_now(None).is_none());
    let p2 = poll_once(&mut w).await.unwrap().unwrap();
    assert_eq!(stats(&l).queued, 0);
    drop((p1, p2));
    assert!(l.try_acquire_now(None).is_some());
}

#[tokio::test]
async fn keys_are_independent_and_idle_keys_are_dropped() {
    let l = limiter(&[("max_count", "1"), ("max_queue", "0")]);
    let a = l.acquire(Some("a")).await.unwrap();
    assert!(l.acquire(Some("a")).await.is_err());
    let b = l.acquire(Some("b")).await.unwrap();
    let wide = l.acquire(Some("")).await.unwrap();
    assert!(
        l.acquire(None).await.is_err(),
        "\"\" is the client-wide key"
    );
    assert_eq!(stats(&l).in_flight, 3);
    drop((a, b, wide));
    for i in 0..20_000 {
        let key = format!("key-{i}");
        let p = l.acquire(Some(&key)).await.unwrap();
        assert!(l.try_acquire_now(Some(&key)).is_none());
        drop(p);
    }
    assert_eq!(l.shared.table.named_keys(), 0);
    assert_eq!(l.key_stats(Some("key-7")).in_flight, 0);
}

#[tokio::test]
async fn without_max_count_everything_passes_and_is_counted() {
    let l = limiter(&[]);
    let permits: Vec<_> = (0..100)
        .map(|_| l.try_acquire_now(Some("k")).unwrap())
        .collect();
    let p = l.acquire(Some("k")).await.unwrap();
    let s = stats(&l);
    assert_eq!((s.in_flight, s.max_in_flight, s.queued), (101, 101, 0));
    assert_eq!(s.utilization_percent, 0.0);
    drop((permits, p));
    assert_eq!(stats(&l).in_flight, 0);
}

/// Many callers, tiny timeouts, cancels and releases racing on two threads: whatever interleaving
/// happens, nothing leaks and the bound holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_racing_timeouts_and_cancels_no_slot_leaks() {
    let l = Arc::new(limiter(&[
        ("max_count", "3"),
        ("max_queue", "40"),
        ("queue_timeout_ms", "1"),
    ]));
    let mut tasks = Vec::new();
    for i in 0..400u64 {
        let l = l.clone();
        tasks.push(tokio::spawn(async move {
            let key = ["a", "b", ""][(i % 3) as usize];
            let acquire = l.acquire(Some(key));
            if i % 5 == 0 {
                // Cancelled after a short while, maybe while queued, maybe just as granted.
                let _ = tokio::time::timeout(Duration::from_micros(300 + i), acquire).await;
            } else if let Ok(p) = acquire.await {
                tokio::task::yield_now().await;
                drop(p);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let s = stats(&l);
    assert_eq!((s.in_flight, s.queued), (0, 0));
    assert!(
        s.max_in_flight <= 9,
        "3 keys × max_count 3: {}",
        s.max_in_flight
    );
    assert_eq!(l.shared.table.named_keys(), 0);
}

#[tokio::test]
async fn a_slot_handed_to_a_waiter_that_just_left_is_not_lost() {
    let l = limiter(&[("max_count", "1")]);
    let held = l.acquire(Some("k")).await.unwrap();
    // A waiter whose receiver is gone (its call was dropped) while it still sits in the queue:
    // the slot released next is handed to it, the send fails, and the slot must come back.
    let (_key, rx) = l
        .shared
        .table
        .with_name(Some("k"), |st| st.enqueue(u64::MAX));
    l.shared.counters.queued.fetch_add(1, Relaxed);
    drop(rx);
    drop(held);
    assert_eq!(stats(&l).in_flight, 0);
    assert!(l.try_acquire_now(Some("k")).is_some());
}

#[tokio::test]
async fn a_calls_spare_slots_follow_the_hedge_rules_even_after_its_key_went_idle() {
    let l = limiter(&[("max_count", "2"), ("max_queue", "10")]);
    let first = l.acquire(Some("k")).await.unwrap();
    let spare = first.spare_slots().unwrap();
    // A free slot: taken at once.
    let hedge = spare.try_take().unwrap();
    // None free: no hedge, and nothing queued for it.
    assert!(spare.try_take().is_none());
    assert_eq!((stats(&l).in_flight, stats(&l).queued), (2, 0));
    drop(hedge);
    // A call waits for the key: a hedge does not jump ahead of it.
    let _other = l.acquire(Some("k")).await.unwrap();
    let mut waiter = acquire(&l, Some("k"));
    assert!(poll_once(&mut waiter).await.is_none());
    assert!(spare.try_take().is_none());
    drop((first, _other, waiter));
    // The key went idle and its state was dropped; the call's next hedge brings it back and
    // is counted against it.
    assert_eq!(l.shared.table.named_keys(), 0);
    let late = spare.try_take().unwrap();
    assert_eq!(l.key_stats(Some("k")).in_flight, 1);
    let other = l.acquire(Some("k")).await.unwrap();
    assert!(
        spare.try_take().is_none(),
        "max_count 2 across the hedge and a new call"
    );
    drop((late, other));
    assert_eq!((stats(&l).in_flight, l.shared.table.named_keys()), (0, 0));
}
