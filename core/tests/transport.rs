//! The transport against a real server on 127.0.0.1 (the testbed): protocols, TLS, deadlines,
//! body cap, bad input and cancel. Each failure must come back as its own clear error kind.

use std::time::{Duration, Instant};

use tailrace::{Client, ErrorKind, Request, Sent, TimeoutKind};
use tailrace_testbed::{Config as TestbedConfig, Testbed};

fn testbed() -> Testbed {
    Testbed::start(TestbedConfig::default()).expect("testbed starts")
}

fn client_for(tb: &Testbed) -> Client {
    Client::builder().hosts([tb.url()]).build().unwrap()
}

#[test]
fn get_over_http1_reuses_one_keep_alive_connection() {
    let tb = testbed();
    let c = client_for(&tb);
    for _ in 0..5 {
        let r = c.send_blocking(Request::get("/hello")).unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(&r.body()[..], b"ok");
        assert_eq!(r.version(), http::Version::HTTP_11);
        assert_eq!(r.headers()["x-testbed-proto"], "HTTP/1.1");
        assert_eq!(r.host(), tb.url());
        assert_eq!((r.attempts(), r.winner()), (1, 0));
        assert!(r.elapsed() > Duration::ZERO);
    }
    assert_eq!(
        tb.stats().connections,
        1,
        "sequential calls share one connection"
    );
}

#[test]
fn h2c_by_prior_knowledge() {
    let tb = testbed();
    let c = Client::builder()
        .hosts([tb.url()])
        .http2_prior_knowledge(true)
        .build()
        .unwrap();
    let r = c.send_blocking(Request::get("/h2")).unwrap();
    assert_eq!(r.version(), http::Version::HTTP_2);
    assert_eq!(r.headers()["x-testbed-proto"], "HTTP/2.0");
}

#[test]
fn tls_with_ca_file_negotiates_http2_by_alpn() {
    let tb = Testbed::start(TestbedConfig {
        tls: true,
        ..TestbedConfig::default()
    })
    .unwrap();
    let c = Client::builder()
        .hosts([tb.url()])
        .ca_file(tb.ca_file().unwrap())
        .build()
        .unwrap();
    let r = c.send_blocking(Request::get("/secure")).unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), http::Version::HTTP_2);
    let h1 = Client::builder()
        .hosts([tb.url()])
        .ca_file(tb.ca_file().unwrap())
        .set("http2", "never")
        .build()
        .unwrap();
    assert_eq!(
        h1.send_blocking(Request::get("/")).unwrap().version(),
        http::Version::HTTP_11
    );
}

#[test]
fn untrusted_certificate_fails_with_a_tls_error() {
    let tb = Testbed::start(TestbedConfig {
        tls: true,
        ..TestbedConfig::default()
    })
    .unwrap();
    let c = client_for(&tb);
    let e = c.send_blocking(Request::get("/")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    assert_eq!(e.sent_anything(), Sent::No);
    assert!(e.to_string().contains("certificate"), "{e}");
    assert_eq!(tb.stats().requests, 0);
}

#[test]
fn https_to_a_plain_http_server_says_so() {
    let tb = testbed(); // plain HTTP
    let url = tb.url().replace("http://", "https://");
    let c = Client::builder().build().unwrap();
    let e = c
        .send_blocking(Request::get(format!("{url}/")))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    assert_eq!(e.sent_anything(), Sent::No);
    assert!(e.to_string().contains("use an http:// URL"), "{e}");
}

#[test]
fn connection_refused_is_a_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = Client::builder().build().unwrap();
    let e = c
        .send_blocking(Request::get(format!("http://127.0.0.1:{port}/")))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    assert_eq!(e.sent_anything(), Sent::No);
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    assert_eq!(c.stats().errors["connect"], 1);
}

#[test]
fn connect_timeout_covers_the_tls_handshake() {
    // A server that accepts TCP and never speaks: the TLS handshake hangs.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let c = Client::builder()
        .connect_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let t = Instant::now();
    let e = c
        .send_blocking(Request::get(format!("https://127.0.0.1:{port}/")))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert_eq!(e.timeout_kind(), Some(TimeoutKind::Connect));
    assert!(e.to_string().contains("connect_timeout_ms"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5));
    drop(silent);
}

#[test]
fn a_deadline_under_a_millisecond_is_a_deadline_not_none() {
    let tb = testbed();
    let c = Client::builder()
        .hosts([tb.url()])
        .timeout(Duration::from_micros(500))
        .build()
        .unwrap();
    let e = c
        .send_blocking(Request::get("/slow?delay_ms=2000"))
        .unwrap_err();
    assert_eq!(e.timeout_kind(), Some(TimeoutKind::Call), "{e}");
}

#[test]
fn attempt_and_call_timeouts_are_named() {
    let tb = testbed();
    let c = Client::builder()
        .hosts([tb.url()])
        .attempt_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let e = c
        .send_blocking(Request::get("/slow?delay_ms=2000"))
        .unwrap_err();
    assert_eq!(e.timeout_kind(), Some(TimeoutKind::Attempt), "{e}");

    // Below 20 ms the attempt timeout runs on tailrace's precise timer, not tokio's: it still
    // ends a slow attempt, never early.
    let c = Client::builder()
        .hosts([tb.url()])
        .attempt_timeout(Duration::from_millis(5))
        .build()
        .unwrap();
    let t = Instant::now();
    let e = c
        .send_blocking(Request::get("/slow?delay_ms=2000"))
        .unwrap_err();
    assert_eq!(e.timeout_kind(), Some(TimeoutKind::Attempt), "{e}");
    assert!(t.elapsed() >= Duration::from_millis(5));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());

    let c = Client::builder()
        .hosts([tb.url()])
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let e = c
        .send_blocking(Request::get("/slow?delay_ms=2000"))
        .unwrap_err();
    assert_eq!(e.timeout_kind(), Some(TimeoutKind::Call), "{e}");
    assert!(e.to_string().contains("timeout_ms"), "{e}");

    // A per-call deadline overrides the client's.
    let c = client_for(&tb);
    let e = c
        .send_blocking(Request::get("/slow?delay_ms=2000").timeout(Duration::from_millis(50)))
        .unwrap_err();
    assert_eq!(e.timeout_kind(), Some(TimeoutKind::Call));
    // The server saw the abandoned requests go away.
    tb.wait_until(Duration::from_secs(5), |s| s.in_flight == 0)
        .expect("in_flight back to 0");
}

#[test]
fn body_over_the_cap_fails_by_content_length() {
    let tb = testbed();
    let c = Client::builder()
        .hosts([tb.url()])
        .max_response_bytes(1000)
        .build()
        .unwrap();
    let e = c
        .send_blocking(Request::get("/big?body_bytes=5000"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ResponseTooLarge, "{e}");
    assert_eq!(e.sent_anything(), Sent::Yes);
    assert!(e.to_string().contains("max_response_bytes"), "{e}");
    let ok = c
        .send_blocking(Request::get("/fits?body_bytes=1000"))
        .unwrap();
    assert_eq!(ok.body().len(), 1000);
}

#[test]
fn body_cap_is_enforced_while_streaming() {
    // A 1 GB chunked body, no content-length: only a streaming check can stop it early.
    let tb = testbed();
    let c = Client::builder()
        .hosts([tb.url()])
        .max_response_bytes(1 << 20)
        .build()
        .unwrap();
    let t = Instant::now();
    let e = c
        .send_blocking(Request::get("/huge?body_bytes=1000000000&chunked=1"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ResponseTooLarge, "{e}");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "stopped reading early"
    );
    tb.wait_until(Duration::from_secs(5), |s| s.in_flight == 0)
        .expect("server stopped sending");
}

#[test]
fn server_closing_mid_body_is_a_protocol_error() {
    let tb = testbed();
    let c = client_for(&tb);
    let e = c
        .send_blocking(Request::get("/cut?close_mid_body=1&body_bytes=100000"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert!(e.to_string().contains("body"), "{e}");
}

#[test]
fn redirects_are_not_followed() {
    let tb = testbed();
    let c = client_for(&tb);
    let r = c
        .send_blocking(Request::get("/r?status=302&location=/elsewhere"))
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "/elsewhere");
    assert_eq!(tb.stats().requests, 1);
}

#[test]
fn headers_and_body_reach_the_server() {
    let tb = testbed();
    let c = client_for(&tb);
    let r = c
        .send_blocking(
            Request::post("/__echo")
                .header("x-custom", "v1")
                .typed_header(
                    http::HeaderName::from_static("x-typed"),
                    http::HeaderValue::from(42u64),
                )
                .header("content-type", "text/plain")
                .body("hello body"),
        )
        .unwrap();
    let echo: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body"], "hello body");
    assert_eq!(echo["headers"]["x-custom"], "v1");
    assert_eq!(echo["headers"]["x-typed"], "42");
    // Attempt numbers are for hedging clients only.
    assert!(echo["headers"].get("x-tailrace-attempt").is_none());
    assert!(echo["headers"]["user-agent"]
        .as_str()
        .unwrap()
        .starts_with("tailrace/"));
}

#[test]
fn bad_input_gets_its_own_error_and_sends_nothing() {
    let tb = testbed();
    let c = client_for(&tb);
    let e = c
        .send_blocking(Request::get("/x").header("x-a", "1\r\nx-b: 2"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    assert!(e.to_string().contains("x-a"), "{e}");
    let e = c
        .send_blocking(Request::get("http://exa mple/"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    let e = c
        .send_blocking(Request::new("BAD METHOD", "/"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    let e = Client::builder()
        .set("no_such_option", "1")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidOption);
    assert!(e.to_string().contains("no_such_option"));
    let e = Client::builder()
        .set("ca_file", "/nonexistent/ca.pem")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("ca_file"), "{e}");
    let e = Client::builder()
        .build()
        .unwrap()
        .send_blocking(Request::get("/rel"))
        .unwrap_err();
    assert!(e.to_string().contains("hosts"), "{e}");
    assert_eq!(tb.stats().requests, 0);
}

#[test]
fn stats_count_calls_attempts_errors_and_latency() {
    let tb = testbed();
    let c = client_for(&tb);
    for _ in 0..20 {
        c.send_blocking(Request::get("/s?delay_ms=2")).unwrap();
    }
    let _ = c.send_blocking(Request::get("/s?delay_ms=1000").timeout(Duration::from_millis(20)));
    let s = c.stats();
    assert_eq!(s.calls, 21);
    assert_eq!(s.attempts, 21);
    assert_eq!(s.errors["timeout"], 1);
    assert_eq!(s.latency_us.count, 21);
    assert!(s.latency_us.p50 >= 2000, "{:?}", s.latency_us);
    assert_eq!(s.in_flight, 0);
    assert_eq!(s.hosts.len(), 1);
    assert_eq!(s.hosts[0].url, tb.url());
    assert_eq!(s.hosts[0].attempts, 21);
    assert_eq!(s.hosts[0].in_flight, 0);
}

#[test]
fn in_flight_per_host_while_calls_wait() {
    let tb = testbed();
    let c = client_for(&tb);
    let calls: Vec<_> = (0..4)
        .map(|_| c.send(Request::get("/w?delay_ms=300")))
        .collect();
    tb.wait_until(Duration::from_secs(5), |s| s.in_flight == 4)
        .expect("4 at the server");
    assert_eq!(c.stats().hosts[0].in_flight, 4);
    assert_eq!(c.stats().in_flight, 4);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for call in calls {
        assert_eq!(rt.block_on(call).unwrap().status(), 200);
    }
    assert_eq!(c.stats().hosts[0].in_flight, 0);
}

#[test]
fn dropping_a_call_cancels_it_at_the_server() {
    let tb = testbed();
    let c = client_for(&tb);
    let call = c.send(Request::get("/c?delay_ms=5000").header("x-key", "cancel-me"));
    tb.wait_until(Duration::from_secs(5), |s| s.in_flight == 1)
        .expect("started");
    drop(call);
    let s = tb
        .wait_until(Duration::from_secs(5), |s| {
            s.count_events("cancel") == 1 && s.in_flight == 0
        })
        .expect("server logged the cancel");
    assert_eq!(s.in_flight, 0);
    let cs = c.stats();
    assert_eq!(cs.errors["cancelled"], 1);
    assert_eq!(cs.in_flight, 0);
}

#[test]
fn close_fails_pending_calls_and_refuses_new_ones() {
    let tb = testbed();
    let c = client_for(&tb);
    let pending = c.send(Request::get("/p?delay_ms=5000"));
    tb.wait_until(Duration::from_secs(5), |s| s.in_flight == 1)
        .expect("started");
    c.close();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = rt.block_on(pending).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ClientClosed);
    // It was at the server when the client closed.
    assert_eq!(e.sent_anything(), Sent::Maybe);
    let e = c.send_blocking(Request::get("/")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ClientClosed);
    assert_eq!(e.sent_anything(), Sent::No);
    assert!(c.is_closed());
}

#[test]
fn blocking_call_on_a_runtime_thread_returns_would_deadlock() {
    let tb = testbed();
    let c = client_for(&tb);
    let c2 = c.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // From inside a call's own task (a runtime thread), as a C callback would be.
    let inner = rt.block_on(async move {
        let handle = tailrace::runtime::handle();
        handle
            .spawn(async move { c2.send_blocking(Request::get("/")).map(|_| ()) })
            .await
            .unwrap()
    });
    assert_eq!(inner.unwrap_err().kind(), ErrorKind::WouldDeadlock);
    // From another runtime's thread it works (that thread just waits).
    let r = rt.block_on(async move { c.send_blocking(Request::get("/")) });
    assert_eq!(r.unwrap().status(), 200);
}

#[test]
fn async_send_from_a_foreign_runtime_runs_on_the_shared_one() {
    let tb = testbed();
    let c = client_for(&tb);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let statuses = rt.block_on(async {
        let calls: Vec<_> = (0..50).map(|_| c.send(Request::get("/f"))).collect();
        let mut out = Vec::new();
        for call in calls {
            out.push(call.await.unwrap().status());
        }
        out
    });
    assert!(statuses.iter().all(|s| *s == 200));
}

#[test]
fn send_from_a_task_on_the_shared_runtime_runs_inline_and_still_cancels() {
    // On tailrace's own threads `send` runs the call inside the caller's task (no spawn); the
    // call must behave the same: answers, deadlines, and a drop that cancels at the server.
    let tb = testbed();
    let c = client_for(&tb);
    let handle = tailrace::runtime::handle();
    let c2 = c.clone();
    let (statuses, timeout) = handle
        .block_on(handle.spawn(async move {
            assert!(tailrace::runtime::on_runtime_thread());
            let calls: Vec<_> = (0..20).map(|_| c2.send(Request::get("/inline"))).collect();
            let mut statuses = Vec::new();
            for call in calls {
                statuses.push(call.await.unwrap().status());
            }
            let timeout = c2
                .send(Request::get("/slow?delay_ms=5000").timeout(Duration::from_millis(50)))
                .await
                .unwrap_err();
            (statuses, timeout)
        }))
        .unwrap();
    assert!(statuses.iter().all(|s| *s == 200));
    assert_eq!(timeout.kind(), ErrorKind::Timeout);
    assert_eq!(timeout.timeout_kind(), Some(TimeoutKind::Call));

    let c3 = c.clone();
    let task = handle.spawn(async move {
        let _ = c3
            .send(Request::get("/held?delay_ms=5000").header("x-key", "inline"))
            .await;
    });
    tb.wait_until(Duration::from_secs(5), |s| {
        s.events_for_key("inline").count() == 1
    })
    .expect("started");
    task.abort();
    let s = tb
        .wait_until(Duration::from_secs(5), |s| {
            s.in_flight == 0 && s.events_for_key("inline").any(|e| e.event == "cancel")
        })
        .expect("the aborted task's call was cancelled at the server");
    assert_eq!(s.in_flight, 0);
    tb.wait_until(Duration::from_secs(5), |_| c.stats().in_flight == 0)
        .expect("the client counts it as ended");
    assert_eq!(c.stats().errors["cancelled"], 1);
}

#[test]
fn many_threads_share_one_client() {
    let tb = testbed();
    let c = client_for(&tb);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let c = c.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    assert_eq!(c.send_blocking(Request::get("/t")).unwrap().status(), 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(c.stats().calls, 400);
    assert_eq!(tb.stats().requests, 400);
}

#[test]
fn a_parsed_uri_is_sent_like_the_same_url_as_text() {
    let tb = testbed();
    let c = Client::builder().build().unwrap();
    let uri: http::Uri = format!("{}/hello?x=1", tb.url()).parse().unwrap();
    for req in [Request::get(&uri), Request::get(uri.to_string())] {
        let r = c.send_blocking(req).unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(&r.body()[..], b"ok");
        assert_eq!(r.host(), tb.url());
    }
    assert_eq!(
        c.stats().hosts.len(),
        1,
        "one host, whichever form named it"
    );
}

#[test]
fn spawn_then_hands_the_outcome_over_once_also_when_aborted() {
    use std::sync::mpsc;
    let tb = testbed();
    let c = Client::builder()
        .hosts([tb.url()])
        .max_count(1)
        .build()
        .unwrap();
    let (tx, rx) = mpsc::channel();

    let done = tx.clone();
    c.spawn_then(Request::get("/x?body_bytes=3"), move |r| {
        done.send(r).unwrap()
    })
    .unwrap();
    let r = rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!((r.status().as_u16(), r.body().len()), (200, 3));

    // Aborted while it holds the only slot: `then` hears `Cancelled`, and the slot is free again.
    let done = tx.clone();
    let abort = c
        .spawn_then(Request::get("/slow?delay_ms=20000"), move |r| {
            done.send(r).unwrap()
        })
        .unwrap();
    while c.stats().in_flight == 0 {
        std::thread::sleep(Duration::from_millis(2));
    }
    abort.abort();
    let e = rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    let started = Instant::now();
    let r = c.send_blocking(Request::get("/after")).unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the slot was released"
    );

    // Refused at submission: the error comes back at once and `then` is never called.
    let done = tx.clone();
    let refused = c.spawn_then(Request::get("ftp://x/"), move |r| done.send(r).unwrap());
    assert_eq!(refused.unwrap_err().kind(), ErrorKind::InvalidRequest);
    drop(tx);
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
}
