//! One attempt to one host, nothing more: take a connection from the pool, send the request,
//! read the body under the cap, and turn any failure into an [`Error`] that says which stage
//! failed.
//!
//! Stage before: the attempt ([`crate::attempt`]: its deadline and its host's numbers), started
//! by the hedger, which decides how many attempts, when, and to which host.

mod body;
mod connector;
mod deadline;
mod pool;

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::header::HOST;
use http::{HeaderMap, StatusCode, Uri, Version};
use http_body_util::Full;

use crate::config::{Config, Http2};
use crate::error::{Error, ErrorKind, Result, Sent, TimeoutKind};
use pool::{Conn, Destination, Pool};

/// A complete answer from one attempt.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// The connection pool and its settings. One per client (and per fork generation).
pub(crate) struct Transport {
    pool: Pool,
    max_response_bytes: u64,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub(crate) fn new(config: &Config) -> Result<Transport> {
        let http2_only = config.http2_prior_knowledge && config.http2 != Http2::Never;
        Ok(Transport {
            pool: Pool::new(
                connector::build(config)?,
                http2_only,
                config.pool_max_idle_per_host,
                config.pool_idle_timeout,
            ),
            max_response_bytes: config.max_response_bytes,
        })
    }

    /// Find `req`'s destination in the pool. Nothing is sent until [`Transport::receive`]
    /// polls the result.
    pub(crate) fn start(&self, req: http::Request<Full<Bytes>>) -> Result<Started> {
        match self.pool.destination(req.uri()) {
            Some(dest) => Ok(Started { dest, req }),
            None => Err(Error::internal(format!(
                "`{}` reached the transport without a host",
                req.uri()
            ))),
        }
    }

    /// Send a started request to `host` (`scheme://authority`, named in errors) and read its
    /// whole answer. Dropping the future cancels the attempt: for HTTP/1 the connection is
    /// closed, for HTTP/2 the stream is reset.
    ///
    /// An `async` block that owns `started`, not an `async fn` that would move it into locals:
    /// every call's future would carry the 256-byte request twice.
    #[allow(clippy::manual_async_fn)] // on purpose: see above
    pub(crate) fn receive<'a>(
        &'a self,
        mut started: Started,
        host: &'a str,
    ) -> impl Future<Output = Result<Answer>> + 'a {
        async move {
            loop {
                let dest = &started.dest;
                let (conn, reused) = self.pool.checkout(dest, host).await?;
                // The response and, for HTTP/1, the connection to hand back after the body. A
                // block, so the send's outcome is dead (not kept in the future) while the body
                // is read.
                let (resp, h1) = {
                    let sent = match conn {
                        Conn::Http1(mut sender) => {
                            let absolute = to_origin_form(&mut started.req, dest);
                            match sender.try_send_request(started.req).await {
                                Ok(resp) => Ok((resp, Some(sender))),
                                Err(mut e) => Err((
                                    // Back to what it was, in case it goes again over HTTP/2.
                                    e.take_message().map(|mut r| {
                                        *r.uri_mut() = absolute;
                                        r
                                    }),
                                    e.into_error(),
                                )),
                            }
                        }
                        Conn::Http2(mut sender) => {
                            match sender.try_send_request(started.req).await {
                                Ok(resp) => Ok((resp, None)),
                                Err(mut e) => Err((e.take_message(), e.into_error())),
                            }
                        }
                    };
                    match sent {
                        Ok(sent) => sent,
                        // It never left: a reused connection had closed meanwhile. Again, on
                        // another.
                        Err((Some(unsent), _)) if reused => {
                            started.req = unsent;
                            continue;
                        }
                        Err((Some(_), e)) => {
                            return Err(Error::new(
                                ErrorKind::Protocol,
                                format!(
                                    "the new connection to {host} closed before the request was \
                                     sent: {e}"
                                ),
                            )
                            .with_sent(Sent::No))
                        }
                        Err((None, e)) => return Err(classify(&e, Stage::Exchange, host)),
                    }
                };
                // Only what the answer keeps lives across the body's await (not the whole head).
                let (
                    http::response::Parts {
                        status,
                        version,
                        headers,
                        ..
                    },
                    body,
                ) = resp.into_parts();
                let body = body::read_limited(body, self.max_response_bytes).await?;
                if let Some(sender) = h1 {
                    self.pool.put(&started.dest, sender);
                }
                return Ok(Answer {
                    status,
                    version,
                    headers,
                    body,
                });
            }
        }
    }
}

/// An HTTP/1 request line carries the path only (origin form), and the host goes in `Host`
/// unless the caller set one. Returns the absolute URI it had.
fn to_origin_form(req: &mut http::Request<Full<Bytes>>, dest: &Destination) -> Uri {
    let origin = match req.uri().path_and_query() {
        Some(path) if path.as_str() != "/" => Uri::from(path.clone()),
        _ => Uri::default(),
    };
    if !req.headers().contains_key(HOST) {
        req.headers_mut().insert(HOST, dest.host_header().clone());
    }
    std::mem::replace(req.uri_mut(), origin)
}

/// A request handed to the transport (see [`Transport::start`]).
pub(crate) struct Started {
    dest: Arc<Destination>,
    req: http::Request<Full<Bytes>>,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Started")
    }
}

/// Where a failure happened: making the connection (nothing of the request was sent), or the
/// exchange on it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Stage {
    Connect,
    Exchange,
}

/// Turn a connect or hyper error into the stage that failed. TLS errors travel inside (nested)
/// `io::Error`s, whose `source()` skips the wrapped error, so each `io::Error` is also opened
/// with `get_ref`.
pub(crate) fn classify(err: &(dyn std::error::Error + 'static), stage: Stage, host: &str) -> Error {
    let mut io_kind = None;
    let mut tls: Option<String> = None;
    let mut connect_timeout = None;
    let mut detail = err.to_string();
    let mut pending: Vec<&(dyn std::error::Error + 'static)> = vec![err];
    while let Some(e) = pending.pop() {
        detail = e.to_string();
        if let Some(t) = e.downcast_ref::<deadline::ConnectTimedOut>() {
            connect_timeout = Some(t.0);
        }
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            let hint = match r {
                // The first bytes back were not a TLS record: most often an http:// server.
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
                    " (is the server speaking plain HTTP? then use an http:// URL)"
                }
                _ => "",
            };
            tls = Some(format!("{r}{hint}"));
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() != std::io::ErrorKind::Other {
                io_kind.get_or_insert(io.kind());
            }
            if let Some(inner) = io.get_ref() {
                pending.push(inner);
            }
        }
        pending.extend(e.source());
    }
    if let Some(t) = connect_timeout {
        return Error::timeout(TimeoutKind::Connect, t, Sent::No);
    }
    if let Some(why) = tls {
        // A TLS failure while connecting sent nothing; one on a connection already in use (a
        // fatal alert after the request was written) may have.
        if stage == Stage::Connect {
            return Error::new(
                ErrorKind::Tls,
                format!("TLS handshake with {host} failed: {why}"),
            );
        }
        return Error::new(
            ErrorKind::Tls,
            format!("TLS error on the connection to {host}: {why}"),
        )
        .with_sent(Sent::Maybe);
    }
    if stage == Stage::Connect {
        let hint = match io_kind {
            Some(std::io::ErrorKind::ConnectionRefused) => " (nothing is listening there)",
            _ => "",
        };
        return Error::new(
            ErrorKind::Connect,
            format!("cannot connect to {host}: {detail}{hint}"),
        );
    }
    Error::new(
        ErrorKind::Protocol,
        format!("the connection to {host} failed before a complete response head: {detail}"),
    )
    .with_sent(Sent::Maybe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper_util::rt::TokioIo;

    #[test]
    fn a_request_a_reused_connection_never_took_goes_again_on_another() {
        let tb = tailrace_testbed::Testbed::start(Default::default()).unwrap();
        // One thread: the stale connection's task runs only when the call yields, which is
        // after the request was queued on it.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let transport = Transport::new(&Config::default()).unwrap();
            let url: Uri = format!("{}/again", tb.url()).parse().unwrap();
            let dest = transport.pool.destination(&url).unwrap();
            // An idle connection whose server has gone, which its task has not noticed yet.
            let (client_io, server_io) = tokio::io::duplex(1024);
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(client_io))
                .await
                .unwrap();
            tokio::spawn(conn);
            tokio::task::yield_now().await;
            drop(server_io);
            assert!(sender.is_ready() && !sender.is_closed());
            transport.pool.put(&dest, sender);

            let req = http::Request::get(url)
                .body(Full::new(Bytes::new()))
                .unwrap();
            let answer = transport
                .receive(transport.start(req).unwrap(), "h")
                .await
                .unwrap();
            assert_eq!(answer.status, 200);
        });
        assert_eq!(tb.stats().requests, 1);
    }
}
