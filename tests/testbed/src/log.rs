//! The event log: one `start` and one `finish` or `cancel` per counted request.

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use crate::Event;

/// A bounded, append-only log behind one mutex. Ids and times are assigned under the lock, so log
/// order, id order (for starts) and `t_us` order are the same thing.
#[derive(Debug)]
pub(crate) struct EventLog {
    epoch: Instant,
    cap: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    next_id: u64,
    events: Vec<Event>,
    dropped: u64,
}

impl EventLog {
    pub(crate) fn new(cap: usize) -> Self {
        EventLog {
            epoch: Instant::now(),
            cap,
            inner: Mutex::new(Inner {
                next_id: 1,
                events: Vec::new(),
                dropped: 0,
            }),
        }
    }

    pub(crate) fn uptime_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not take the log down with it: the data stays consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives `event` the next id and the current time, and logs it as a start.
    pub(crate) fn start(&self, event: &mut Event) {
        let mut inner = self.lock();
        event.id = inner.next_id;
        inner.next_id += 1;
        event.t_us = self.uptime_us();
        event.event = crate::stats::START.to_string();
        inner.push(self.cap, event.clone());
    }

    /// Logs the end of the request `event` started.
    pub(crate) fn end(&self, mut event: Event, name: &str, status: Option<u16>) {
        let mut inner = self.lock();
        event.t_us = self.uptime_us();
        event.event = name.to_string();
        event.status = status;
        inner.push(self.cap, event);
    }

    /// The events (if asked for) and how many were dropped.
    pub(crate) fn snapshot(&self, with_events: bool) -> (Vec<Event>, u64) {
        let inner = self.lock();
        let events = if with_events {
            inner.events.clone()
        } else {
            Vec::new()
        };
        (events, inner.dropped)
    }

    /// Empties the log; ids keep counting so they stay unique.
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.events = Vec::new();
        inner.dropped = 0;
    }
}

impl Inner {
    fn push(&mut self, cap: usize, event: Event) {
        if self.events.len() < cap {
            self.events.push(event);
        } else {
            self.dropped += 1;
        }
    }
}
