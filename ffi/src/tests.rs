//! Rust tests of the extern functions, called as C calls them (the C suite in tests/c/ covers
//! the same ground from C, under AddressSanitizer and valgrind).

use std::ffi::{c_char, CStr, CString};
use std::ptr::{null, null_mut};
use std::time::Duration;

use tailrace_core::ErrorKind;
use tailrace_testbed::{Config as TestbedConfig, Testbed};

use crate::result::tailrace_result::{self, *};
use crate::*;

pub(crate) fn cs(s: &str) -> CString {
    CString::new(s).unwrap()
}

pub(crate) fn text(p: *const c_char) -> String {
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

pub(crate) fn client_for(tb: &Testbed, options: &[(&str, &str)]) -> *mut tailrace_client {
    unsafe {
        let mut cfg = null_mut();
        assert_eq!(tailrace_config_new(&mut cfg), TAILRACE_OK);
        let url = tb.url();
        let all = [("hosts", url.as_str())]
            .into_iter()
            .chain(options.iter().copied());
        for (k, v) in all {
            let rc = tailrace_config_set(cfg, cs(k).as_ptr(), cs(v).as_ptr(), null_mut(), 0);
            assert_eq!(
                rc,
                TAILRACE_OK,
                "{k}={v}: {}",
                text(tailrace_last_error_message())
            );
        }
        let mut client = null_mut();
        assert_eq!(tailrace_client_new(cfg, &mut client), TAILRACE_OK);
        tailrace_config_free(cfg);
        client
    }
}

pub(crate) fn request(path: &str) -> *mut tailrace_request {
    let mut req = null_mut();
    let rc = unsafe { tailrace_request_new(cs("GET").as_ptr(), cs(path).as_ptr(), &mut req) };
    assert_eq!(rc, TAILRACE_OK);
    req
}

pub(crate) fn wait_one(q: *const tailrace_queue) -> tailrace_event {
    let mut ev = std::mem::MaybeUninit::<tailrace_event>::uninit();
    let mut n = 0;
    let rc = unsafe { tailrace_queue_wait(q, 10_000, ev.as_mut_ptr(), 1, &mut n) };
    assert_eq!((rc, n), (TAILRACE_OK, 1));
    unsafe { ev.assume_init() }
}

#[test]
fn every_kind_has_its_own_code_and_name() {
    let mut seen = std::collections::HashSet::new();
    for kind in ErrorKind::ALL {
        let code = tailrace_result::from_kind(kind);
        assert!(seen.insert(code as i32), "{kind:?} shares code {code:?}");
        assert_eq!(text(tailrace_result_name(code as i32)), kind.as_str());
    }
    for code in tailrace_result::ALL {
        assert!(!text(tailrace_strerror(code as i32)).is_empty());
    }
    assert_eq!(text(tailrace_strerror(-7)), "unknown result code");
    assert_eq!(text(tailrace_result_name(9999)), "unknown");
}

#[test]
fn version_macros_match_the_crate() {
    assert_eq!(
        format!("{TAILRACE_VERSION_MAJOR}.{TAILRACE_VERSION_MINOR}.{TAILRACE_VERSION_PATCH}"),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(text(tailrace_version()), env!("CARGO_PKG_VERSION"));
}

#[test]
fn unknown_option_names_it_in_errbuf() {
    unsafe {
        let mut cfg = null_mut();
        tailrace_config_new(&mut cfg);
        let mut buf = [0 as c_char; 16];
        let rc = tailrace_config_set(
            cfg,
            cs("max_cuont").as_ptr(),
            cs("1").as_ptr(),
            buf.as_mut_ptr(),
            16,
        );
        assert_eq!(rc, TAILRACE_E_INVALID_OPTION);
        assert_eq!(text(buf.as_ptr()), "option `max_cuo"); // truncated, NUL-terminated
        assert!(text(tailrace_last_error_message()).contains("max_cuont"));
        let bad = [0xffu8, 0];
        let rc = tailrace_config_set(cfg, bad.as_ptr().cast(), cs("1").as_ptr(), null_mut(), 0);
        assert_eq!(rc, TAILRACE_E_INVALID_UTF8);
        assert_eq!(
            tailrace_config_set(null_mut(), null(), null(), null_mut(), 0),
            TAILRACE_E_NULL_ARGUMENT
        );
        tailrace_config_free(cfg);
        tailrace_config_free(null_mut());
    }
}

#[test]
fn queue_call_succeeds_with_its_id_and_response_details() {
    let tb = Testbed::start(TestbedConfig::default()).unwrap();
    let client = client_for(&tb, &[]);
    unsafe {
        let mut q = null_mut();
        assert_eq!(tailrace_queue_new(&mut q), TAILRACE_OK);
        assert_eq!(
            tailrace_send(client, request("/x?body_bytes=5"), q, 42),
            TAILRACE_OK
        );
        let ev = wait_one(q);
        assert_eq!((ev.id, ev.result), (42, TAILRACE_OK));
        assert!(ev.error.is_null());
        assert_eq!(tailrace_response_status(ev.response), 200);
        let (mut p, mut n) = (null(), 0);
        assert_eq!(
            tailrace_response_body(ev.response, &mut p, &mut n),
            TAILRACE_OK
        );
        assert_eq!(std::slice::from_raw_parts(p, n), b"xxxxx");
        assert_eq!(text(tailrace_response_host(ev.response)), tb.url());
        assert_eq!(tailrace_response_attempts(ev.response), 1);
        tailrace_response_free(ev.response);
        tailrace_queue_free(q);
        tailrace_client_free(client);
    }
}

#[test]
fn header_views_are_every_line_in_order() {
    let tb = Testbed::start(TestbedConfig::default()).unwrap();
    let client = client_for(&tb, &[]);
    unsafe {
        let mut q = null_mut();
        assert_eq!(tailrace_queue_new(&mut q), TAILRACE_OK);
        let req = request("/h?repeat_header=3&body_bytes=1");
        assert_eq!(tailrace_send(client, req, q, 1), TAILRACE_OK);
        let ev = wait_one(q);
        assert_eq!(ev.result, TAILRACE_OK);
        let mut count = 0;
        assert_eq!(
            tailrace_response_headers(ev.response, null_mut(), 0, &mut count),
            TAILRACE_OK
        );
        assert_eq!(count, tailrace_response_header_count(ev.response));
        let empty = tailrace_header {
            name: null(),
            name_len: 0,
            value: null(),
            value_len: 0,
        };
        let mut views = vec![empty; count];
        let mut filled = 0;
        assert_eq!(
            tailrace_response_headers(ev.response, views.as_mut_ptr(), count, &mut filled),
            TAILRACE_OK
        );
        assert_eq!(filled, count);
        let bytes = |p: *const u8, n: usize| std::slice::from_raw_parts(p, n).to_vec();
        let lines: Vec<(String, Vec<u8>)> = views
            .iter()
            .map(|h| {
                let name = String::from_utf8(bytes(h.name.cast(), h.name_len)).unwrap();
                (name, bytes(h.value, h.value_len))
            })
            .collect();
        let repeats: Vec<&[u8]> = lines
            .iter()
            .filter(|(n, _)| n == "x-repeat")
            .map(|(_, v)| v.as_slice())
            .collect();
        assert_eq!(
            repeats,
            [b"0", b"1", b"2"],
            "one name, three lines, in order"
        );
        assert!(
            lines.iter().all(|(n, _)| *n == n.to_lowercase()),
            "{lines:?}"
        );
        assert!(lines.contains(&("content-length".into(), b"1".to_vec())));
        tailrace_response_free(ev.response);
        tailrace_queue_free(q);
        tailrace_client_free(client);
    }
}

#[test]
fn cancel_reports_cancelled_and_the_testbed_sees_the_cancel() {
    let tb = Testbed::start(TestbedConfig::default()).unwrap();
    let client = client_for(&tb, &[]);
    unsafe {
        let mut q = null_mut();
        tailrace_queue_new(&mut q);
        assert_eq!(
            tailrace_send(client, request("/slow?delay_ms=20000"), q, 7),
            TAILRACE_OK
        );
        tb.wait_until(Duration::from_secs(10), |s| s.in_flight == 1)
            .expect("request started");
        assert_eq!(tailrace_cancel(client, 7), TAILRACE_OK);
        let ev = wait_one(q);
        assert_eq!((ev.id, ev.result), (7, TAILRACE_E_CANCELLED));
        assert_eq!(tailrace_error_code(ev.error), TAILRACE_E_CANCELLED);
        tailrace_error_free(ev.error);
        assert_eq!(tailrace_cancel(client, 7), TAILRACE_E_UNKNOWN_CALL);
        tb.wait_until(Duration::from_secs(10), |s| {
            s.in_flight == 0 && s.cancelled == 1
        })
        .expect("the testbed saw the request cancelled");
        tailrace_queue_free(q);
        tailrace_client_free(client);
    }
}

#[test]
fn refused_submission_returns_the_error_and_posts_no_event() {
    let tb = Testbed::start(TestbedConfig::default()).unwrap();
    let client = client_for(&tb, &[]);
    unsafe {
        let mut q = null_mut();
        tailrace_queue_new(&mut q);
        let req = request("ftp://127.0.0.1/x");
        assert_eq!(tailrace_send(client, req, q, 1), TAILRACE_E_INVALID_REQUEST);
        assert_eq!(
            tailrace_send(client, null_mut(), q, 1),
            TAILRACE_E_NULL_ARGUMENT
        );
        let mut ev = std::mem::MaybeUninit::<tailrace_event>::uninit();
        let mut n = 9;
        assert_eq!(
            tailrace_queue_wait(q, 0, ev.as_mut_ptr(), 1, &mut n),
            TAILRACE_OK
        );
        assert_eq!(n, 0);
        tailrace_queue_free(q);
        tailrace_client_free(client);
    }
}

/// A call the limiter turns away at submission: its event is in the queue when `tailrace_send`
/// returns (posted from the sending thread), while a callback still hears it on a runtime thread.
#[test]
fn a_limiter_rejection_is_posted_before_send_returns() {
    let tb = Testbed::start(TestbedConfig::default()).unwrap();
    let client = client_for(&tb, &[("max_count", "1"), ("max_queue", "0")]);
    unsafe extern "C" fn on_event(userdata: *mut std::ffi::c_void, event: *const tailrace_event) {
        let tx = &*(userdata as *const std::sync::mpsc::Sender<(i32, bool)>);
        let ev = &*event;
        tailrace_error_free(ev.error);
        let _ = tx.send((
            ev.result as i32,
            tailrace_core::runtime::on_runtime_thread(),
        ));
    }
    unsafe {
        let mut q = null_mut();
        tailrace_queue_new(&mut q);
        let holder = tailrace_send(client, request("/slow?delay_ms=20000"), q, 1);
        assert_eq!(holder, TAILRACE_OK);
        tb.wait_until(Duration::from_secs(10), |s| s.in_flight == 1)
            .expect("the first call holds the slot");
        for id in 2..5 {
            assert_eq!(tailrace_send(client, request("/fast"), q, id), TAILRACE_OK);
            let mut ev = std::mem::MaybeUninit::<tailrace_event>::uninit();
            let mut n = 0;
            assert_eq!(
                tailrace_queue_wait(q, 0, ev.as_mut_ptr(), 1, &mut n),
                TAILRACE_OK
            );
            assert_eq!(n, 1, "call {id}: its rejection is already posted");
            let ev = ev.assume_init();
            assert_eq!((ev.id, ev.result), (id, TAILRACE_E_LIMIT_QUEUE_FULL));
            let msg = text(tailrace_error_message(ev.error));
            assert!(msg.contains("max_count"), "{msg}");
            tailrace_error_free(ev.error);
        }
        let (tx, rx) = std::sync::mpsc::channel::<(i32, bool)>();
        let rc = tailrace_send_cb(
            client,
            request("/fast"),
            9,
            Some(on_event),
            &tx as *const _ as *mut std::ffi::c_void,
        );
        assert_eq!(rc, TAILRACE_OK);
        let (code, on_runtime) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(code, TAILRACE_E_LIMIT_QUEUE_FULL as i32);
        assert!(on_runtime, "a callback runs on a runtime thread");
        // Counted like any call's end; the one that holds the slot is still in flight.
        let handle: &tailrace_client = &*client;
        let stats = handle.shared.client.stats();
        assert_eq!(stats.rejected_queue_full, 4, "{stats:?}");
        assert_eq!(stats.errors.get("limit_queue_full"), Some(&4), "{stats:?}");
        assert_eq!((stats.calls, stats.latency_us.count), (5, 4), "{stats:?}");
        assert_eq!(stats.in_flight, 1, "{stats:?}");
        assert_eq!(
            tb.stats().requests,
            1,
            "nothing was sent for the rejected calls"
        );
        assert_eq!(tailrace_cancel(client, 1), TAILRACE_OK);
        let ev = wait_one(q);
        assert_eq!((ev.id, ev.result), (1, TAILRACE_E_CANCELLED));
        tailrace_error_free(ev.error);
        tailrace_queue_free(q);
        tailrace_client_free(client);
    }
}

#[test]
fn a_panic_becomes_tailrace_e_panic_with_its_message() {
    let rc = crate::boundary::result(|| panic!("boom in a test"));
    assert_eq!(rc, TAILRACE_E_PANIC);
    assert!(text(tailrace_last_error_message()).contains("boom in a test"));
    assert_eq!(crate::boundary::value(7u16, || panic!("again")), 7);
}
