//! Tracker: counts one request from handler start to the end of its response body.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;

use crate::state::Shared;
use crate::stats::{CANCEL, FINISH};
use crate::Event;

/// Created when a counted request's handler starts; moved into the response body. `finish`
/// records a complete response; dropping it unfinished records a cancel. Both the handler future
/// and the body are dropped by hyper when the client goes away (HTTP/1 connection closed,
/// HTTP/2 stream reset), so this drop guard sees every way a request can end.
#[derive(Debug)]
pub(crate) struct Tracker {
    shared: Arc<Shared>,
    /// `None` once the end is recorded.
    event: Option<Event>,
    status: Option<u16>,
    id: u64,
}

impl Tracker {
    pub(crate) fn start(shared: Arc<Shared>, mut event: Event) -> Tracker {
        let c = &shared.counters;
        c.requests.fetch_add(1, Relaxed);
        // In flight before the start is logged: whoever sees the start also sees the count.
        let now = c.in_flight.fetch_add(1, SeqCst) + 1;
        c.max_in_flight.fetch_max(now, SeqCst);
        shared.log.start(&mut event);
        Tracker {
            id: event.id,
            shared,
            event: Some(event),
            status: None,
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The response head is made with this status.
    pub(crate) fn responded(&mut self, status: u16) {
        self.shared.counters.count_status(status);
        self.status = Some(status);
    }

    /// The last byte of the response has been handed to hyper.
    pub(crate) fn finish(&mut self) {
        self.end(FINISH);
    }

    fn end(&mut self, name: &str) {
        let Some(event) = self.event.take() else {
            return;
        };
        let c = &self.shared.counters;
        // Log, then count, then leave in flight: see `Shared::snapshot`.
        self.shared.log.end(event, name, self.status);
        if name == FINISH {
            c.finished.fetch_add(1, Relaxed);
        } else {
            c.cancelled.fetch_add(1, Relaxed);
        }
        c.in_flight.fetch_sub(1, SeqCst);
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.end(CANCEL);
    }
}
