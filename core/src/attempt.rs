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
    /// An attempt under `attempt_timeout_ms`: its answer (`Some`), or `None` when the timer fired
    /// first. tailrace's timer rather than `tokio::time::timeout`: precise below 20 ms (tokio's
    /// wheel ticks once a millisecond, so a 2 ms attempt timeout fired at 3 or 4 ms), and 24 bytes
    /// in every call's future rather than 112.
    struct Deadline<F> {
        #[pin]
        attempt: F,
        timer: Sleep,
    }
}

impl<F: Future> Future for Deadline<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The answer first: one that is here when the timer fires too still counts.
        if let Poll::Ready(out) = this.attempt.poll(cx) {
            return Poll::Ready(Some(out));
        }
        Pin::new(this.timer).poll(cx).map(|()| None)
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

/// Send `req` (one attempt of a call, built for `host` and handed to the pool). The answer is
/// returned whatever its status; the hedger decides what counts as a failure.
pub(crate) async fn run(env: &Env<'_>, req: Started, host: &HostStats) -> Result<Answer> {
    env.recorder.attempts.add(1, Relaxed);
    host.attempts.add(1, Relaxed);
    let in_flight = host.in_flight.counter();
    in_flight.add(1, Relaxed);
    let _in_flight = InFlight(in_flight);
    let result = match env.config.attempt_timeout {
        None => env.transport.receive(req, &host.url).await,
        Some(t) => match (Deadline {
            attempt: env.transport.receive(req, &host.url),
            timer: timer::sleep(t),
        })
        .await
        {
            Some(r) => r,
            None => Err(Error::timeout(TimeoutKind::Attempt, t, Sent::Maybe)),
        },
    };
    if result.is_err() {
        host.errors.fetch_add(1, Relaxed);
    }
    result
}
