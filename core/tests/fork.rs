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
