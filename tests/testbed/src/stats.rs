//! The testbed's view of what it served: the JSON of `GET /__stats`, typed.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

/// Event name: a counted request's handler started.
pub const START: &str = "start";
/// Event name: the response body was produced to its end.
pub const FINISH: &str = "finish";
/// Event name: the request ended before its response was complete.
pub const CANCEL: &str = "cancel";

/// Counters since start or the last reset, and the event log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// Microseconds since the server started (the clock of `Event::t_us`).
    pub uptime_us: u64,
    /// Counted requests (everything but `/__stats` and `/__reset`).
    pub requests: u64,
    /// Requests that ended with a `finish` event.
    pub finished: u64,
    /// Requests that ended with a `cancel` event.
    pub cancelled: u64,
    /// Requests started and not yet finished or cancelled.
    pub in_flight: u64,
    /// Highest `in_flight` seen.
    pub max_in_flight: u64,
    /// TCP connections accepted.
    pub connections: u64,
    /// TCP connections open now: accepted and not yet closed (not zeroed by a reset).
    pub open_connections: u64,
    /// TLS handshakes that failed (for example a client that does not trust the CA).
    pub tls_handshake_failures: u64,
    /// Response heads produced, by status code (`"200"`, `"503"`, ...).
    pub status: BTreeMap<String, u64>,
    /// Counted requests by HTTP version (`"HTTP/1.1"`, `"HTTP/2.0"`, ...).
    pub versions: BTreeMap<String, u64>,
    /// The event log, oldest first (empty when asked for with `events=0`).
    pub events: Vec<Event>,
    /// Events not kept because the log was full.
    pub events_dropped: u64,
}

/// One entry of the event log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The request's id (also sent as `x-testbed-id`); unique for the server's lifetime.
    pub id: u64,
    /// Microseconds since the server started; never decreases along the log.
    pub t_us: u64,
    /// [`START`], [`FINISH`] or [`CANCEL`].
    pub event: String,
    /// The request's `x-key` header.
    pub key: Option<String>,
    /// The request's `x-seq` header, when it is an integer.
    pub seq: Option<i64>,
    /// The request's `x-tailrace-attempt` header, when it is an integer.
    pub attempt: Option<u32>,
    /// Request path.
    pub path: String,
    /// Request query string, without `?`.
    pub query: String,
    /// Status sent: always on `finish`; on `cancel` only if the head was already produced.
    pub status: Option<u16>,
}

impl Stats {
    /// Events of requests with this `x-key`, in log order.
    pub fn events_for_key<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
        self.events
            .iter()
            .filter(move |e| e.key.as_deref() == Some(key))
    }

    /// The `x-seq` of each start with this `x-key`, in the order the requests started.
    pub fn starts_in_order_for_key(&self, key: &str) -> Vec<i64> {
        self.events_for_key(key)
            .filter(|e| e.event == START)
            .filter_map(|e| e.seq)
            .collect()
    }

    /// The most requests with this `x-key` that were running at once, according to the log.
    pub fn max_concurrent_for_key(&self, key: &str) -> u64 {
        // Ends whose start was cleared by a reset are ignored.
        let mut running = HashSet::new();
        let mut max = 0;
        for e in self.events_for_key(key) {
            if e.event == START {
                running.insert(e.id);
                max = max.max(running.len() as u64);
            } else {
                running.remove(&e.id);
            }
        }
        max
    }

    /// Number of events with this name ([`START`], [`FINISH`], [`CANCEL`]).
    pub fn count_events(&self, event: &str) -> usize {
        self.events.iter().filter(|e| e.event == event).count()
    }

    /// Responses with this status code.
    pub fn status_count(&self, status: u16) -> u64 {
        self.status.get(&status.to_string()).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: u64, event: &str, key: &str, seq: i64) -> Event {
        Event {
            id,
            event: event.into(),
            key: Some(key.into()),
            seq: Some(seq),
            ..Event::default()
        }
    }

    #[test]
    fn helpers_follow_the_log() {
        let stats = Stats {
            events: vec![
                ev(1, START, "a", 0),
                ev(2, START, "b", 7),
                ev(3, START, "a", 1),
                ev(1, FINISH, "a", 0),
                ev(4, START, "a", 2),
                ev(3, CANCEL, "a", 1),
                ev(4, FINISH, "a", 2),
                ev(9, FINISH, "a", 5), // its start was before a reset
            ],
            ..Stats::default()
        };
        assert_eq!(stats.starts_in_order_for_key("a"), vec![0, 1, 2]);
        assert_eq!(stats.starts_in_order_for_key("b"), vec![7]);
        assert_eq!(stats.max_concurrent_for_key("a"), 2);
        assert_eq!(stats.max_concurrent_for_key("b"), 1);
        assert_eq!(stats.max_concurrent_for_key("zzz"), 0);
        assert_eq!(stats.count_events(CANCEL), 1);
    }

    #[test]
    fn json_without_fields_still_parses() {
        let stats: Stats = serde_json::from_str(r#"{"requests": 3}"#).unwrap();
        assert_eq!(stats.requests, 3);
        assert!(stats.events.is_empty());
    }
}
