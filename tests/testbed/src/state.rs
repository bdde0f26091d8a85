//! State shared by every connection: defaults, counters and the event log.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed, Ordering::SeqCst};

use http::Version;

use crate::handler::version_name;
use crate::log::EventLog;
use crate::{Config, Latency, Stats};

const VERSIONS: [Version; 5] = [
    Version::HTTP_09,
    Version::HTTP_10,
    Version::HTTP_11,
    Version::HTTP_2,
    Version::HTTP_3,
];

/// One per server; handlers get it through an `Arc`.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) latency: Latency,
    pub(crate) error_rate: f64,
    pub(crate) tls_handshakes: Option<u64>,
    pub(crate) counters: Counters,
    pub(crate) log: EventLog,
}

/// Plain atomics, so the hot path never waits on another request.
#[derive(Debug)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) finished: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) max_in_flight: AtomicU64,
    pub(crate) connections: AtomicU64,
    /// Connections open now (accepted and not yet ended).
    pub(crate) open_connections: AtomicU64,
    pub(crate) tls_handshake_failures: AtomicU64,
    /// Indexed by status code (hyper allows 100..=999).
    status: Vec<AtomicU64>,
    versions: [AtomicU64; VERSIONS.len()],
}

impl Shared {
    pub(crate) fn new(config: &Config) -> Self {
        Shared {
            latency: config.latency.clone(),
            error_rate: config.error_rate,
            tls_handshakes: config.tls_handshakes,
            counters: Counters {
                requests: AtomicU64::new(0),
                finished: AtomicU64::new(0),
                cancelled: AtomicU64::new(0),
                in_flight: AtomicU64::new(0),
                max_in_flight: AtomicU64::new(0),
                connections: AtomicU64::new(0),
                open_connections: AtomicU64::new(0),
                tls_handshake_failures: AtomicU64::new(0),
                status: (0..1000).map(|_| AtomicU64::new(0)).collect(),
                versions: Default::default(),
            },
            log: EventLog::new(config.log_cap),
        }
    }

    /// Counters are read before the log: the log gets a request's end before `in_flight` drops,
    /// so a snapshot showing `in_flight == 0` also holds every matching `finish` or `cancel`.
    pub(crate) fn snapshot(&self, with_events: bool) -> Stats {
        let c = &self.counters;
        // First, and SeqCst: pairs with the tracker's decrement, its last step.
        let in_flight = c.in_flight.load(SeqCst);
        let mut stats = Stats {
            uptime_us: self.log.uptime_us(),
            in_flight,
            max_in_flight: c.max_in_flight.load(SeqCst),
            requests: c.requests.load(Relaxed),
            finished: c.finished.load(Relaxed),
            cancelled: c.cancelled.load(Relaxed),
            connections: c.connections.load(Relaxed),
            open_connections: c.open_connections.load(SeqCst),
            tls_handshake_failures: c.tls_handshake_failures.load(Relaxed),
            ..Stats::default()
        };
        for (code, n) in c.status.iter().enumerate() {
            let n = n.load(Relaxed);
            if n > 0 {
                stats.status.insert(code.to_string(), n);
            }
        }
        for (version, n) in VERSIONS.iter().zip(&c.versions) {
            let n = n.load(Relaxed);
            if n > 0 {
                stats.versions.insert(version_name(*version).to_string(), n);
            }
        }
        (stats.events, stats.events_dropped) = self.log.snapshot(with_events);
        stats
    }

    /// Zeroes the counters and empties the log; `in_flight` and `open_connections` are
    /// current, so they stay.
    pub(crate) fn reset(&self) {
        let c = &self.counters;
        for n in [
            &c.requests,
            &c.finished,
            &c.cancelled,
            &c.connections,
            &c.tls_handshake_failures,
        ]
        .into_iter()
        .chain(&c.status)
        .chain(&c.versions)
        {
            n.store(0, Relaxed);
        }
        c.max_in_flight.store(c.in_flight.load(SeqCst), SeqCst);
        self.log.clear();
    }
}

impl Counters {
    pub(crate) fn count_status(&self, status: u16) {
        if let Some(n) = self.status.get(usize::from(status)) {
            n.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn count_version(&self, version: Version) {
        if let Some(i) = VERSIONS.iter().position(|v| *v == version) {
            self.versions[i].fetch_add(1, Relaxed);
        }
    }
}
