//! The race between a call's attempts: poll every attempt in flight and the next-attempt timer;
//! hand back the first attempt to finish (or the timer). Dropping the race cancels every attempt
//! still in it, which is how losers are cancelled: for HTTP/1 their connection closes, for HTTP/2
//! their stream is reset, and their limiter slots are released.
//!
//! Every attempt cancelled unfinished — a loser, or any attempt of a call dropped whole (its
//! `timeout_ms` passed, its caller cancelled, its client closed) — counts its time so far as a
//! lower bound of its latency for the adaptive delay. Leaving out the attempts of calls that
//! timed out would bias the estimate toward fast answers exactly when the backend is slow.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;

use super::latency::Latency;
use super::timer::Sleep;
use crate::error::Result;
use crate::limit::Permit;
use crate::stats::HostStats;
use crate::transport::Answer;

type AttemptFuture<'a> = Pin<Box<dyn Future<Output = Result<Answer>> + Send + 'a>>;

/// One attempt in flight.
pub(super) struct Running<'a> {
    pub(super) index: u32,
    /// The balancer's index of its host (`None` for a full-URL call).
    pub(super) host_index: Option<usize>,
    pub(super) host: std::sync::Arc<HostStats>,
    pub(super) started: Instant,
    future: AttemptFuture<'a>,
    /// Held for as long as the attempt runs.
    _slot: Permit,
}

/// What happened next.
// One `Event` exists per attempt completion and is matched at once; boxing the large variant
// would cost an allocation per attempt to save a move of a few hundred bytes.
#[allow(clippy::large_enum_variant)]
pub(super) enum Event<'a> {
    /// An attempt finished (its slot is released when this is dropped).
    Finished(Running<'a>, Result<Answer>),
    /// The next-attempt timer fired.
    TimerFired,
}

/// The attempts of one call in flight, plus the timer for the next one.
pub(super) struct Race<'a> {
    running: Vec<Running<'a>>,
    timer: Option<Sleep>,
    /// Where cancelled attempts' lower bounds go, when the delay adapts.
    latency: Option<&'a Latency>,
}

impl<'a> Race<'a> {
    pub(super) fn new(latency: Option<&'a Latency>) -> Race<'a> {
        Race {
            running: Vec::new(),
            timer: None,
            latency,
        }
    }

    pub(super) fn start(
        &mut self,
        index: u32,
        host_index: Option<usize>,
        host: std::sync::Arc<HostStats>,
        slot: Permit,
        future: AttemptFuture<'a>,
    ) {
        self.running.push(Running {
            index,
            host_index,
            host,
            started: Instant::now(),
            future,
            _slot: slot,
        });
    }

    /// Hosts the call's attempts in flight are using.
    pub(super) fn hosts_in_use(&self) -> Vec<usize> {
        self.running.iter().filter_map(|r| r.host_index).collect()
    }

    pub(super) fn in_flight(&self) -> usize {
        self.running.len()
    }

    pub(super) fn set_timer(&mut self, timer: Option<Sleep>) {
        self.timer = timer;
    }

    /// Wait for the next event. With nothing in flight and no timer it would never resolve, so
    /// callers only ask while an attempt runs.
    pub(super) async fn next(&mut self) -> Event<'a> {
        poll_fn(|cx| {
            for i in 0..self.running.len() {
                if let Poll::Ready(result) = self.running[i].future.as_mut().poll(cx) {
                    let done = self.running.swap_remove(i);
                    return Poll::Ready(Event::Finished(done, result));
                }
            }
            if let Some(t) = self.timer.as_mut() {
                if Pin::new(t).poll(cx).is_ready() {
                    self.timer = None;
                    return Poll::Ready(Event::TimerFired);
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Cancel every attempt still in flight, recording how long each had run (a lower bound of
    /// its latency) when the delay adapts.
    pub(super) fn cancel_all(&mut self) {
        if self.running.is_empty() {
            return;
        }
        if let Some(latency) = self.latency {
            let now = Instant::now();
            for r in &self.running {
                latency.record_cut_short(now.duration_since(r.started));
            }
        }
        self.running.clear();
    }
}

impl Drop for Race<'_> {
    /// A race dropped with attempts in flight (its call was dropped, or ended early with an
    /// error) cancels them as a winner would.
    fn drop(&mut self) {
        self.cancel_all();
    }
}
