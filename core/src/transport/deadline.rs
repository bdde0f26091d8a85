//! The connect deadline: `connect_timeout_ms` around TCP connect plus TLS handshake (hyper-util's
//! own connect timeout covers TCP only). The attempt and call deadlines live in
//! [`crate::attempt`] and [`crate::watchdog`].
//!
//! The connector sits behind one `Arc`: the pool clones it for every connection it makes, and
//! the TLS connector holds several `Arc`s whose counts would all move per clone; here one does.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connector whose whole connect (TCP and TLS) must finish within a deadline.
#[derive(Debug)]
pub(crate) struct ConnectTimeout<C> {
    inner: Arc<C>,
    timeout: Option<Duration>,
}

impl<C> Clone for ConnectTimeout<C> {
    fn clone(&self) -> Self {
        ConnectTimeout {
            inner: self.inner.clone(),
            timeout: self.timeout,
        }
    }
}

impl<C> ConnectTimeout<C> {
    /// The connector inside (for tests).
    #[cfg(test)]
    pub(crate) fn inner(&self) -> &C {
        &self.inner
    }

    pub(crate) fn new(inner: C, timeout: Option<Duration>) -> Self {
        ConnectTimeout {
            inner: Arc::new(inner),
            timeout,
        }
    }
}

/// The connect deadline passed; found in the error chain to report `Timeout(connect)`.
#[derive(Debug)]
pub(crate) struct ConnectTimedOut(pub(crate) Duration);

impl std::fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "connect timed out after {} ms", self.0.as_millis())
    }
}

impl std::error::Error for ConnectTimedOut {}

impl<C> Service<Uri> for ConnectTimeout<C>
where
    C: Service<Uri> + Clone + Send + Sync + 'static,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is asked of the connector's own copy, in `call`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut connector = C::clone(&self.inner);
        let timeout = self.timeout;
        let connect = async move {
            std::future::poll_fn(|cx| connector.poll_ready(cx)).await?;
            connector.call(uri).await
        };
        Box::pin(async move {
            match timeout {
                None => connect.await.map_err(Into::into),
                Some(t) => match tokio::time::timeout(t, connect).await {
                    Ok(r) => r.map_err(Into::into),
                    Err(_) => Err(Box::new(ConnectTimedOut(t)) as BoxError),
                },
            }
        })
    }
}
