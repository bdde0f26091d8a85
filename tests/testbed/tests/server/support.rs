//! Raw hyper clients and waits with timeouts, so no test can hang.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tailrace_testbed::{Stats, Testbed};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// No single step of any test may take longer than this.
pub const LIMIT: Duration = Duration::from_secs(10);

pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Polls the stats without blocking the test's runtime (its client tasks must keep running).
pub async fn wait_for(testbed: &Testbed, what: &str, done: impl Fn(&Stats) -> bool) -> Stats {
    let deadline = Instant::now() + LIMIT;
    loop {
        let stats = testbed.stats();
        if done(&stats) {
            return stats;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {stats:#?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

pub type Body = Full<Bytes>;

pub fn request(port: u16, path: &str) -> http::request::Builder {
    Request::get(path).header("host", format!("127.0.0.1:{port}"))
}

pub fn empty() -> Body {
    Full::new(Bytes::new())
}

/// A fresh HTTP/1.1 connection.
pub async fn h1(port: u16) -> http1::SendRequest<Body> {
    let stream = within("connect", TcpStream::connect(("127.0.0.1", port)))
        .await
        .expect("connect");
    let (send, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .expect("h1 handshake");
    tokio::spawn(conn);
    send
}

/// A fresh HTTP/2 connection with prior knowledge (h2c).
pub async fn h2(port: u16) -> http2::SendRequest<Body> {
    let stream = within("connect", TcpStream::connect(("127.0.0.1", port)))
        .await
        .expect("connect");
    let (send, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .expect("h2 handshake");
    tokio::spawn(conn);
    send
}

/// A response with its whole body.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

pub async fn read_all(res: http::Response<Incoming>) -> Reply {
    let (parts, body) = res.into_parts();
    let body = within("body", body.collect())
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// GET over a fresh HTTP/1.1 connection, whole body read.
pub async fn get(port: u16, path: &str) -> Reply {
    send(port, request(port, path).body(empty()).unwrap()).await
}

pub async fn send(port: u16, req: Request<Body>) -> Reply {
    let mut conn = h1(port).await;
    let res = within("response", conn.send_request(req))
        .await
        .expect("response");
    read_all(res).await
}

/// A TLS client that trusts only `ca_pem` and offers these ALPN protocols.
pub fn tls_connector(ca_pem: &str, alpn: &[&[u8]]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA PEM"))
        .expect("add CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

pub async fn tls_connect(
    connector: &TlsConnector,
    port: u16,
    name: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from(name.to_string()).unwrap();
    within("TLS handshake", connector.connect(name, stream)).await
}
