//! In-flight counts, the event log, and the stats endpoints.

use std::time::Duration;

use http::Method;
use tailrace_testbed::{Config, Stats, Testbed, CANCEL, FINISH, START};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

fn keyed(port: u16, path: &str, key: &str, seq: i64) -> http::Request<Body> {
    request(port, path)
        .header("x-key", key)
        .header("x-seq", seq.to_string())
        .body(empty())
        .unwrap()
}

#[tokio::test]
async fn events_carry_key_seq_attempt_path_query_and_status() {
    let tb = Testbed::start(Config::default()).unwrap();
    let req = request(tb.port(), "/thing?status=201&x=1")
        .header("x-key", "k1")
        .header("x-seq", "42")
        .header("x-tailrace-attempt", "2")
        .body(empty())
        .unwrap();
    let res = send(tb.port(), req).await;
    let id: u64 = res.header("x-testbed-id").unwrap().parse().unwrap();
    let stats = wait_for(&tb, "finish", |s| s.finished == 1).await;
    let [start, finish] = &stats.events[..] else {
        panic!("{:#?}", stats.events)
    };
    for e in [start, finish] {
        assert_eq!(e.id, id);
        assert_eq!(e.key.as_deref(), Some("k1"));
        assert_eq!(e.seq, Some(42));
        assert_eq!(e.attempt, Some(2));
        assert_eq!(e.path, "/thing");
        assert_eq!(e.query, "status=201&x=1");
    }
    assert_eq!((start.event.as_str(), start.status), (START, None));
    assert_eq!((finish.event.as_str(), finish.status), (FINISH, Some(201)));
    assert!(finish.t_us >= start.t_us);
}

#[tokio::test]
async fn in_flight_and_max_in_flight_are_exact() {
    let tb = Testbed::start(Config::default()).unwrap();
    let port = tb.port();
    let calls: Vec<_> = (0..5)
        .map(|i| {
            tokio::spawn(async move { send(port, keyed(port, "/?delay_ms=300", "k", i)).await })
        })
        .collect();
    let stats = wait_for(&tb, "5 in flight", |s| s.in_flight == 5).await;
    assert_eq!(stats.count_events(START), 5);
    for call in calls {
        assert_eq!(within("call", call).await.unwrap().status, 200);
    }
    let stats = wait_for(&tb, "all done", |s| s.in_flight == 0).await;
    assert_eq!(stats.max_in_flight, 5);
    assert_eq!(stats.max_concurrent_for_key("k"), 5);
    assert_eq!((stats.requests, stats.finished, stats.cancelled), (5, 5, 0));
    assert_eq!(stats.count_events(FINISH), 5);
}

#[tokio::test]
async fn sequential_requests_start_in_order_one_at_a_time() {
    let tb = Testbed::start(Config::default()).unwrap();
    let mut conn = h1(tb.port()).await;
    for seq in 0..6 {
        let req = keyed(tb.port(), "/?delay_ms=2", "ordered", seq);
        read_all(within("call", conn.send_request(req)).await.unwrap()).await;
    }
    send(tb.port(), keyed(tb.port(), "/", "other", 99)).await;
    let stats = wait_for(&tb, "all done", |s| s.finished == 7).await;
    assert_eq!(
        stats.starts_in_order_for_key("ordered"),
        vec![0, 1, 2, 3, 4, 5]
    );
    assert_eq!(stats.max_concurrent_for_key("ordered"), 1);
    assert_eq!(stats.starts_in_order_for_key("other"), vec![99]);
    // Ids and times grow along the log.
    let starts: Vec<_> = stats.events.iter().filter(|e| e.event == START).collect();
    assert!(starts.windows(2).all(|w| w[0].id < w[1].id));
    assert!(stats.events.windows(2).all(|w| w[0].t_us <= w[1].t_us));
}

/// The client closes its HTTP/1.1 connection while the server sleeps before the head.
#[tokio::test]
async fn an_http1_client_going_away_is_a_prompt_cancel() {
    let tb = Testbed::start(Config::default()).unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", tb.port())).await.unwrap();
    stream
        .write_all(
            b"GET /slow?delay_ms=5000 HTTP/1.1\r\nhost: x\r\nx-key: gone\r\nx-seq: 1\r\n\r\n",
        )
        .await
        .unwrap();
    wait_for(&tb, "start", |s| s.in_flight == 1).await;
    drop(stream);
    // Well before the 5 s sleep would end.
    let stats = wait_for(&tb, "cancel", |s| s.in_flight == 0).await;
    assert!(stats.uptime_us < 4_000_000, "not prompt: {stats:#?}");
    assert_eq!((stats.cancelled, stats.finished), (1, 0));
    let cancel = stats
        .events_for_key("gone")
        .find(|e| e.event == CANCEL)
        .unwrap();
    assert_eq!((cancel.seq, cancel.status), (Some(1), None));
}

/// The client resets one HTTP/2 stream; the connection and its other streams carry on.
#[tokio::test]
async fn an_http2_stream_reset_is_a_prompt_cancel() {
    let tb = Testbed::start(Config::default()).unwrap();
    let mut conn = h2(tb.port()).await;
    let slow = conn.send_request(keyed(tb.port(), "/slow?delay_ms=5000", "reset", 1));
    // Dropping hyper's response future makes the client send RST_STREAM.
    let _ = tokio::time::timeout(Duration::from_millis(100), slow).await;
    let stats = wait_for(&tb, "cancel", |s| s.cancelled == 1 && s.in_flight == 0).await;
    assert!(stats.uptime_us < 4_000_000, "not prompt: {stats:#?}");
    assert!(stats.events_for_key("reset").any(|e| e.event == CANCEL));

    let res = read_all(
        conn.send_request(keyed(tb.port(), "/", "after", 2))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(tb.stats().connections, 1);
}

#[tokio::test]
async fn a_raw_client_sees_the_whole_response_and_then_a_finish() {
    let tb = Testbed::start(Config::default()).unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", tb.port())).await.unwrap();
    stream
        .write_all(b"GET /?body_bytes=5 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    within("read", stream.read_to_string(&mut text))
        .await
        .unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nxxxxx"), "{text}");
    // The finish was logged before the last byte left the server.
    let stats = tb.stats();
    assert_eq!((stats.finished, stats.in_flight), (1, 0));
}

#[tokio::test]
async fn stats_and_reset_endpoints() {
    let tb = Testbed::start(Config::default()).unwrap();
    get(tb.port(), "/one?status=500").await;
    get(tb.port(), "/two").await;

    let res = get(tb.port(), "/__stats").await;
    assert_eq!(res.header("content-type"), Some("application/json"));
    let stats: Stats = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(stats.requests, 2, "the stats request itself is not counted");
    assert_eq!(stats.status_count(500), 1);
    assert_eq!(stats.status_count(200), 1);
    assert_eq!(stats.events.len(), 4);
    assert_eq!(stats.connections, 3);

    let quiet: Stats =
        serde_json::from_slice(&get(tb.port(), "/__stats?events=0").await.body).unwrap();
    assert!(quiet.events.is_empty());
    assert_eq!(quiet.requests, 2);

    // Every field is in the JSON, so other languages can rely on the shape.
    let json: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
    for field in [
        "uptime_us",
        "requests",
        "finished",
        "cancelled",
        "in_flight",
        "max_in_flight",
        "connections",
        "open_connections",
        "tls_handshake_failures",
        "status",
        "versions",
        "events",
        "events_dropped",
    ] {
        assert!(json.get(field).is_some(), "missing {field}");
    }

    assert_eq!(
        get(tb.port(), "/__reset").await.status,
        405,
        "reset needs POST"
    );
    let req = request(tb.port(), "/__reset")
        .method(Method::POST)
        .body(empty())
        .unwrap();
    let res = send(tb.port(), req).await;
    assert_eq!(res.text(), r#"{"ok":true}"#);
    let stats = tb.stats();
    assert_eq!(
        (stats.requests, stats.max_in_flight, stats.finished),
        (0, 0, 0)
    );
    assert!(stats.status.is_empty() && stats.events.is_empty());

    // Ids keep growing after a reset.
    let before = get(tb.port(), "/")
        .await
        .header("x-testbed-id")
        .unwrap()
        .parse::<u64>()
        .unwrap();
    assert!(before > 2);
}

#[tokio::test]
async fn testbed_reset_keeps_requests_in_flight() {
    let tb = Testbed::start(Config::default()).unwrap();
    let port = tb.port();
    let call = tokio::spawn(async move { get(port, "/?delay_ms=300").await });
    wait_for(&tb, "start", |s| s.in_flight == 1).await;
    tb.reset();
    let stats = tb.stats();
    assert_eq!(
        (stats.in_flight, stats.max_in_flight, stats.requests),
        (1, 1, 0)
    );
    within("call", call).await.unwrap();
    let stats = wait_for(&tb, "finish", |s| s.in_flight == 0).await;
    // Its finish is logged; its start went with the reset.
    assert_eq!(stats.count_events(FINISH), 1);
    assert_eq!(stats.count_events(START), 0);
}

#[tokio::test]
async fn the_log_is_capped_and_counts_what_it_drops() {
    let tb = Testbed::start(Config {
        log_cap: 4,
        ..Config::default()
    })
    .unwrap();
    let mut conn = h1(tb.port()).await;
    for _ in 0..5 {
        let req = request(tb.port(), "/").body(empty()).unwrap();
        read_all(conn.send_request(req).await.unwrap()).await;
    }
    let stats = wait_for(&tb, "done", |s| s.finished == 5).await;
    assert_eq!(stats.events.len(), 4);
    assert_eq!(stats.events_dropped, 6);
}

#[test]
fn wait_until_reports_success_or_the_last_snapshot() {
    let tb = Testbed::start(Config::default()).unwrap();
    assert!(tb
        .wait_until(Duration::from_secs(1), |s| s.in_flight == 0)
        .is_ok());
    let err = tb
        .wait_until(Duration::from_millis(20), |s| s.requests == 1)
        .unwrap_err();
    assert_eq!(err.requests, 0);
}

#[tokio::test]
async fn open_connections_counts_connections_until_either_side_closes() {
    let tb = Testbed::start(Config::default()).unwrap();
    let mut a = h1(tb.port()).await;
    let b = h1(tb.port()).await;
    read_all(
        within("call", a.send_request(keyed(tb.port(), "/", "a", 1)))
            .await
            .unwrap(),
    )
    .await;
    wait_for(&tb, "two open", |s| s.open_connections == 2).await;
    // The client closing one.
    drop(b);
    wait_for(&tb, "one open", |s| s.open_connections == 1).await;
    // The server closing the other after answering with `connection: close`.
    let res = read_all(
        within(
            "call",
            a.send_request(keyed(tb.port(), "/?close=1", "a", 2)),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(res.header("connection"), Some("close"));
    let stats = wait_for(&tb, "none open", |s| s.open_connections == 0).await;
    assert_eq!(stats.connections, 2);
    // A reset leaves the current count alone.
    let _c = h1(tb.port()).await;
    wait_for(&tb, "one open", |s| s.open_connections == 1).await;
    tb.reset();
    assert_eq!(tb.stats().open_connections, 1);
}
