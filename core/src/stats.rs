//! Counters every stage updates, and the [`Stats`] snapshot with one JSON shape in every language
//! (DESIGN.md, "Stats"). Counters are atomics; the latency histogram is sharded so threads
//! recording at once rarely meet on a lock.
//!
//! After `fork()` the child keeps the parent's running totals (calls, attempts, errors per host)
//! but nothing that describes the parent's work in progress or that a parent thread may have
//! locked at the fork: latency windows, the host table and each host's attempts in flight are
//! per fork generation (the parent's attempts in flight never finish in the child; counted
//! there, they would show forever and steer p2c away from their host).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, RwLock, TryLockError};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;
use crate::fnv::FnvBuildHasher;
use crate::runtime::ForkLocal;
use crate::shard;
use crate::sync::{lock, read, write, ForkMutex};

/// Hosts reached by full URL are listed in stats up to this many (memory stays bounded however
/// many hosts a client reaches); calls to later ones count in the client's totals only.
const MAX_TRACKED_HOSTS: usize = 1024;

/// A per-host Prometheus metric: name, help, type, and its value for one host.
type PerHostMetric = (
    &'static str,
    &'static str,
    &'static str,
    fn(&HostSnapshot) -> u64,
);

/// Live numbers of one host.
#[derive(Debug)]
pub(crate) struct HostStats {
    /// Shared with every response from this host, so reporting it costs no copy.
    pub(crate) url: Arc<str>,
    /// Sharded: every attempt adds and removes one, from whichever worker runs it. Per fork
    /// generation: a forked child starts at 0.
    pub(crate) in_flight: InFlight,
    pub(crate) attempts: shard::Counter,
    pub(crate) errors: AtomicU64,
    pub(crate) ejections: AtomicU64,
    /// Set by the balancer while the host is ejected.
    pub(crate) ejected: std::sync::atomic::AtomicBool,
    /// The parsed scheme and authority when `url` is exactly `scheme://authority` (no path
    /// prefix): paths are joined to it without parsing the host again per attempt.
    pub(crate) origin: Option<Origin>,
}

/// A host's scheme and authority, parsed once.
#[derive(Debug)]
pub(crate) struct Origin {
    pub(crate) scheme: http::uri::Scheme,
    pub(crate) authority: http::uri::Authority,
}

impl Origin {
    fn parse(url: &str) -> Option<Origin> {
        let uri: http::Uri = url.parse().ok()?;
        let (scheme, authority) = (uri.scheme()?.clone(), uri.authority()?.clone());
        let exact = url.len() == scheme.as_str().len() + 3 + authority.as_str().len();
        exact.then_some(Origin { scheme, authority })
    }
}

/// Attempts in flight at one host, counted per fork generation. The parent's attempts in flight
/// at a fork never finish in the child (their tasks belong to the parent's runtime), so the child
/// counts from 0. Costs one generation compare per add over a plain sharded counter.
#[derive(Debug)]
pub(crate) struct InFlight(ForkLocal<shard::Counter>);

impl InFlight {
    fn new() -> InFlight {
        InFlight(ForkLocal::new(shard::Counter::default()))
    }

    /// This fork generation's counter.
    pub(crate) fn counter(&self) -> &shard::Counter {
        self.0.get_or_make(shard::Counter::default)
    }

    pub(crate) fn sum(&self, order: Ordering) -> i64 {
        self.counter().sum(order)
    }

    pub(crate) fn get(&self) -> u64 {
        self.counter().get()
    }
}

impl HostStats {
    pub(crate) fn new(url: &str) -> HostStats {
        HostStats {
            url: Arc::from(url),
            in_flight: InFlight::new(),
            attempts: shard::Counter::default(),
            errors: AtomicU64::new(0),
            ejections: AtomicU64::new(0),
            ejected: std::sync::atomic::AtomicBool::new(false),
            origin: Origin::parse(url),
        }
    }

    fn snapshot(&self) -> HostSnapshot {
        HostSnapshot {
            url: self.url.to_string(),
            in_flight: self.in_flight.get(),
            attempts: self.attempts.get(),
            errors: self.errors.load(Relaxed),
            ejections: self.ejections.load(Relaxed),
            ejected: self.ejected.load(Relaxed),
        }
    }
}

/// The per-client counters.
#[derive(Debug)]
pub(crate) struct Recorder {
    /// Sharded, like the latency histogram: every call counts here.
    pub(crate) calls: shard::Counter,
    pub(crate) attempts: shard::Counter,
    errors: [AtomicU64; ErrorKind::ALL.len()],
    /// Per fork generation (see `ForkMutex`): a forked child starts with empty ones.
    latency: [ForkMutex<shard::Padded<Histogram<u64>>>; shard::SHARDS],
    /// Per fork generation: a forked child never waits on a lock of the parent's table (a parent
    /// thread may have held one at the fork); it copies the parent's hosts when it can do so
    /// without waiting, else starts from `configured`.
    hosts: ForkLocal<HostTable>,
    /// The client's `hosts` (the balancer's), set once when the client is built.
    configured: OnceLock<Vec<Arc<HostStats>>>,
}

/// The hosts of one fork generation: looked up by URL, listed in `order`.
#[derive(Debug, Default)]
struct HostTable {
    map: RwLock<HashMap<String, Arc<HostStats>, FnvBuildHasher>>,
    /// Configured hosts first, in `hosts` order; then hosts reached by full URL.
    order: Mutex<Vec<Arc<HostStats>>>,
}

impl HostTable {
    fn from_order(order: Vec<Arc<HostStats>>) -> HostTable {
        let map = order
            .iter()
            .map(|h| (h.url.to_string(), h.clone()))
            .collect();
        HostTable {
            map: RwLock::new(map),
            order: Mutex::new(order),
        }
    }

    /// A forked child's table from the parent's, read only through locks that are free (no
    /// parent thread can release one here): the parent's list if its lock is free, else the
    /// parent's map (configured hosts first, the rest by URL), else the configured hosts alone.
    fn inherit(parent: &HostTable, configured: &[Arc<HostStats>]) -> HostTable {
        let order = match parent.order.try_lock() {
            Ok(order) => Some(order.clone()),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner().clone()),
            Err(TryLockError::WouldBlock) => None,
        };
        let order = order.unwrap_or_else(|| {
            let mut order = configured.to_vec();
            let map = match parent.map.try_read() {
                Ok(map) => Some(map),
                Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            };
            if let Some(map) = map {
                let mut rest: Vec<_> = map
                    .values()
                    .filter(|h| !configured.iter().any(|c| Arc::ptr_eq(c, h)))
                    .cloned()
                    .collect();
                rest.sort_by(|a, b| a.url.cmp(&b.url));
                order.extend(rest);
            }
            order
        });
        HostTable::from_order(order)
    }
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs to 1 hour at 3 significant digits; `record` auto-resizes beyond that (BUILD-NOTES: never
    // `saturating_record` on a small histogram).
    let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds");
    h.auto(true);
    h
}

impl Recorder {
    pub(crate) fn new() -> Recorder {
        Recorder {
            calls: shard::Counter::default(),
            attempts: shard::Counter::default(),
            errors: std::array::from_fn(|_| AtomicU64::new(0)),
            latency: std::array::from_fn(|_| ForkMutex::new(|| shard::Padded(new_histogram()))),
            hosts: ForkLocal::new(HostTable::default()),
            configured: OnceLock::new(),
        }
    }

    /// This fork generation's host table.
    fn table(&self) -> &HostTable {
        self.hosts.get_or_inherit(|parent| {
            HostTable::inherit(parent, self.configured.get().map_or(&[], Vec::as_slice))
        })
    }

    /// The live numbers of the client's `hosts`, in order, listed first in stats. Called once,
    /// when the client is built (a second call finds the same hosts and changes nothing).
    /// Configured hosts are tracked one by one however many there are.
    pub(crate) fn configure<'a>(
        &self,
        urls: impl IntoIterator<Item = &'a str>,
    ) -> Vec<Arc<HostStats>> {
        let hosts: Vec<_> = urls.into_iter().map(|u| self.insert(u, false)).collect();
        let _ = self.configured.set(hosts.clone());
        hosts
    }

    /// The live numbers of a host, created on first sight.
    pub(crate) fn host(&self, url: &str) -> Arc<HostStats> {
        if let Some(h) = read(&self.table().map).get(url) {
            return h.clone();
        }
        self.insert(url, true)
    }

    /// `url`'s numbers, added if new. Past `MAX_TRACKED_HOSTS` (when `capped`) a host gets
    /// numbers of its own that are not listed: its `url` still names it in responses and error
    /// messages, which a shared entry for the rest could not.
    fn insert(&self, url: &str, capped: bool) -> Arc<HostStats> {
        let table = self.table();
        let mut map = write(&table.map);
        if let Some(h) = map.get(url) {
            return h.clone();
        }
        let h = Arc::new(HostStats::new(url));
        if capped && map.len() >= MAX_TRACKED_HOSTS {
            return h;
        }
        map.insert(url.to_string(), h.clone());
        lock(&table.order).push(h.clone());
        h
    }

    pub(crate) fn record_error(&self, kind: ErrorKind) {
        self.errors[kind.index()].fetch_add(1, Relaxed);
    }

    /// Record a call's latency (successes and failures alike: both are what callers waited).
    pub(crate) fn record_latency(&self, elapsed: Duration) {
        let us = (elapsed.as_micros() as u64).max(1);
        let shard = shard::index();
        let mut h = self.latency[shard].lock();
        let _ = h.record(us);
    }

    /// A snapshot of what this recorder holds; stages fill in their own fields after.
    pub(crate) fn snapshot(&self) -> Stats {
        let mut merged = new_histogram();
        for shard in &self.latency {
            let h = shard.lock();
            let _ = merged.add(&**h);
        }
        let q = |p: f64| {
            if merged.is_empty() {
                0
            } else {
                merged.value_at_quantile(p)
            }
        };
        let latency_us = LatencySnapshot {
            count: merged.len(),
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            p999: q(0.999),
            max: merged.max(),
        };
        let errors = ErrorKind::ALL
            .iter()
            .filter_map(|k| {
                let n = self.errors[k.index()].load(Relaxed);
                (n > 0).then(|| (k.as_str().to_string(), n))
            })
            .collect();
        let hosts = self.snapshot_hosts();
        Stats {
            calls: self.calls.get(),
            attempts: self.attempts.get(),
            errors,
            latency_us,
            hosts,
            ..Stats::default()
        }
    }
}

impl Recorder {
    /// Every host's numbers, configured hosts first.
    pub(crate) fn snapshot_hosts(&self) -> Vec<HostSnapshot> {
        lock(&self.table().order)
            .iter()
            .map(|h| h.snapshot())
            .collect()
    }
}

/// Latency percentiles of completed calls, in microseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencySnapshot {
    /// Calls recorded.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Slowest.
    pub max: u64,
}

/// One host's numbers.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct HostSnapshot {
    /// Base URL.
    pub url: String,
    /// Attempts in flight to it now.
    pub in_flight: u64,
    /// Attempts sent to it.
    pub attempts: u64,
    /// Attempts to it that ended in an error (connect, TLS, timeout, protocol); answers in
    /// `retry_on_status` are not counted here.
    pub errors: u64,
    /// Times it was ejected.
    pub ejections: u64,
    /// Whether it is ejected now.
    pub ejected: bool,
}

/// A client's numbers at one moment; the same JSON keys in every language.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    /// Calls submitted.
    pub calls: u64,
    /// Attempts sent (first attempts and hedges).
    pub attempts: u64,
    /// Hedge attempts sent (attempts beyond the first of each call).
    pub hedges_sent: u64,
    /// Calls whose answer came from a hedge attempt.
    pub hedges_won: u64,
    /// Hedges turned down because the extra-load budget was spent (each counted once; with a
    /// delay the call asks again later, and may still send it).
    pub hedges_skipped_budget: u64,
    /// Hedges turned down because no limiter slot was free at once (counted as above).
    pub hedges_skipped_no_slot: u64,
    /// The current hedge delay (adaptive or fixed), in microseconds.
    pub hedge_delay_us: u64,
    /// Failed calls by error kind (snake_case kind names).
    pub errors: BTreeMap<String, u64>,
    /// Call latency percentiles.
    pub latency_us: LatencySnapshot,
    /// Attempts in flight now; each holds a limiter slot (hedge attempts too).
    pub in_flight: u64,
    /// Calls waiting in the limiter's queue.
    pub queued: u64,
    /// Calls rejected because the limiter's queue was full.
    pub rejected_queue_full: u64,
    /// Calls that waited in the limiter's queue past `queue_timeout_ms`.
    pub limit_timeouts: u64,
    /// The most attempts in flight at once since the client started (Apama's `numClients`, as
    /// observed rather than configured).
    pub max_in_flight: u64,
    /// Calls held now by an order key or a flush.
    pub waiting_for_order: u64,
    /// Flush calls that had to wait for earlier calls (what Apama's serializedRequests counts).
    pub flush_waits: u64,
    /// Attempts in flight averaged over the last second ÷ `max_count`, in percent (0 without a
    /// limiter). With several limit keys the in-flight count is summed over keys, so it can pass
    /// 100; [`crate::Client::limit_key_stats`] gives each key's own numbers.
    pub utilization_percent: f64,
    /// Per-host numbers.
    pub hosts: Vec<HostSnapshot>,
}

/// One limit key's numbers, from [`crate::Client::limit_key_stats`].
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LimitKeyStats {
    /// The key (`""` for the client-wide key).
    pub limit_key: String,
    /// Slots of this key held now.
    pub in_flight: u64,
    /// Calls waiting in this key's queue now.
    pub queued: u64,
    /// The configured `max_count` (0 without a limiter).
    pub max_count: u64,
    /// The configured `max_queue` (`null`: unbounded).
    pub max_queue: Option<u64>,
}

impl LimitKeyStats {
    /// The numbers as JSON, the shape every binding returns.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("stats serialize")
    }
}

impl Stats {
    /// The snapshot as JSON, the shape every binding returns.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("stats serialize")
    }

    /// The same numbers in Prometheus text exposition format.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, kind: &str, v: String| {
            out.push_str(&format!(
                "# HELP tailrace_{name} {help}\n# TYPE tailrace_{name} {kind}\ntailrace_{name} {v}\n"
            ));
        };
        counter(
            "calls_total",
            "Calls submitted.",
            "counter",
            self.calls.to_string(),
        );
        counter(
            "attempts_total",
            "Attempts sent.",
            "counter",
            self.attempts.to_string(),
        );
        counter(
            "hedges_sent_total",
            "Hedge attempts sent.",
            "counter",
            self.hedges_sent.to_string(),
        );
        counter(
            "hedges_won_total",
            "Calls won by a hedge.",
            "counter",
            self.hedges_won.to_string(),
        );
        counter(
            "hedges_skipped_budget_total",
            "Hedges turned down: budget spent.",
            "counter",
            self.hedges_skipped_budget.to_string(),
        );
        counter(
            "hedges_skipped_no_slot_total",
            "Hedges turned down: no free limiter slot.",
            "counter",
            self.hedges_skipped_no_slot.to_string(),
        );
        counter(
            "hedge_delay_us",
            "Current hedge delay.",
            "gauge",
            self.hedge_delay_us.to_string(),
        );
        counter(
            "in_flight",
            "Attempts holding a limiter slot.",
            "gauge",
            self.in_flight.to_string(),
        );
        counter(
            "queued",
            "Calls waiting for a limiter slot.",
            "gauge",
            self.queued.to_string(),
        );
        counter(
            "rejected_queue_full_total",
            "Calls rejected: limiter queue full.",
            "counter",
            self.rejected_queue_full.to_string(),
        );
        counter(
            "limit_timeouts_total",
            "Calls that waited too long for a slot.",
            "counter",
            self.limit_timeouts.to_string(),
        );
        counter(
            "max_in_flight",
            "Most attempts holding a limiter slot at once.",
            "gauge",
            self.max_in_flight.to_string(),
        );
        counter(
            "waiting_for_order",
            "Calls held by an order key or flush.",
            "gauge",
            self.waiting_for_order.to_string(),
        );
        counter(
            "flush_waits_total",
            "Flushes that waited.",
            "counter",
            self.flush_waits.to_string(),
        );
        counter(
            "utilization_percent",
            "In-flight / max_count over the last second.",
            "gauge",
            format!("{}", self.utilization_percent),
        );
        out.push_str("# HELP tailrace_errors_total Failed calls by kind.\n# TYPE tailrace_errors_total counter\n");
        for (k, v) in &self.errors {
            out.push_str(&format!("tailrace_errors_total{{kind=\"{k}\"}} {v}\n"));
        }
        out.push_str("# HELP tailrace_latency_us Call latency percentiles.\n# TYPE tailrace_latency_us gauge\n");
        for (q, v) in [
            ("0.5", self.latency_us.p50),
            ("0.9", self.latency_us.p90),
            ("0.99", self.latency_us.p99),
            ("0.999", self.latency_us.p999),
        ] {
            out.push_str(&format!("tailrace_latency_us{{quantile=\"{q}\"}} {v}\n"));
        }
        // One group per metric (the text format wants each metric's lines together).
        let per_host: [PerHostMetric; 3] = [
            (
                "host_attempts_total",
                "Attempts per host.",
                "counter",
                |h| h.attempts,
            ),
            (
                "host_errors_total",
                "Attempts per host that ended in an error.",
                "counter",
                |h| h.errors,
            ),
            (
                "host_in_flight",
                "Attempts in flight per host.",
                "gauge",
                |h| h.in_flight,
            ),
        ];
        for (name, help, kind, value) in per_host {
            out.push_str(&format!(
                "# HELP tailrace_{name} {help}\n# TYPE tailrace_{name} {kind}\n"
            ));
            for h in &self.hosts {
                let url = h.url.replace('\\', "\\\\").replace('"', "\\\"");
                out.push_str(&format!("tailrace_{name}{{host=\"{url}\"}} {}\n", value(h)));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_hdrhistogram_in_microseconds() {
        let r = Recorder::new();
        for i in 1..=1000u64 {
            r.record_latency(Duration::from_micros(i));
        }
        let s = r.snapshot();
        assert_eq!(s.latency_us.count, 1000);
        assert!(
            (495..=505).contains(&s.latency_us.p50),
            "{:?}",
            s.latency_us
        );
        assert!(
            (985..=995).contains(&s.latency_us.p99),
            "{:?}",
            s.latency_us
        );
        assert!(s.latency_us.max >= 1000);
    }

    #[test]
    fn large_latencies_are_not_clamped() {
        let r = Recorder::new();
        r.record_latency(Duration::from_secs(7200));
        assert!(r.snapshot().latency_us.max >= 7_190_000_000);
    }

    #[test]
    fn json_has_the_design_keys() {
        let r = Recorder::new();
        r.record_error(ErrorKind::Connect);
        r.host("http://a:1");
        let v: serde_json::Value = serde_json::from_str(&r.snapshot().to_json()).unwrap();
        for key in [
            "calls",
            "attempts",
            "hedges_sent",
            "hedges_won",
            "hedges_skipped_budget",
            "hedges_skipped_no_slot",
            "hedge_delay_us",
            "errors",
            "latency_us",
            "in_flight",
            "queued",
            "rejected_queue_full",
            "limit_timeouts",
            "max_in_flight",
            "waiting_for_order",
            "flush_waits",
            "utilization_percent",
            "hosts",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["errors"]["connect"], 1);
        assert_eq!(v["hosts"][0]["url"], "http://a:1");
        assert!(r
            .snapshot()
            .to_prometheus()
            .contains("tailrace_errors_total{kind=\"connect\"} 1"));
    }

    #[test]
    fn prometheus_text_keeps_each_metric_in_one_group_with_help_and_type() {
        let r = Recorder::new();
        r.configure(["http://a:1", "http://b:2"]);
        let text = r.snapshot().to_prometheus();
        // Every sample's metric has its HELP and TYPE, and once a metric's group ends, it never
        // comes back.
        let mut seen: Vec<String> = Vec::new();
        for line in text.lines() {
            let name = match line.strip_prefix("# TYPE ") {
                Some(rest) => rest.split(' ').next().unwrap().to_string(),
                None if line.starts_with('#') => continue,
                None => line.split(['{', ' ']).next().unwrap().to_string(),
            };
            if seen.last() != Some(&name) {
                assert!(!seen.contains(&name), "{name} comes in two groups:\n{text}");
                assert!(
                    line.starts_with("# TYPE"),
                    "{name} has no TYPE line:\n{text}"
                );
                seen.push(name);
            }
        }
        assert!(
            seen.iter().any(|n| n == "tailrace_host_in_flight"),
            "{text}"
        );
    }

    /// Which of the host table's locks a parent thread holds across the fork.
    #[derive(Clone, Copy, Debug)]
    enum Held {
        /// Inside `host()`, adding a host: the map for writing, and the list.
        Both,
        /// Inside `host()` before it reaches the list: the map for writing.
        Map,
        /// Inside a stats snapshot: the list.
        Order,
    }

    /// Fork while another thread holds `held`; the child adds a host, takes a snapshot and
    /// `_exit`s with 0 if it found what it should. Returns the child's exit status, or `None`
    /// if it hung.
    fn fork_while_held(r: &Arc<Recorder>, held: Held) -> Option<i32> {
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = {
            let r = r.clone();
            std::thread::spawn(move || {
                let table = r.table();
                let map = matches!(held, Held::Both | Held::Map).then(|| write(&table.map));
                let order = matches!(held, Held::Both | Held::Order).then(|| lock(&table.order));
                held_tx.send(()).unwrap();
                let _ = release_rx.recv();
                drop((map, order));
            })
        };
        held_rx.recv().unwrap();
        // SAFETY: the child only uses the recorder and then `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let ok = std::panic::catch_unwind(|| {
                r.host("http://new:4");
                let hosts: Vec<_> = r.snapshot_hosts().into_iter().map(|h| h.url).collect();
                // The configured hosts first; the full-URL host known before the fork only
                // when some parent structure could be read without waiting.
                let expected: &[&str] = match held {
                    Held::Both => &["http://a:1", "http://b:2", "http://new:4"],
                    Held::Map | Held::Order => {
                        &["http://a:1", "http://b:2", "http://full:3", "http://new:4"]
                    }
                };
                hosts == expected && r.host("http://a:1").in_flight.get() == 0
            });
            unsafe { libc::_exit(if ok.unwrap_or(false) { 0 } else { 1 }) };
        }
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut status = 0;
        loop {
            // SAFETY: waiting for our own child.
            if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                return libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
            }
            if std::time::Instant::now() > deadline {
                unsafe { libc::kill(pid, libc::SIGKILL) };
                unsafe { libc::waitpid(pid, &mut status, 0) };
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_forked_child_never_waits_on_a_host_table_lock_held_at_the_fork() {
        crate::runtime::handle(); // registers the fork handler that counts generations
        let r = Arc::new(Recorder::new());
        let configured = r.configure(["http://a:1", "http://b:2"]);
        r.host("http://full:3");
        // An attempt in flight at the fork: the child must not count it.
        configured[0].in_flight.counter().add(1, Relaxed);
        for held in [Held::Both, Held::Map, Held::Order] {
            assert_eq!(fork_while_held(&r, held), Some(0), "{held:?}");
        }
        // The parent's table and counts are its own.
        let hosts: Vec<_> = r.snapshot_hosts().into_iter().map(|h| h.url).collect();
        assert_eq!(hosts, ["http://a:1", "http://b:2", "http://full:3"]);
        assert_eq!(configured[0].in_flight.get(), 1);
    }

    #[test]
    fn host_tracking_is_bounded() {
        let r = Recorder::new();
        for i in 0..(MAX_TRACKED_HOSTS + 50) {
            // Past the cap a host is not listed, but still named by its own URL.
            let url = format!("http://h{i}:1");
            assert_eq!(&*r.host(&url).url, url);
        }
        assert_eq!(r.snapshot().hosts.len(), MAX_TRACKED_HOSTS);
    }
}
