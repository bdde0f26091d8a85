//! One attempt to one host, nothing more: send the request over the pooled client, read the body
//! under the cap, and turn any failure into an [`Error`] that says which stage failed.
//!
//! Stage before: the attempt ([`crate::attempt`]: its deadline and its host's numbers), started
//! by the hedger, which decides how many attempts, when, and to which host.

mod body;
mod connector;
mod deadline;

use bytes::Bytes;
use http::{HeaderMap, StatusCode, Version};
use http_body_util::Full;

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result, Sent, TimeoutKind};

/// A complete answer from one attempt.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// The connection pool and its settings. One per client (and per fork generation).
#[derive(Debug)]
pub(crate) struct Transport {
    client: connector::PooledClient,
    max_response_bytes: u64,
}

impl Transport {
    /// Must be called inside the runtime.
    pub(crate) fn new(config: &Config) -> Result<Transport> {
        Ok(Transport {
            client: connector::build(config)?,
            max_response_bytes: config.max_response_bytes,
        })
    }

    /// Hand `req` to the pool. Nothing is sent until [`Transport::receive`] polls the result;
    /// starting here, synchronously, keeps the request out of the attempt's future (an async
    /// function would hold it there for the whole attempt).
    pub(crate) fn start(&self, req: http::Request<Full<Bytes>>) -> Started {
        Started(self.client.request(req))
    }

    /// Send a started request to `host` (`scheme://authority`, named in errors) and read its
    /// whole answer. Dropping the future cancels the attempt: for HTTP/1 the connection is
    /// closed, for HTTP/2 the stream is reset.
    pub(crate) async fn receive(&self, started: Started, host: &str) -> Result<Answer> {
        let resp = started.0.await.map_err(|e| classify(&e, host))?;
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
        Ok(Answer {
            status,
            version,
            headers,
            body,
        })
    }
}

/// A request handed to the pool (see [`Transport::start`]).
pub(crate) struct Started(hyper_util::client::legacy::ResponseFuture);

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Started")
    }
}

/// Turn a hyper-util error into the stage that failed. TLS errors travel inside (nested)
/// `io::Error`s, whose `source()` skips the wrapped error, so each `io::Error` is also opened
/// with `get_ref`.
fn classify(err: &hyper_util::client::legacy::Error, host: &str) -> Error {
    let mut io_kind = None;
    let mut tls: Option<String> = None;
    let mut connect_timeout = None;
    let mut detail = err.to_string();
    let mut pending: Vec<&(dyn std::error::Error + 'static)> =
        std::error::Error::source(err).into_iter().collect();
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
        if err.is_connect() {
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
    if err.is_connect() {
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
