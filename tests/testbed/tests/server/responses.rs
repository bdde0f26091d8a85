//! What a request gets back: delays, statuses, bodies, echo.

use std::time::{Duration, Instant};

use http::Method;
use http_body_util::{BodyExt, Full};
use tailrace_testbed::{Config, Latency, Testbed};

use crate::support::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test]
async fn default_response_is_ok_with_proto_and_id_headers() {
    let tb = Testbed::start(Config::default()).unwrap();
    let first = get(tb.port(), "/a").await;
    let second = get(tb.port(), "/b").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.text(), "ok");
    assert_eq!(first.header("x-testbed-proto"), Some("HTTP/1.1"));
    let id = |r: &Reply| r.header("x-testbed-id").unwrap().parse::<u64>().unwrap();
    assert!(id(&second) > id(&first));
}

#[tokio::test]
async fn delay_parameters_are_honoured() {
    let tb = Testbed::start(Config::default()).unwrap();
    for (path, at_least) in [
        ("/?delay_ms=50", ms(50)),
        ("/?delay_us=30000", ms(30)),
        ("/?latency=fixed%3A40000", ms(40)),
        ("/?latency=tail:1:0:40000", ms(40)),
    ] {
        let t0 = Instant::now();
        assert_eq!(get(tb.port(), path).await.status, 200, "{path}");
        assert!(t0.elapsed() >= at_least, "{path} took {:?}", t0.elapsed());
    }
}

#[tokio::test]
async fn server_latency_applies_unless_the_query_overrides_it() {
    let config = Config {
        latency: Latency::Fixed(ms(3000)),
        ..Config::default()
    };
    let tb = Testbed::start(config).unwrap();
    let t0 = Instant::now();
    get(tb.port(), "/?delay_ms=0").await;
    assert!(
        t0.elapsed() < ms(2000),
        "override ignored: {:?}",
        t0.elapsed()
    );

    let tb = Testbed::start(Config {
        latency: "fixed:60000".parse().unwrap(),
        ..Config::default()
    })
    .unwrap();
    let t0 = Instant::now();
    get(tb.port(), "/").await;
    assert!(t0.elapsed() >= ms(60));
}

#[tokio::test]
async fn status_and_error_rate() {
    let tb = Testbed::start(Config::default()).unwrap();
    assert_eq!(get(tb.port(), "/?status=418").await.status, 418);
    assert_eq!(get(tb.port(), "/?error_rate=1").await.status, 503);
    assert_eq!(
        get(tb.port(), "/?error_rate=1&status=201").await.status,
        201
    );

    let failing = Testbed::start(Config {
        error_rate: 1.0,
        ..Config::default()
    })
    .unwrap();
    assert_eq!(get(failing.port(), "/").await.status, 503);
    assert_eq!(get(failing.port(), "/?error_rate=0").await.status, 200);
    assert_eq!(failing.stats().status_count(503), 1);
    assert_eq!(failing.stats().status_count(200), 1);
}

#[tokio::test]
async fn error_rate_is_a_fraction() {
    let tb = Testbed::start(Config::default()).unwrap();
    let mut conn = h1(tb.port()).await;
    for _ in 0..200 {
        let req = request(tb.port(), "/?error_rate=0.5")
            .body(empty())
            .unwrap();
        read_all(conn.send_request(req).await.unwrap()).await;
    }
    let failed = tb.stats().status_count(503);
    assert!((40..=160).contains(&failed), "{failed} of 200 failed");
}

#[tokio::test]
async fn body_bytes_is_exact_and_has_a_content_length() {
    let tb = Testbed::start(Config::default()).unwrap();
    let res = get(tb.port(), "/?body_bytes=100000&chunk_bytes=7000").await;
    assert_eq!(res.header("content-length"), Some("100000"));
    assert_eq!(res.body.len(), 100_000);

    let res = get(tb.port(), "/?body_bytes=0").await;
    assert_eq!(res.header("content-length"), Some("0"));
    assert!(res.body.is_empty());

    // Chunks larger than the static fill buffer.
    let res = get(tb.port(), "/?body_bytes=300000&chunk_bytes=200000").await;
    assert_eq!(res.body.len(), 300_000);
    wait_for(&tb, "all finished", |s| s.finished == 3 && s.in_flight == 0).await;
}

#[tokio::test]
async fn chunked_omits_the_content_length() {
    let tb = Testbed::start(Config::default()).unwrap();
    let res = get(tb.port(), "/?body_bytes=50000&chunked=1").await;
    assert_eq!(res.header("content-length"), None);
    assert_eq!(res.header("transfer-encoding"), Some("chunked"));
    assert_eq!(res.body.len(), 50_000);
}

#[tokio::test]
async fn chunk_delay_spaces_the_chunks() {
    let tb = Testbed::start(Config::default()).unwrap();
    let t0 = Instant::now();
    let res = get(
        tb.port(),
        "/?body_bytes=3&chunk_bytes=1&chunk_delay_us=20000",
    )
    .await;
    assert_eq!(res.body.len(), 3);
    assert!(t0.elapsed() >= ms(40), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn a_huge_body_streams_lazily_and_stops_when_the_client_does() {
    let tb = Testbed::start(Config::default()).unwrap();
    let mut conn = h1(tb.port()).await;
    let req = request(tb.port(), "/?body_bytes=1000000000")
        .body(empty())
        .unwrap();
    let res = within("head", conn.send_request(req)).await.unwrap();
    assert_eq!(res.headers()["content-length"], "1000000000");
    let mut body = res.into_body();
    let mut read = 0;
    while read < 1_000_000 {
        let frame = within("frame", body.frame()).await.unwrap().unwrap();
        read += frame.into_data().map_or(0, |d| d.len());
    }
    drop(body);
    drop(conn);
    let stats = wait_for(&tb, "cancel", |s| s.cancelled == 1 && s.in_flight == 0).await;
    let cancel = stats.events.iter().find(|e| e.event == "cancel").unwrap();
    assert_eq!(
        cancel.status,
        Some(200),
        "cancelled mid-body, after the head"
    );
}

#[tokio::test]
async fn close_mid_body_is_a_client_side_error_on_http1() {
    let tb = Testbed::start(Config::default()).unwrap();
    let mut conn = h1(tb.port()).await;
    let req = request(tb.port(), "/?close_mid_body=1")
        .body(empty())
        .unwrap();
    let res = within("head", conn.send_request(req)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-length"], "1000");
    let err = within("body", res.into_body().collect()).await;
    assert!(err.is_err(), "the body should break off");
    let stats = wait_for(&tb, "cancel", |s| s.in_flight == 0).await;
    assert_eq!((stats.cancelled, stats.finished), (1, 0));
}

#[tokio::test]
async fn close_mid_body_is_a_client_side_error_on_http2() {
    let tb = Testbed::start(Config::default()).unwrap();
    let mut conn = h2(tb.port()).await;
    let req = request(
        tb.port(),
        "/?close_mid_body=1&body_bytes=100000&chunk_bytes=1000",
    )
    .body(empty())
    .unwrap();
    // The reset may overtake the head on a busy machine, so either step may fail; one must.
    let failed = match within("head", conn.send_request(req)).await {
        Ok(res) => {
            assert_eq!(res.headers()["content-length"], "100000");
            within("body", res.into_body().collect()).await.is_err()
        }
        Err(_) => true,
    };
    assert!(failed, "the stream should be reset");
    let stats = wait_for(&tb, "cancel", |s| s.in_flight == 0).await;
    assert_eq!((stats.cancelled, stats.finished), (1, 0));
    // Only the stream was reset: the connection still works.
    let res = read_all(
        conn.send_request(request(tb.port(), "/").body(empty()).unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(res.text(), "ok");
}

#[tokio::test]
async fn redirects_carry_the_location_and_are_not_followed() {
    let tb = Testbed::start(Config::default()).unwrap();
    let res = get(
        tb.port(),
        "/r?status=302&location=http%3A%2F%2Fexample.invalid%2Fnext%3Fa%3D1",
    )
    .await;
    assert_eq!(res.status, 302);
    assert_eq!(
        res.header("location"),
        Some("http://example.invalid/next?a=1")
    );
}

#[tokio::test]
async fn repeat_header_sends_one_name_n_times_in_order() {
    let tb = Testbed::start(Config::default()).unwrap();
    let res = get(tb.port(), "/r?repeat_header=20").await;
    assert_eq!(res.status, 200);
    let values: Vec<&str> = res
        .headers
        .get_all("x-repeat")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let want: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    assert_eq!(values, want);
    assert_eq!(get(tb.port(), "/r?repeat_header=65").await.status, 400);
}

#[tokio::test]
async fn a_bad_query_parameter_is_a_400_naming_it() {
    let tb = Testbed::start(Config::default()).unwrap();
    let res = get(tb.port(), "/?delay_ms=soon").await;
    assert_eq!(res.status, 400);
    assert!(res.text().contains("delay_ms=soon"), "{}", res.text());
    let res = get(tb.port(), "/?latency=gauss%3A1").await;
    assert_eq!(res.status, 400);
    assert!(
        res.text().contains("unknown kind \"gauss\""),
        "{}",
        res.text()
    );
    // Unknown parameters are the caller's own business.
    assert_eq!(get(tb.port(), "/?mine=1").await.status, 200);
}

#[tokio::test]
async fn echo_reflects_the_request() {
    let tb = Testbed::start(Config::default()).unwrap();
    let req = request(tb.port(), "/__echo?a=1&b=two")
        .method(Method::POST)
        .header("x-thing", "one")
        .header("x-thing", "two")
        .body(Full::from("héllo"))
        .unwrap();
    let res = send(tb.port(), req).await;
    assert_eq!(res.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(json["method"], "POST");
    assert_eq!(json["path"], "/__echo");
    assert_eq!(json["query"], "a=1&b=two");
    assert_eq!(json["version"], "HTTP/1.1");
    assert_eq!(json["headers"]["x-thing"], "one, two");
    assert_eq!(json["body_len"], 6);
    assert_eq!(json["body"], "héllo");
    assert_eq!(tb.stats().requests, 1, "echo is counted");
}

#[tokio::test]
async fn head_requests_finish_without_a_body() {
    let tb = Testbed::start(Config::default()).unwrap();
    let req = request(tb.port(), "/")
        .method(Method::HEAD)
        .body(empty())
        .unwrap();
    let res = send(tb.port(), req).await;
    assert_eq!(res.status, 200);
    assert!(res.body.is_empty());
    let stats = wait_for(&tb, "finish", |s| s.in_flight == 0).await;
    assert_eq!((stats.finished, stats.cancelled), (1, 0));
}

#[tokio::test]
async fn request_bodies_are_read_and_discarded() {
    let tb = Testbed::start(Config::default()).unwrap();
    let mut conn = h1(tb.port()).await;
    for _ in 0..3 {
        let req = request(tb.port(), "/upload")
            .method(Method::PUT)
            .body(Full::from(vec![7u8; 200_000]))
            .unwrap();
        let res = read_all(within("response", conn.send_request(req)).await.unwrap()).await;
        assert_eq!(res.text(), "ok");
    }
    assert_eq!(
        tb.stats().connections,
        1,
        "keep-alive survives request bodies"
    );
}
