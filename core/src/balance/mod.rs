//! The balancer: which of the client's `hosts` an attempt goes to (DESIGN.md, "Balancer").
//!
//! - Strategies, one per file: round robin (default), random, power of two choices on attempts
//!   in flight.
//! - Each attempt of a call prefers a host that no other attempt of that call is using.
//! - A host with `eject_after` consecutive failed attempts is left out for `eject_ms`, then tried
//!   again ([`eject`]). When every host is ejected or in use, the rule relaxes rather than fail.
//!
//! Stage before: the hedger, which asks for a host per attempt and reports each attempt's outcome.
//! Stage after: the transport.

mod eject;
mod p2c;
mod random;
mod round_robin;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use crate::config::{Balance, Config};
use crate::stats::{HostStats, Recorder};

use eject::Ejector;

/// The configured hosts and the strategy that picks among them.
#[derive(Debug)]
pub(crate) struct Balancer {
    hosts: Vec<Arc<HostStats>>,
    strategy: Balance,
    round_robin: round_robin::RoundRobin,
    ejector: Ejector,
}

impl Balancer {
    pub(crate) fn new(config: &Config, recorder: &Recorder) -> Balancer {
        let hosts = recorder.configure(config.hosts.iter().map(|h| h.as_str()));
        Balancer {
            ejector: Ejector::new(hosts.len(), config.eject_after, config.eject),
            hosts,
            strategy: config.balance,
            round_robin: round_robin::RoundRobin::default(),
        }
    }

    /// Pick a host for an attempt, preferring hosts that are neither ejected nor in `in_use`
    /// (hosts the call's other attempts hold). `None` only when there are no hosts.
    pub(crate) fn pick(&self, in_use: &[usize]) -> Option<usize> {
        let n = self.hosts.len();
        if n == 0 {
            return None;
        }
        if n == 1 {
            return Some(0);
        }
        let now = Instant::now();
        // Most preferred first: usable and free; then usable; then anything.
        let tiers: [&dyn Fn(usize) -> bool; 3] = [
            &|i| !in_use.contains(&i) && !self.ejector.is_ejected(i, now),
            &|i| !self.ejector.is_ejected(i, now),
            &|_| true,
        ];
        for eligible in tiers {
            let picked = match self.strategy {
                Balance::RoundRobin => self.round_robin.pick(n, eligible),
                Balance::Random => random::pick(n, eligible),
                Balance::P2c => p2c::pick(n, eligible, |i| self.hosts[i].in_flight.sum(Relaxed)),
            };
            if picked.is_some() {
                return picked;
            }
        }
        None
    }

    /// The live numbers (and base URL) of host `i`.
    pub(crate) fn host(&self, i: usize) -> &Arc<HostStats> {
        &self.hosts[i]
    }

    /// Report how an attempt to host `i` ended, for ejection.
    pub(crate) fn report(&self, i: usize, success: bool) {
        let host = &self.hosts[i];
        if self.ejector.report(i, success, Instant::now()) {
            host.ejections.fetch_add(1, Relaxed);
        }
    }

    /// Refresh each host's `ejected` flag for a stats snapshot.
    pub(crate) fn refresh_ejected(&self) {
        let now = Instant::now();
        for (i, h) in self.hosts.iter().enumerate() {
            h.ejected.store(self.ejector.is_ejected(i, now), Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balancer(hosts: usize, strategy: &str) -> Balancer {
        let mut c = Config::default();
        let list: Vec<String> = (0..hosts).map(|i| format!("http://h{i}:1")).collect();
        c.set("hosts", &list.join(",")).unwrap();
        c.set("balance", strategy).unwrap();
        c.set("eject_after", "2").unwrap();
        c.set("eject_ms", "60000").unwrap();
        Balancer::new(&c, &Recorder::new())
    }

    #[test]
    fn every_strategy_prefers_hosts_the_call_is_not_using() {
        for s in ["round_robin", "random", "p2c"] {
            let b = balancer(3, s);
            for _ in 0..50 {
                let first = b.pick(&[]).unwrap();
                let second = b.pick(&[first]).unwrap();
                let third = b.pick(&[first, second]).unwrap();
                assert_ne!(first, second, "{s}");
                assert!(third != first && third != second, "{s}");
                // More attempts than hosts: it still answers.
                assert!(b.pick(&[0, 1, 2]).is_some());
            }
        }
    }

    #[test]
    fn round_robin_cycles() {
        let b = balancer(3, "round_robin");
        let picks: Vec<_> = (0..6).map(|_| b.pick(&[]).unwrap()).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn p2c_prefers_fewer_in_flight() {
        let b = balancer(2, "p2c");
        b.host(0).in_flight.counter().add(10, Relaxed);
        for _ in 0..20 {
            assert_eq!(b.pick(&[]), Some(1));
        }
    }

    #[test]
    fn ejected_hosts_are_skipped_while_others_are_usable() {
        let b = balancer(2, "round_robin");
        b.report(0, false);
        b.report(0, false);
        for _ in 0..10 {
            assert_eq!(b.pick(&[]), Some(1));
        }
        // Both ejected: picking still works (the rule relaxes).
        b.report(1, false);
        b.report(1, false);
        assert!(b.pick(&[]).is_some());
        assert_eq!(b.host(0).ejections.load(Relaxed), 1);
    }
}
