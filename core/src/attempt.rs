//! One attempt: send a call's HTTP request to a host under `attempt_timeout_ms`, and keep that
//! host's numbers (in flight, attempts, errors) honest even when the attempt is cancelled.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};

use crate::error::{Error, Result, Sent, TimeoutKind};
use crate::hedge::timer::{self, Sleep};
use crate::hedge::Env;
use crate::shard;
use crate::stats::HostStats;
use crate::transport::{Answer, Started};

pin_project_lite::pin_project! {
    /// One attempt's future: the transport's answer, under `attempt_timeout_ms`, counted at its
    /// host. A struct rather than an `async fn`, which would keep its `Started` argument (the
    /// 256-byte request) beside the transport's future that holds it too.
    ///
    /// tailrace's timer rather than `tokio::time::timeout`: precise below 20 ms (tokio's wheel
    /// ticks once a millisecond, so a 2 ms attempt timeout fired at 3 or 4 ms), and 24 bytes in
    /// every call's future rather than 112.
    pub(crate) struct Attempt<'a, F> {
        #[pin]
        answer: F,
        timer: Option<Sleep>,
        env: &'a Env<'a>,
        host: &'a HostStats,
        // Set when first polled: the attempt counts in flight from then until it is dropped.
        in_flight: Option<InFlight<'a>>,
    }
}

/// Send `req` (one attempt of a call, built for `host` and handed to the transport). The answer
/// is returned whatever its status; the hedger decides what counts as a failure.
pub(crate) fn run<'a>(
    env: &'a Env<'a>,
    req: Started,
    host: &'a HostStats,
) -> Attempt<'a, impl Future<Output = Result<Answer>> + 'a> {
    Attempt {
        answer: env.transport.receive(req, &host.url),
        timer: env.config.attempt_timeout.map(timer::sleep),
        env,
        host,
        in_flight: None,
    }
}

impl<'a, F: Future<Output = Result<Answer>>> Future for Attempt<'a, F> {
    type Output = Result<Answer>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let host: &'a HostStats = this.host;
        if this.in_flight.is_none() {
            this.env.recorder.attempts.add(1, Relaxed);
            host.attempts.add(1, Relaxed);
            let in_flight = host.in_flight.counter();
            in_flight.add(1, Relaxed);
            *this.in_flight = Some(InFlight(in_flight));
        }
        // The answer first: one that is here when the timer fires too still counts.
        let result = match this.answer.poll(cx) {
            Poll::Ready(result) => result,
            Poll::Pending => {
                let fired = this
                    .timer
                    .as_mut()
                    .is_some_and(|timer| Pin::new(timer).poll(cx).is_ready());
                if !fired {
                    return Poll::Pending;
                }
                let t = this.env.config.attempt_timeout.unwrap_or_default();
                Err(Error::timeout(TimeoutKind::Attempt, t, Sent::Maybe))
            }
        };
        if result.is_err() {
            host.errors.fetch_add(1, Relaxed);
        }
        Poll::Ready(result)
    }
}

/// Counts an attempt in flight at a host until dropped (finished or cancelled).
/// Holds the counter it added to: that of the fork generation the attempt started in.
struct InFlight<'a>(&'a shard::Counter);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.add(-1, Relaxed);
    }
}
