//! Accepting connections and serving HTTP/1.1 and HTTP/2 (prior knowledge or ALPN) on each.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::handler;
use crate::state::Shared;

/// What every connection task needs.
#[derive(Clone)]
pub(crate) struct Server {
    shared: Arc<Shared>,
    tls: Option<TlsAcceptor>,
    http: Arc<auto::Builder<TokioExecutor>>,
}

impl Server {
    pub(crate) fn new(shared: Arc<Shared>, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        // `auto` reads the first bytes of each connection and picks HTTP/2 when they are the h2
        // preface, so h2c prior knowledge and HTTP/1.1 share the port.
        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1()
            .timer(TokioTimer::new())
            // Pooled idle connections must stay open however long a test pauses.
            .header_read_timeout(None);
        http.http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(4096)
            // Hedging cancels streams all the time; h2's rapid-reset guards would take it for an
            // attack and close the connection.
            .max_pending_accept_reset_streams(100_000)
            .max_local_error_reset_streams(None);
        Server {
            shared,
            tls: tls.map(TlsAcceptor::from),
            http: Arc::new(http),
        }
    }

    /// Accepts until the runtime shuts down.
    pub(crate) async fn accept_loop(self, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let number = self.shared.counters.connections.fetch_add(1, Relaxed) + 1;
                    let open = Open::new(self.shared.clone());
                    tokio::spawn(self.clone().connection(stream, number, open));
                }
                Err(e) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    eprintln!("testbed: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    async fn connection(self, stream: TcpStream, number: u64, _open: Open) {
        // Responses are small and latency is what is measured: never wait for Nagle.
        let _ = stream.set_nodelay(true);
        match &self.tls {
            None => self.serve(stream).await,
            Some(_) if self.shared.tls_handshakes.is_some_and(|n| number > n) => {
                // Past `tls_handshakes`: held open, never answered.
                std::future::pending::<()>().await;
                drop(stream);
            }
            Some(acceptor) => match acceptor.accept(stream).await {
                Ok(stream) => self.serve(stream).await,
                Err(_) => {
                    self.shared
                        .counters
                        .tls_handshake_failures
                        .fetch_add(1, Relaxed);
                }
            },
        }
    }

    async fn serve<I>(&self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let shared = self.shared.clone();
        let service = service_fn(move |req| handler::handle(shared.clone(), req));
        // An error here is the client going away or breaking the protocol; the trackers of
        // any unfinished requests have already recorded it.
        let _ = self.http.serve_connection(TokioIo::new(io), service).await;
    }
}

/// Counts a connection in `open_connections` until its task ends (or is dropped).
struct Open(Arc<Shared>);

impl Open {
    fn new(shared: Arc<Shared>) -> Open {
        shared.counters.open_connections.fetch_add(1, SeqCst);
        Open(shared)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.counters.open_connections.fetch_sub(1, SeqCst);
    }
}
