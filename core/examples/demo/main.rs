//! The demo: a testbed with a long tail (1% of answers take 100 ms, the rest 1 ms) on 127.0.0.1,
//! the same closed-loop load sent plain, KrakenD-style (3 copies at once), with a fixed hedge
//! delay and with an adaptive one (p95, 5% budget); one table of what each did to the tail, CDF
//! and PDF plots of the four latency distributions (like KrakenD's graphs), and a second run
//! against a server failing 10% of calls: plain vs 3 copies.
//!
//! Run: `cargo run --release --example demo`

mod plot;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hdrhistogram::Histogram;
use tailrace::{Client, Request};
use tailrace_testbed::{Config as TestbedConfig, Testbed};

const CONCURRENCY: usize = 16;
const CALLS: u64 = 10_000;

/// What one variant's run measured.
pub struct Run {
    pub name: &'static str,
    pub hist: Histogram<u64>,
    pub samples_us: Vec<u64>,
    pub failed: u64,
    pub calls: u64,
    pub attempts: u64,
    pub secs: f64,
}

/// Send `CALLS` calls through `client`, `CONCURRENCY` at a time, each sent when the last ended.
fn run(name: &'static str, client: Client) -> Run {
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(Mutex::new(Vec::with_capacity(CALLS as usize)));
    let started = Instant::now();
    tailrace::runtime::handle().block_on(async {
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let (client, next, failed, samples) = (
                    client.clone(),
                    next.clone(),
                    failed.clone(),
                    samples.clone(),
                );
                tokio::spawn(async move {
                    while next.fetch_add(1, Relaxed) < CALLS {
                        let t = Instant::now();
                        let ok = matches!(
                            client.send(Request::get("/demo")).await,
                            Ok(r) if r.status().is_success()
                        );
                        if !ok {
                            failed.fetch_add(1, Relaxed);
                        }
                        samples.lock().unwrap().push(t.elapsed().as_micros() as u64);
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
    });
    let samples_us = std::mem::take(&mut *samples.lock().unwrap());
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for &s in &samples_us {
        hist.record(s.max(1)).unwrap();
    }
    Run {
        name,
        hist,
        samples_us,
        failed: failed.load(Relaxed),
        calls: CALLS,
        attempts: client.stats().attempts,
        secs: started.elapsed().as_secs_f64(),
    }
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

fn print_table(runs: &[Run]) {
    println!(
        "{:<34} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "variant", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "extra %", "failed", "calls/s"
    );
    for r in runs {
        println!(
            "{:<34} {:>7} {:>7} {:>8} {:>8} {:>8.2} {:>8} {:>8.0}",
            r.name,
            ms(r.hist.value_at_quantile(0.5)),
            ms(r.hist.value_at_quantile(0.99)),
            ms(r.hist.value_at_quantile(0.999)),
            ms(r.hist.max()),
            (r.attempts as f64 / r.calls as f64 - 1.0) * 100.0,
            r.failed,
            r.calls as f64 / r.secs,
        );
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tail = Testbed::start(TestbedConfig {
        latency: "tail:0.01:1000:100000".parse()?,
        ..TestbedConfig::default()
    })?;
    println!(
        "testbed {}: 1% of answers take 100 ms, the rest 1 ms. {CALLS} calls per variant, \
         {CONCURRENCY} at a time.\n",
        tail.url()
    );
    let base = |url: &str| Client::builder().hosts([url]);
    let url = tail.url();
    let runs = vec![
        run("plain", base(&url).build()?),
        run(
            "KrakenD-style: 3 at once",
            // KrakenD's: every call gets its 3 copies, no budget.
            base(&url)
                .concurrent_calls(3)
                .set("hedge_max_extra_load", "")
                .build()?,
        ),
        run(
            "fixed delay: 2 copies, 3 ms",
            base(&url)
                .concurrent_calls(2)
                .set("hedge_delay_ms", "3")
                .build()?,
        ),
        run(
            "adaptive: p95 delay, 5% budget",
            base(&url)
                .concurrent_calls(2)
                .hedge_percentile(95.0)
                .hedge_max_extra_load(0.05)
                .set("hedge_delay_ms", "3")
                .build()?,
        ),
    ];
    print_table(&runs);

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/demo");
    std::fs::create_dir_all(&dir)?;
    let dir = dir.canonicalize()?;
    let (cdf, pdf) = plot::cdf_and_pdf(&runs, &dir)?;
    println!("\nplots: {}\n       {}", cdf.display(), pdf.display());

    let failing = Testbed::start(TestbedConfig {
        latency: "fixed:1000".parse()?,
        error_rate: 0.10,
        ..TestbedConfig::default()
    })?;
    let url = failing.url();
    println!("\ntestbed {url}: 10% of answers are 503.\n");
    let runs = vec![
        run("plain", base(&url).build()?),
        run(
            "3 copies at once",
            base(&url)
                .concurrent_calls(3)
                .set("hedge_max_extra_load", "")
                .build()?,
        ),
    ];
    print_table(&runs);
    for r in &runs {
        println!(
            "{:<34} failed calls: {:.3}%",
            r.name,
            r.failed as f64 * 100.0 / r.calls as f64
        );
    }
    Ok(())
}
