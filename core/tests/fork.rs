//! After `fork()` the child must not touch the parent's runtime or connections: a client created
//! (and used) before the fork keeps working in the child, on a fresh runtime and a fresh pool.

use tailrace::{Client, Request};
use tailrace_testbed::{Config as TestbedConfig, Testbed};

#[test]
fn client_created_before_fork_works_in_the_child() {
    let tb = Testbed::start(TestbedConfig::default()).unwrap();
    let c = Client::builder().hosts([tb.url()]).build().unwrap();
    // The parent has a runtime, a pooled keep-alive connection and a generation of 0.
    assert_eq!(
        c.send_blocking(Request::get("/parent")).unwrap().status(),
        200
    );
    let parent_generation = tailrace::runtime::generation();

    // SAFETY: the child only runs tailrace code and then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(|| {
            assert_eq!(tailrace::runtime::generation(), parent_generation + 1);
            for _ in 0..3 {
                let r = c.send_blocking(Request::get("/child")).expect("child call");
                assert_eq!(r.status(), 200);
            }
            // A client made in the child works too.
            let fresh = Client::builder().hosts([tb.url()]).build().unwrap();
            assert_eq!(
                fresh
                    .send_blocking(Request::get("/child-new"))
                    .unwrap()
                    .status(),
                200
            );
        })
        .map_or(1, |_| 0);
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status), "child did not exit normally");
    assert_eq!(libc::WEXITSTATUS(status), 0, "child's calls failed");

    // The parent's runtime and pool are untouched.
    assert_eq!(
        c.send_blocking(Request::get("/parent-again"))
            .unwrap()
            .status(),
        200
    );
    let s = tb.stats();
    assert_eq!(s.requests, 6);
    // The child used its own connections: parent 1, child client 1, child's fresh client 1.
    assert!(s.connections >= 3, "connections: {}", s.connections);
}

#[test]
fn hedge_delays_fire_in_a_forked_child() {
    // Delays under 20 ms run on tailrace's own timer thread, one per fork generation: the
    // parent's does not exist in the child, so a child reusing it would never hedge.
    let slow = Testbed::start(TestbedConfig {
        latency: "fixed:2000000".parse().unwrap(),
        ..TestbedConfig::default()
    })
    .unwrap();
    let fast = Testbed::start(TestbedConfig::default()).unwrap();
    let c = Client::builder()
        .hosts([slow.url(), fast.url()])
        .concurrent_calls(2)
        .hedge_delay(std::time::Duration::from_millis(5))
        .build()
        .unwrap();
    let hedged = |c: &Client| {
        let r = c.send_blocking(Request::get("/h")).expect("call");
        (r.attempts(), r.host().to_string())
    };
    assert_eq!(hedged(&c), (2, fast.url()), "parent");

    // SAFETY: the child only runs tailrace code and then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(|| {
            let t = std::time::Instant::now();
            assert_eq!(hedged(&c), (2, fast.url()), "child");
            assert!(t.elapsed() < std::time::Duration::from_secs(1));
        })
        .map_or(1, |_| 0);
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status), "child did not exit normally");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "the child's call did not hedge"
    );
    assert_eq!(hedged(&c), (2, fast.url()), "parent after the fork");
}
