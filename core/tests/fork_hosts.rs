//! A forked child does not inherit the parent's attempts in flight: they never finish there (their
//! tasks belong to the parent's runtime), so counted in the child they would show in its stats
//! forever and make the p2c balancer avoid their host.
//! (Its own test binary: forking while other tests' threads hold locks is asking for trouble.)

use std::time::{Duration, Instant};

use tailrace::{Client, Request};
use tailrace_testbed::{Config as TestbedConfig, Testbed};

/// The client's count of attempts in flight at `url`.
fn in_flight(c: &Client, url: &str) -> u64 {
    c.stats()
        .hosts
        .iter()
        .find(|h| h.url == url)
        .unwrap_or_else(|| panic!("no stats for {url}"))
        .in_flight
}

/// Polls the client's count at `url` until it is `n`; false if it is not within 5 s.
fn wait_for_in_flight(c: &Client, url: &str, n: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while in_flight(c, url) != n {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

#[test]
fn a_forked_child_starts_with_no_attempts_in_flight_at_its_hosts() {
    let a = Testbed::start(TestbedConfig::default()).unwrap();
    let b = Testbed::start(TestbedConfig::default()).unwrap();
    let (a_url, b_url) = (a.url(), b.url());
    let c = Client::builder()
        .hosts([&a_url, &b_url])
        .set("balance", "p2c")
        .build()
        .unwrap();
    // The parent has an attempt in flight at host a across the fork (a full URL picks the host).
    let held = c.send(Request::get(format!("{a_url}/held?delay_ms=30000")));
    a.wait_until(Duration::from_secs(5), |s| s.in_flight == 1)
        .expect("the parent's attempt reached host a");
    assert_eq!(in_flight(&c, &a_url), 1);

    // SAFETY: the child only runs tailrace code and then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(|| {
            assert_eq!(
                in_flight(&c, &a_url),
                0,
                "the parent's attempt shows in the child"
            );
            // The child's calls to host a work.
            let r = c
                .send_blocking(Request::get(format!("{a_url}/child")))
                .expect("the child's call to host a");
            assert_eq!(r.status(), 200);
            // p2c: with one attempt of the child's own in flight at host b, every call goes to
            // host a (a host the child counted the parent's attempt against would tie with b).
            let _slow = c.send(Request::get(format!("{b_url}/slow?delay_ms=30000")));
            assert!(
                wait_for_in_flight(&c, &b_url, 1),
                "the child's attempt to b"
            );
            for _ in 0..10 {
                let r = c.send_blocking(Request::get("/p2c")).expect("a p2c call");
                assert_eq!(r.host(), a_url, "p2c avoided host a");
            }
            assert_eq!(in_flight(&c, &a_url), 0);
        })
        .map_or(1, |_| 0);
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status), "child did not exit normally");
    assert_eq!(libc::WEXITSTATUS(status), 0, "the child's checks failed");

    // The parent's count is its own: its attempt is still in flight, until it is cancelled.
    assert_eq!(in_flight(&c, &a_url), 1);
    drop(held);
    assert!(wait_for_in_flight(&c, &a_url, 0), "the cancelled attempt");
    let r = c
        .send_blocking(Request::get(format!("{a_url}/after")))
        .unwrap();
    assert_eq!(r.status(), 200);
}
