//! How late does a hedge go out? Measures, in one run on this machine:
//!
//! 1. `tokio::time::sleep(d)` on tailrace's runtime for sub-millisecond and millisecond `d` — what
//!    a hedge delay built on tokio's 1 ms timer wheel would give;
//! 2. the real hedge gap: with `hedge_delay_ms = d` and a backend that holds every request 20 ms,
//!    the time between attempt 0 and attempt 1 reaching the testbed (from its own log), minus `d`.
//!
//! Run: `cargo run --release --example timer_precision`

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tailrace::{Client, Request};
use tailrace_testbed::{Config as TestbedConfig, Testbed, START};

const SAMPLES: usize = 300;
const DELAYS_US: [u64; 4] = [100, 250, 500, 2000];

fn main() {
    println!("lateness = actual delay - asked delay (µs), {SAMPLES} samples each\n");
    println!(
        "{:<34} {:>8} {:>8} {:>8} {:>8}",
        "mechanism", "asked", "p50", "p99", "max"
    );
    for d in DELAYS_US {
        let h = tokio_sleep_lateness(Duration::from_micros(d));
        row("tokio::time::sleep", d, &h);
    }
    let testbed = Testbed::start(TestbedConfig::default()).expect("testbed");
    for d in DELAYS_US {
        let h = hedge_gap_lateness(&testbed, Duration::from_micros(d));
        row("tailrace hedge gap (testbed log)", d, &h);
    }
}

fn row(name: &str, asked_us: u64, h: &Histogram<u64>) {
    println!(
        "{:<34} {:>8} {:>8} {:>8} {:>8}",
        name,
        asked_us,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.max()
    );
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 10_000_000, 3).expect("bounds")
}

fn tokio_sleep_lateness(d: Duration) -> Histogram<u64> {
    tailrace::runtime::handle().block_on(async move {
        let mut h = histogram();
        for _ in 0..SAMPLES {
            let t = Instant::now();
            tokio::time::sleep(d).await;
            let late = t.elapsed().saturating_sub(d).as_micros() as u64;
            h.record(late.max(1)).expect("in range");
        }
        h
    })
}

/// Calls one at a time (so the machine is otherwise idle), each with a 20 ms backend so the
/// hedge always fires; the gap is read from the testbed's start events (attempt 0 vs 1).
fn hedge_gap_lateness(testbed: &Testbed, d: Duration) -> Histogram<u64> {
    let client = Client::builder()
        .hosts([testbed.url()])
        .set("concurrent_calls", "2")
        .set("hedge_delay_ms", &format!("{}", d.as_secs_f64() * 1000.0))
        .build()
        .expect("client");
    testbed.reset();
    for i in 0..SAMPLES {
        let req = Request::get("/gap?delay_ms=20").header("x-seq", &i.to_string());
        client.send_blocking(req).expect("call");
    }
    let stats = testbed.stats();
    let mut first = vec![None; SAMPLES];
    let mut second = vec![None; SAMPLES];
    for e in stats.events.iter().filter(|e| e.event == START) {
        let (Some(seq), Some(attempt)) = (e.seq, e.attempt) else {
            continue;
        };
        match attempt {
            0 => first[seq as usize] = Some(e.t_us),
            1 => second[seq as usize] = Some(e.t_us),
            _ => {}
        }
    }
    let mut h = histogram();
    for (a, b) in first.iter().zip(&second) {
        if let (Some(a), Some(b)) = (a, b) {
            let late = b.saturating_sub(*a).saturating_sub(d.as_micros() as u64);
            h.record(late.max(1)).expect("in range");
        }
    }
    h
}
