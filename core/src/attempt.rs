//! One attempt: send a call's HTTP request to a host under `attempt_timeout_ms`, and keep that
//! host's numbers (in flight, attempts, errors) honest even when the attempt is cancelled.

use std::sync::atomic::Ordering::Relaxed;

use crate::error::{Error, Result, Sent, TimeoutKind};
use crate::hedge::Env;
use crate::stats::HostStats;
use crate::transport::{Answer, Started};

/// Counts an attempt in flight at a host until dropped (finished or cancelled).
struct InFlight<'a>(&'a HostStats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.add(-1, Relaxed);
    }
}

/// Send `req` (one attempt of a call, built for `host` and handed to the pool). The answer is
/// returned whatever its status; the hedger decides what counts as a failure.
pub(crate) async fn run(env: &Env<'_>, req: Started, host: &HostStats) -> Result<Answer> {
    env.recorder.attempts.add(1, Relaxed);
    host.attempts.add(1, Relaxed);
    host.in_flight.add(1, Relaxed);
    let _in_flight = InFlight(host);
    let result = match env.config.attempt_timeout {
        None => env.transport.receive(req, &host.url).await,
        Some(t) => match tokio::time::timeout(t, env.transport.receive(req, &host.url)).await {
            Ok(r) => r,
            Err(_) => Err(Error::timeout(TimeoutKind::Attempt, t, Sent::Maybe)),
        },
    };
    if result.is_err() {
        host.errors.fetch_add(1, Relaxed);
    }
    result
}
