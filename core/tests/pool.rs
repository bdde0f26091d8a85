//! The connection pool against real servers on 127.0.0.1: which connections are reused, which
//! are closed and when, and how attempts share one HTTP/2 connection (also while it is made).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tailrace::{Client, ClientBuilder, ErrorKind, Request, TimeoutKind};
use tailrace_testbed::{Config as TestbedConfig, Testbed};

const WAIT: Duration = Duration::from_secs(10);

fn testbed() -> Testbed {
    Testbed::start(TestbedConfig::default()).expect("testbed starts")
}

/// Await calls from a test thread.
fn finish<F: std::future::Future>(calls: Vec<F>) -> Vec<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    calls.into_iter().map(|c| rt.block_on(c)).collect()
}

#[test]
fn a_connection_the_server_closes_after_answering_is_not_used_again() {
    let tb = testbed();
    let c = Client::builder().hosts([tb.url()]).build().unwrap();
    for _ in 0..5 {
        let r = c.send_blocking(Request::get("/bye?close=1")).unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["connection"], "close");
    }
    assert_eq!(tb.stats().connections, 5, "one connection per call");
    // And one the server keeps is used again.
    for _ in 0..3 {
        c.send_blocking(Request::get("/stay")).unwrap();
    }
    assert_eq!(tb.stats().connections, 6);
}

/// A keep-alive HTTP/1.1 server that answers one request per connection and then closes it
/// without saying so (as servers do when their idle timeout ends a connection). Counts the
/// connections it accepted and keeps the request heads it read.
fn one_request_per_connection_server() -> (u16, Arc<AtomicU64>, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicU64::new(0));
    let heads = Arc::new(Mutex::new(Vec::new()));
    let (counter, seen) = (accepted.clone(), heads.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            counter.fetch_add(1, SeqCst);
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match stream.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head).into_owned());
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok",
            );
            // Dropped: closed, with no `connection: close` beforehand.
        }
    });
    (port, accepted, heads)
}

#[test]
fn a_connection_the_server_closed_while_idle_is_replaced() {
    let (port, accepted, heads) = one_request_per_connection_server();
    let c = Client::builder().build().unwrap();
    let url = format!("http://127.0.0.1:{port}/x?y=1");
    for round in 1..=3 {
        let r = c.send_blocking(Request::get(&url)).unwrap();
        assert_eq!(&r.body()[..], b"ok");
        assert_eq!(accepted.load(SeqCst), round);
        // Long enough for the client to see the server's close on the idle connection.
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(c.stats().errors.values().sum::<u64>(), 0);
    // The request line has the path only (origin form); the authority goes in Host.
    for head in heads.lock().unwrap().iter() {
        assert!(head.starts_with("GET /x?y=1 HTTP/1.1\r\n"), "{head}");
        let host = format!("host: 127.0.0.1:{port}\r\n");
        assert!(head.to_ascii_lowercase().contains(&host), "{head}");
    }
}

#[test]
fn idle_connections_close_after_the_idle_timeout() {
    let tb = testbed();
    let c = Client::builder()
        .hosts([tb.url()])
        .set("pool_idle_timeout_ms", "300")
        .build()
        .unwrap();
    let done = Instant::now();
    c.send_blocking(Request::get("/")).unwrap();
    assert_eq!(tb.stats().open_connections, 1);
    tb.wait_until(WAIT, |s| s.open_connections == 0)
        .expect("the idle connection is closed");
    assert!(
        done.elapsed() >= Duration::from_millis(300),
        "closed after {:?}, before the idle timeout",
        done.elapsed()
    );
    // The next call makes a new one.
    c.send_blocking(Request::get("/")).unwrap();
    assert_eq!(tb.stats().connections, 2);
}

#[test]
fn without_an_idle_timeout_idle_connections_stay_open() {
    let tb = testbed();
    let c = Client::builder()
        .hosts([tb.url()])
        .set("pool_idle_timeout_ms", "0")
        .build()
        .unwrap();
    c.send_blocking(Request::get("/")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    c.send_blocking(Request::get("/")).unwrap();
    let s = tb.stats();
    assert_eq!((s.connections, s.open_connections), (1, 1));
}

#[test]
fn at_most_pool_max_idle_per_host_connections_stay_idle() {
    let tb = testbed();
    let c = Client::builder()
        .hosts([tb.url()])
        .set("pool_max_idle_per_host", "2")
        .build()
        .unwrap();
    let calls: Vec<_> = (0..6)
        .map(|_| c.send(Request::get("/?delay_ms=200")))
        .collect();
    tb.wait_until(WAIT, |s| s.in_flight == 6)
        .expect("6 at once, 6 connections");
    for r in finish(calls) {
        assert_eq!(r.unwrap().status(), 200);
    }
    tb.wait_until(WAIT, |s| s.open_connections == 2)
        .expect("all but 2 closed");
    for _ in 0..4 {
        c.send_blocking(Request::get("/")).unwrap();
    }
    assert_eq!(tb.stats().connections, 6, "the 2 kept are used again");
}

#[test]
fn with_pool_max_idle_per_host_0_no_connection_is_used_twice() {
    let tb = testbed();
    let c = Client::builder()
        .hosts([tb.url()])
        .set("pool_max_idle_per_host", "0")
        .build()
        .unwrap();
    for _ in 0..3 {
        c.send_blocking(Request::get("/")).unwrap();
    }
    assert_eq!(tb.stats().connections, 3);
}

/// A TLS testbed (it offers h2 by ALPN) and a client that trusts it.
fn tls_testbed_and_client(http2_prior_knowledge: bool) -> (Testbed, Client) {
    let tb = Testbed::start(TestbedConfig {
        tls: true,
        ..TestbedConfig::default()
    })
    .unwrap();
    let c = Client::builder()
        .hosts([tb.url()])
        .ca_file(tb.ca_file().unwrap())
        .http2_prior_knowledge(http2_prior_knowledge)
        .build()
        .unwrap();
    (tb, c)
}

#[test]
fn http2_calls_share_one_connection_even_when_they_start_together() {
    // Over TLS, so the connection takes a handshake's time to make: the other calls arrive
    // while it is being made, and wait for it.
    let (tb, c) = tls_testbed_and_client(true);
    let calls: Vec<_> = (0..50)
        .map(|i| c.send(Request::get(format!("/together?i={i}"))))
        .collect();
    for r in finish(calls) {
        assert_eq!(r.unwrap().version(), http::Version::HTTP_2);
    }
    let s = tb.stats();
    assert_eq!((s.requests, s.connections), (50, 1));
}

#[test]
fn after_alpn_chose_http2_calls_share_its_connection() {
    let (tb, c) = tls_testbed_and_client(false);
    assert_eq!(
        c.send_blocking(Request::get("/first")).unwrap().version(),
        http::Version::HTTP_2
    );
    let calls: Vec<_> = (0..30)
        .map(|_| c.send(Request::get("/then?delay_ms=20")))
        .collect();
    for r in finish(calls) {
        assert_eq!(r.unwrap().version(), http::Version::HTTP_2);
    }
    assert_eq!(tb.stats().connections, 1);
}

/// Accepts TCP connections and never says a word (a TLS handshake there hangs); counts them.
fn silent_server() -> (u16, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicU64::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            counter.fetch_add(1, SeqCst);
            open.push(stream);
        }
    });
    (port, accepted)
}

#[test]
fn attempts_waiting_for_an_http2_connection_share_its_failure() {
    let (port, accepted) = silent_server();
    let c = Client::builder()
        .http2_prior_knowledge(true)
        .connect_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let url = format!("https://127.0.0.1:{port}/");
    let calls: Vec<_> = (0..10).map(|_| c.send(Request::get(&url))).collect();
    for r in finish(calls) {
        let e = r.unwrap_err();
        assert_eq!(e.timeout_kind(), Some(TimeoutKind::Connect), "{e}");
    }
    // One connect for all ten: they did not each wait out a connect timeout in turn.
    assert_eq!(accepted.load(SeqCst), 1);
    // A later call tries again.
    let e = c.send_blocking(Request::get(&url)).unwrap_err();
    assert_eq!(e.timeout_kind(), Some(TimeoutKind::Connect), "{e}");
    assert_eq!(accepted.load(SeqCst), 2);
}

#[test]
fn a_cancelled_http2_connect_lets_a_waiting_attempt_make_its_own() {
    let (port, accepted) = silent_server();
    let c = Client::builder()
        .http2_prior_knowledge(true)
        .connect_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let url = format!("https://127.0.0.1:{port}/");
    let first = c.send(Request::get(&url));
    let deadline = Instant::now() + WAIT;
    while accepted.load(SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the first connect never arrived");
        std::thread::sleep(Duration::from_millis(2));
    }
    let second = c.send(Request::get(&url));
    drop(first);
    let e = finish(vec![second]).pop().unwrap().unwrap_err();
    assert_eq!(e.timeout_kind(), Some(TimeoutKind::Connect), "{e}");
    assert_eq!(accepted.load(SeqCst), 2);
}

#[test]
fn a_refused_http2_connect_fails_every_waiting_attempt_as_connect() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = Client::builder()
        .http2_prior_knowledge(true)
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/");
    let calls: Vec<_> = (0..10).map(|_| c.send(Request::get(&url))).collect();
    for r in finish(calls) {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
        assert!(e.to_string().contains("nothing is listening"), "{e}");
    }
}

#[test]
fn http1_requests_carry_the_path_and_a_host_header_unless_the_caller_set_one() {
    let tb = testbed();
    let c = Client::builder().hosts([tb.url()]).build().unwrap();
    let echo = |req: Request| -> serde_json::Value {
        serde_json::from_slice(c.send_blocking(req).unwrap().body()).unwrap()
    };
    let e = echo(Request::get("/__echo?a=1"));
    assert_eq!(e["headers"]["host"], format!("127.0.0.1:{}", tb.port()));
    assert_eq!(
        (e["path"].as_str(), e["query"].as_str()),
        (Some("/__echo"), Some("a=1"))
    );
    let e = echo(Request::get("/__echo").header("host", "example.test"));
    assert_eq!(e["headers"]["host"], "example.test");
    // A full URL is sent the same way: its path in the request line, its authority as Host.
    let e = echo(Request::get(format!("{}/__echo", tb.url())));
    assert_eq!(e["headers"]["host"], format!("127.0.0.1:{}", tb.port()));
}

#[test]
fn after_the_server_restarts_calls_go_on_new_connections() {
    for h2 in [false, true] {
        let tb = testbed();
        let port = tb.port();
        let c = Client::builder()
            .hosts([tb.url()])
            .http2_prior_knowledge(h2)
            .build()
            .unwrap();
        c.send_blocking(Request::get("/before")).unwrap();
        // The old server closes its connections as it stops; the new one listens on the port.
        drop(tb);
        let tb = Testbed::start(TestbedConfig {
            port,
            ..TestbedConfig::default()
        })
        .unwrap();
        // Time for the client to read the close of its idle connection (a request written to a
        // connection at the very moment the server closes it fails: it may have been sent).
        std::thread::sleep(Duration::from_millis(100));
        let r = c.send_blocking(Request::get("/after")).unwrap();
        assert_eq!(r.status(), 200, "h2={h2}");
        let s = tb.stats();
        assert_eq!((s.requests, s.connections), (1, 1), "h2={h2}");
    }
}

/// A TLS testbed that answers one handshake only (every later connect hangs), and an HTTP/1.1
/// client of it, finished by `more`.
fn one_handshake_testbed(more: impl FnOnce(ClientBuilder) -> ClientBuilder) -> (Testbed, Client) {
    let tb = Testbed::start(TestbedConfig {
        tls: true,
        tls_handshakes: Some(1),
        ..TestbedConfig::default()
    })
    .unwrap();
    let b = Client::builder()
        .hosts([tb.url()])
        .ca_file(tb.ca_file().unwrap())
        .set("http2", "never");
    let c = more(b).build().unwrap();
    (tb, c)
}

#[test]
fn a_burst_goes_on_connections_handed_back_while_its_own_connects_hang() {
    // The calls still all complete at once: each that waits for its connect takes the
    // connection an earlier call hands back.
    let (tb, c) = one_handshake_testbed(|b| b.connect_timeout(Duration::from_secs(5)));
    let started = Instant::now();
    let calls: Vec<_> = (0..20)
        .map(|i| c.send(Request::get(format!("/burst?i={i}"))))
        .collect();
    for r in finish(calls) {
        assert_eq!(r.unwrap().status(), 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a call waited for its own connect"
    );
    let s = tb.stats();
    assert_eq!((s.requests, s.tls_handshake_failures), (20, 0));
    assert_eq!(s.connections, 20, "every call started a connect");
}

#[test]
fn with_pool_max_idle_per_host_0_a_burst_hands_nothing_back() {
    let (_tb, c) = one_handshake_testbed(|b| {
        b.set("pool_max_idle_per_host", "0")
            .connect_timeout(Duration::from_millis(300))
    });
    let calls: Vec<_> = (0..3).map(|_| c.send(Request::get("/"))).collect();
    let results = finish(calls);
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(
        ok, 1,
        "only the call whose handshake was answered: {results:?}"
    );
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(e.timeout_kind(), Some(TimeoutKind::Connect), "{e}");
    }
}
