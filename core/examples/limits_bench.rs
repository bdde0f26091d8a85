//! Two measurements for `tests/bench/limits.sh` (issue "limits", "How we will measure it"):
//!
//! ```text
//! limits_bench memory URL [CALLS] [CONCURRENCY]
//!     CALLS calls (default 1,000,000), each with a new order key and a new limit key, closed loop;
//!     prints RSS before, at the end and the peak, as one JSON line.
//! limits_bench fanout URL [ROUNDS]
//!     1,000 calls submitted at once from this one thread to URL (a 10 ms backend), waited for
//!     together; cold (new connections) then warm rounds, over HTTP/1.1 and over one HTTP/2
//!     connection; prints each round's wall time as JSON lines.
//! ```
//!
//! URL is a testbed base URL (`http://127.0.0.1:PORT`), started by the script as its own process
//! so its event log does not count in this process's memory.

use std::time::{Duration, Instant};

use tailrace::{Call, Client, Request};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let num = |i: usize, default: u64| arg(i).map_or(default, |v| v.parse().expect("a number"));
    match (arg(0), arg(1)) {
        (Some("memory"), Some(url)) => memory(url, num(2, 1_000_000), num(3, 256) as usize),
        (Some("fanout"), Some(url)) => fanout(url, num(2, 5) as usize),
        _ => {
            eprintln!("usage: limits_bench memory URL [CALLS] [CONCURRENCY] | fanout URL [ROUNDS]");
            std::process::exit(2);
        }
    }
}

/// Resident set size of this process, and its peak, in KiB (Linux).
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn memory(url: &str, calls: u64, concurrency: usize) {
    let client = Client::builder()
        .hosts([url])
        .set("max_count", "4")
        .build()
        .expect("client");
    let run = |prefix: &'static str, to: u64| {
        let client = client.clone();
        tailrace::runtime::block_on(async move {
            let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let mut workers = Vec::new();
            for _ in 0..concurrency {
                let (client, next) = (client.clone(), next.clone());
                workers.push(tokio::spawn(async move {
                    let mut errors = 0u64;
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= to {
                            break;
                        }
                        // A key never seen before, for the order gate and for the limiter.
                        let key = format!("{prefix}-{i}");
                        let req = Request::get("/m").order_key(&key).limit_key(key);
                        if client.send(req).await.is_err() {
                            errors += 1;
                        }
                    }
                    errors
                }));
            }
            let mut errors = 0;
            for w in workers {
                errors += w.await.unwrap_or(1);
            }
            errors
        })
        .expect("not on a runtime thread")
    };
    // Warm up pools, the runtime and the allocator with keys of their own.
    let warm_errors = run("warm", 50_000);
    let (before, _) = rss_kib();
    let started = Instant::now();
    let errors = run("key", calls);
    let secs = started.elapsed().as_secs_f64();
    let (after, peak) = rss_kib();
    let s = client.stats();
    let line = serde_json::json!({
        "bench": "memory",
        "calls": calls,
        "distinct_keys": calls,
        "concurrency": concurrency,
        "errors": errors + warm_errors,
        "secs": (secs * 100.0).round() / 100.0,
        "rps": (calls as f64 / secs).round(),
        "rss_before_kib": before,
        "rss_after_kib": after,
        "rss_growth_mib": ((after as f64 - before as f64) / 1024.0 * 10.0).round() / 10.0,
        "rss_peak_kib": peak,
        "left_in_flight": s.in_flight,
        "left_queued": s.queued,
        "left_waiting_for_order": s.waiting_for_order,
    });
    println!("{line}");
}

fn fanout(url: &str, rounds: usize) {
    const CALLS: usize = 1000;
    for http2 in [false, true] {
        let client = Client::builder()
            .hosts([url])
            .http2_prior_knowledge(http2)
            .build()
            .expect("client");
        for round in 0..=rounds {
            let started = Instant::now();
            // Submitted at once from this one thread; each call is a task on the shared runtime.
            let calls: Vec<Call> = (0..CALLS)
                .map(|_| client.spawn(Request::get("/f?delay_ms=10")))
                .collect();
            let submitted = started.elapsed();
            let ok = tailrace::runtime::block_on(async move {
                let mut ok = 0;
                for c in calls {
                    ok += c.await.is_ok_and(|r| r.status() == 200) as usize;
                }
                ok
            })
            .expect("not on a runtime thread");
            let wall = started.elapsed();
            let line = serde_json::json!({
                "bench": "fanout",
                "protocol": if http2 { "h2c, one connection" } else { "HTTP/1.1, pooled" },
                "round": if round == 0 { "cold" } else { "warm" },
                "calls": CALLS,
                "ok": ok,
                "submit_ms": ms(submitted),
                "wall_ms": ms(wall),
            });
            println!("{line}");
        }
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}
