//! A forked child does not inherit the parent's pending calls, so it must not inherit their
//! limiter slots or their turns in an order key either: calls the parent had in flight at the
//! fork would hold them forever there (their tasks never run in the child).
//! (Its own test binary: forking while other tests' threads hold locks is asking for trouble.)

use std::time::Duration;

use tailrace::{Client, Request};
use tailrace_testbed::{Config as TestbedConfig, Testbed};

#[test]
fn a_forked_child_starts_with_free_slots_and_free_order_keys() {
    let tb = Testbed::start(TestbedConfig::default()).unwrap();
    let c = Client::builder()
        .hosts([tb.url()])
        .max_count(1)
        .max_queue(0)
        .build()
        .unwrap();
    // The parent's only slot and key "A" are held by a call in flight across the fork.
    let held = c.send(Request::get("/held?delay_ms=1500").order_key("A"));
    tb.wait_until(Duration::from_secs(5), |s| s.in_flight == 1)
        .expect("the parent's call holds the slot");
    assert_eq!(
        c.send_blocking(Request::get("/full")).unwrap_err().kind(),
        tailrace::ErrorKind::LimitQueueFull
    );

    // SAFETY: the child only runs tailrace code and then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(|| {
            let r = c
                .send_blocking(Request::get("/child").order_key("A"))
                .expect("the child's call gets a slot and key A's turn");
            assert_eq!(r.status(), 200);
            let s = c.stats();
            assert_eq!((s.in_flight, s.waiting_for_order), (0, 0));
        })
        .map_or(1, |_| 0);
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status), "child did not exit normally");
    assert_eq!(libc::WEXITSTATUS(status), 0, "the child's call failed");

    // The parent's books are its own: its call still holds the slot, then frees it.
    assert_eq!(c.stats().in_flight, 1);
    assert_eq!(
        tailrace::runtime::block_on(held).unwrap().unwrap().status(),
        200
    );
    assert_eq!(c.stats().in_flight, 0);
    assert_eq!(
        c.send_blocking(Request::get("/after")).unwrap().status(),
        200
    );
}
