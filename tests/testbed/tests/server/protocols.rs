//! HTTP/2 with prior knowledge, and TLS with ALPN.

use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tailrace_testbed::{Config, Testbed};

use crate::support::*;

fn tls_config() -> Config {
    Config {
        tls: true,
        ..Config::default()
    }
}

#[tokio::test]
async fn h2c_prior_knowledge_shares_the_port_with_http1() {
    let tb = Testbed::start(Config::default()).unwrap();
    let conn = h2(tb.port()).await;
    // Several streams at once on one connection.
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let mut conn = conn.clone();
            let req = request(tb.port(), &format!("/{i}?delay_ms=300"))
                .body(empty())
                .unwrap();
            tokio::spawn(async move { read_all(conn.send_request(req).await.unwrap()).await })
        })
        .collect();
    for call in calls {
        let res = within("h2 call", call).await.unwrap();
        assert_eq!(res.status, 200);
        assert_eq!(res.header("x-testbed-proto"), Some("HTTP/2.0"));
        assert_eq!(res.text(), "ok");
    }
    assert_eq!(tb.stats().max_in_flight, 8, "the streams overlapped");
    assert_eq!(
        get(tb.port(), "/").await.header("x-testbed-proto"),
        Some("HTTP/1.1")
    );
    let stats = tb.stats();
    assert_eq!(stats.versions.get("HTTP/2.0"), Some(&8));
    assert_eq!(stats.versions.get("HTTP/1.1"), Some(&1));
    assert_eq!(stats.connections, 2);
}

#[tokio::test]
async fn tls_serves_http2_and_http1_by_alpn_to_a_client_trusting_the_ca() {
    let tb = Testbed::start(tls_config()).unwrap();
    assert_eq!(tb.url(), format!("https://localhost:{}", tb.port()));
    let ca = tb.ca_pem().unwrap();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(std::fs::read_to_string(tb.ca_file().unwrap()).unwrap(), ca);

    let connector = tls_connector(&ca, &[b"h2"]);
    let stream = tls_connect(&connector, tb.port(), "localhost")
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let res = read_all(
        send.send_request(request(tb.port(), "/").body(empty()).unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(res.header("x-testbed-proto"), Some("HTTP/2.0"));

    // The certificate also names 127.0.0.1, and ALPN can pick HTTP/1.1.
    let connector = tls_connector(&ca, &[b"http/1.1"]);
    let stream = tls_connect(&connector, tb.port(), "127.0.0.1")
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut send, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let res = read_all(
        send.send_request(request(tb.port(), "/").body(empty()).unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(res.header("x-testbed-proto"), Some("HTTP/1.1"));
    assert_eq!(res.text(), "ok");
}

#[tokio::test]
async fn tls_handshake_fails_for_a_client_that_does_not_trust_the_ca() {
    let tb = Testbed::start(tls_config()).unwrap();
    // Another testbed's CA: a valid CA, just not the one that signed this server.
    let other = Testbed::start(tls_config()).unwrap();
    let connector = tls_connector(&other.ca_pem().unwrap(), &[b"h2", b"http/1.1"]);
    let err = tls_connect(&connector, tb.port(), "localhost")
        .await
        .expect_err("untrusted certificate must fail");
    assert!(err.to_string().contains("certificate"), "{err}");
    wait_for(&tb, "server-side failure", |s| {
        s.tls_handshake_failures == 1
    })
    .await;
    assert_eq!(tb.stats().requests, 0);
}

#[tokio::test]
async fn the_temporary_ca_file_is_removed_on_drop_but_ca_out_is_kept() {
    let tb = Testbed::start(tls_config()).unwrap();
    let temp = tb.ca_file().unwrap();
    assert!(temp.exists());
    drop(tb);
    assert!(!temp.exists());

    let out = std::env::temp_dir().join(format!("testbed-ca-out-{}.pem", std::process::id()));
    let tb = Testbed::start(Config {
        ca_out: Some(out.clone()),
        ..tls_config()
    })
    .unwrap();
    assert_eq!(tb.ca_file(), Some(out.clone()));
    drop(tb);
    assert!(out.exists());
    std::fs::remove_file(out).unwrap();
}

#[tokio::test]
async fn dropping_the_testbed_closes_its_port() {
    let tb = Testbed::start(Config::default()).unwrap();
    let port = tb.port();
    assert_eq!(get(port, "/").await.status, 200);
    drop(tb);
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err());
}

#[tokio::test]
async fn a_busy_port_is_an_error_even_inside_an_async_test() {
    let tb = Testbed::start(Config::default()).unwrap();
    let err = Testbed::start(Config {
        port: tb.port(),
        ..Config::default()
    })
    .expect_err("the port is taken");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
}
