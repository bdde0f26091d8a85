//! Deadlines: `connect_timeout_ms` around TCP connect plus TLS handshake (hyper-util's own
//! connect timeout covers TCP only), and the error each deadline produces.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connector whose whole connect (TCP and TLS) must finish within a deadline.
#[derive(Clone, Debug)]
pub(crate) struct ConnectTimeout<C> {
    inner: C,
    timeout: Option<Duration>,
}

impl<C> ConnectTimeout<C> {
    pub(crate) fn new(inner: C, timeout: Option<Duration>) -> Self {
        ConnectTimeout { inner, timeout }
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
    C: Service<Uri> + Send,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let fut = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match timeout {
                None => fut.await.map_err(Into::into),
                Some(t) => match tokio::time::timeout(t, fut).await {
                    Ok(r) => r.map_err(Into::into),
                    Err(_) => Err(Box::new(ConnectTimedOut(t)) as BoxError),
                },
            }
        })
    }
}
