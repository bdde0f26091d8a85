//! loadgen: a closed-loop load tool. C workers each send their next call when the last one
//! finished; at the end one JSON line reports throughput and latency.
//!
//! ```text
//! loadgen --url URL [--hosts URL,URL] --concurrency C (--requests M | --duration S)
//!         [--set name=value]... [--order-keys K] [--flush-every F] [--limit-key KEY]
//!         [--client tailrace|hyper|tower-hedge] [--semaphore N] [--variant NAME] [--warmup N]
//! ```
//!
//! `--client hyper` runs the same loop over a raw hyper-util pooled client (the baseline the
//! transport benchmark compares against); `--client tower-hedge` runs it over that same client
//! wrapped in `tower::hedge` at p95 (the baseline the hedging benchmark compares against).
//! Neither takes tailrace options. `--semaphore N` (with `--client hyper`) makes each raw call hold
//! a permit of one FIFO `tokio::sync::Semaphore` of N, which is what `tower::limit::ConcurrencyLimit`
//! does per call: the baseline for tailrace's `max_count`.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client as HyperClient};
use hyper_util::rt::{TokioExecutor, TokioTimer};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Which {
    Tailrace,
    Hyper,
    TowerHedge,
}

#[derive(Debug)]
struct Args {
    url: String,
    /// `url` as tailrace takes it: a full URL parsed once (like the hyper baseline's), a path
    /// as text.
    target: tailrace::RequestTarget,
    hosts: Option<String>,
    concurrency: usize,
    requests: Option<u64>,
    duration: Option<Duration>,
    sets: Vec<(String, String)>,
    order_keys: Option<u64>,
    flush_every: Option<u64>,
    /// `--tag-order`: calls carry `x-seq` (and `x-key`) and are submitted in index order, so the
    /// testbed's log can prove the order. Off, a keyed run measures the order gate alone.
    tag_order: bool,
    limit_key: Option<String>,
    client: Which,
    /// `--semaphore N`: the raw client's calls each hold one of N permits.
    semaphore: Option<usize>,
    variant: String,
    warmup: u64,
}

impl Args {
    /// `--url` when it is a full URL (parsed once, in `parse_args`).
    fn uri(&self) -> Option<&http::Uri> {
        match &self.target {
            tailrace::RequestTarget::Uri(u) => Some(u),
            tailrace::RequestTarget::Text(_) => None,
        }
    }
}

fn usage() -> &'static str {
    "usage: loadgen --url URL [--hosts URL,URL] --concurrency C (--requests M | --duration S)\n\
     \x20      [--set name=value]... [--order-keys K] [--flush-every F] [--tag-order]\n\
     \x20      [--limit-key KEY]\n\
     \x20      [--client tailrace|hyper|tower-hedge] [--semaphore N] [--variant NAME] [--warmup N]"
}

fn parse_args() -> Result<Args, String> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_env();
    let mut a = Args {
        url: String::new(),
        target: tailrace::RequestTarget::Text(String::new()),
        hosts: None,
        concurrency: 0,
        requests: None,
        duration: None,
        sets: Vec::new(),
        order_keys: None,
        flush_every: None,
        tag_order: false,
        limit_key: None,
        client: Which::Tailrace,
        semaphore: None,
        variant: String::new(),
        warmup: 0,
    };
    fn num<T: std::str::FromStr>(flag: &str, v: std::ffi::OsString) -> Result<T, String> {
        let s = v.to_string_lossy().into_owned();
        s.parse()
            .map_err(|_| format!("--{flag}: `{s}` is not a valid number"))
    }
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        let val = |p: &mut lexopt::Parser| p.value().map_err(|e| e.to_string());
        match arg {
            Long("url") => a.url = val(&mut p)?.to_string_lossy().into_owned(),
            Long("hosts") => a.hosts = Some(val(&mut p)?.to_string_lossy().into_owned()),
            Long("concurrency") => a.concurrency = num("concurrency", val(&mut p)?)?,
            Long("semaphore") => a.semaphore = Some(num("semaphore", val(&mut p)?)?),
            Long("requests") => a.requests = Some(num("requests", val(&mut p)?)?),
            Long("duration") => {
                let s: f64 = num("duration", val(&mut p)?)?;
                a.duration = Some(Duration::from_secs_f64(s));
            }
            Long("set") => {
                let kv = val(&mut p)?.to_string_lossy().into_owned();
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("--set `{kv}`: expected name=value"))?;
                a.sets.push((k.to_string(), v.to_string()));
            }
            Long("order-keys") => a.order_keys = Some(num("order-keys", val(&mut p)?)?),
            Long("flush-every") => a.flush_every = Some(num("flush-every", val(&mut p)?)?),
            Long("tag-order") => a.tag_order = true,
            Long("limit-key") => a.limit_key = Some(val(&mut p)?.to_string_lossy().into_owned()),
            Long("client") => {
                a.client = match val(&mut p)?.to_string_lossy().as_ref() {
                    "tailrace" => Which::Tailrace,
                    "hyper" => Which::Hyper,
                    "tower-hedge" => Which::TowerHedge,
                    other => {
                        return Err(format!(
                            "--client: `{other}` is not tailrace, hyper or tower-hedge"
                        ))
                    }
                }
            }
            Long("variant") => a.variant = val(&mut p)?.to_string_lossy().into_owned(),
            Long("warmup") => a.warmup = num("warmup", val(&mut p)?)?,
            Long("help") | Short('h') => {
                println!("{}", usage());
                std::process::exit(0);
            }
            other => return Err(format!("{}\n{}", other.unexpected(), usage())),
        }
    }
    if a.url.is_empty() {
        return Err(format!("--url is required\n{}", usage()));
    }
    a.target = tailrace::RequestTarget::Text(a.url.clone());
    if a.url.contains("://") {
        let uri: http::Uri = a.url.parse().map_err(|e| format!("--url {}: {e}", a.url))?;
        a.target = uri.into();
    }
    if a.concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    if a.requests.is_none() == a.duration.is_none() {
        return Err("give exactly one of --requests and --duration".into());
    }
    if a.order_keys == Some(0) || a.flush_every == Some(0) {
        return Err("--order-keys and --flush-every must be at least 1".into());
    }
    if a.tag_order && a.order_keys.is_none() && a.flush_every.is_none() {
        return Err("--tag-order needs --order-keys or --flush-every".into());
    }
    if a.semaphore == Some(0) || (a.semaphore.is_some() && a.client != Which::Hyper) {
        return Err("--semaphore N needs N >= 1 and --client hyper".into());
    }
    if a.client != Which::Tailrace
        && (!a.sets.is_empty()
            || a.order_keys.is_some()
            || a.flush_every.is_some()
            || a.limit_key.is_some()
            || a.hosts.is_some())
    {
        return Err(
            "--client hyper and tower-hedge take only --url, --concurrency, \
                    --requests/--duration, --variant and --warmup (they have no tailrace options)"
                .into(),
        );
    }
    if a.variant.is_empty() {
        a.variant = if let Some(n) = a.semaphore {
            format!("semaphore={n}")
        } else if a.sets.is_empty() {
            "plain".into()
        } else {
            a.sets
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        };
    }
    Ok(a)
}

/// What every worker shares: the call counter, the stop condition and the results.
struct Shared {
    next: AtomicU64,
    limit: Option<u64>,
    deadline: Option<Instant>,
    errors: AtomicU64,
    done: AtomicU64,
    hist: Mutex<Histogram<u64>>,
    /// Ordering needs submission order = call index order, so index and submit happen together.
    submit: Mutex<()>,
}

impl Shared {
    /// The next call index, or None when the run is over.
    fn take(&self) -> Option<u64> {
        if let Some(d) = self.deadline {
            if Instant::now() >= d {
                return None;
            }
        }
        let i = self.next.fetch_add(1, Relaxed);
        match self.limit {
            Some(m) if i >= m => None,
            _ => Some(i),
        }
    }

    fn record(&self, started: Instant, ok: bool) {
        if !ok {
            self.errors.fetch_add(1, Relaxed);
        }
        self.done.fetch_add(1, Relaxed);
        let us = (started.elapsed().as_micros() as u64).max(1);
        let _ = self.hist.lock().unwrap().record(us);
    }
}

fn new_shared(limit: Option<u64>, duration: Option<Duration>) -> Arc<Shared> {
    let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    h.auto(true);
    Arc::new(Shared {
        next: AtomicU64::new(0),
        limit,
        deadline: duration.map(|d| Instant::now() + d),
        errors: AtomicU64::new(0),
        done: AtomicU64::new(0),
        hist: Mutex::new(h),
        submit: Mutex::new(()),
    })
}

/// The order keys of `--order-keys K`: `k0` .. `k{K-1}`, each with its `x-key` header value, made
/// once (the load tool's own cost per call should not be what a keyed run measures).
fn order_keys(k: u64) -> Vec<(String, http::HeaderValue)> {
    (0..k)
        .map(|i| {
            let key = format!("k{i}");
            let value = http::HeaderValue::from_str(&key).expect("k<digits> is a header value");
            (key, value)
        })
        .collect()
}

fn tailrace_request(a: &Args, keys: &[(String, http::HeaderValue)], i: u64) -> tailrace::Request {
    static X_SEQ: http::HeaderName = http::HeaderName::from_static("x-seq");
    static X_KEY: http::HeaderName = http::HeaderName::from_static("x-key");
    let mut req = tailrace::Request::get(a.target.clone());
    if a.tag_order {
        // The testbed logs start/finish per x-seq (and x-key), which is how order is checked.
        req = req.typed_header(X_SEQ.clone(), http::HeaderValue::from(i));
    }
    if let Some(k) = a.order_keys {
        let (key, value) = &keys[(i % k) as usize];
        if a.tag_order {
            req = req.typed_header(X_KEY.clone(), value.clone());
        }
        req = req.order_key(key.as_str());
    }
    if let Some(f) = a.flush_every {
        req = req.flush(i % f == f - 1);
    }
    if let Some(l) = &a.limit_key {
        req = req.limit_key(l.clone());
    }
    req
}

/// The closed loop every client runs: `concurrency` workers, each timing one call at a time
/// until the run is over. `submit` takes the next call index from `shared` and starts that call
/// (or returns None when the run is over); `ok` says whether what the call's future gave is a
/// success. (The call's own future is awaited as it is: wrapping it in an `async` block would
/// keep it twice and copy it, a cost no caller awaiting `send` directly pays.)
async fn closed_loop<S, F>(
    concurrency: usize,
    shared: Arc<Shared>,
    submit: S,
    ok: fn(&F::Output) -> bool,
) where
    S: Fn(&Shared) -> Option<F> + Clone + Send + 'static,
    F: std::future::Future + Send,
    F::Output: Send + 'static,
{
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (shared, submit) = (shared.clone(), submit.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let started = Instant::now();
                let Some(call) = submit(&shared) else { break };
                let out = call.await;
                shared.record(started, ok(&out));
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
}

async fn run_tailrace(a: Arc<Args>, client: tailrace::Client, shared: Arc<Shared>) {
    let tag_order = a.tag_order;
    let concurrency = a.concurrency;
    let keys = Arc::new(a.order_keys.map(order_keys).unwrap_or_default());
    let submit = move |shared: &Shared| {
        // The log's check needs submission order = call index order: index and submit together.
        let _g = tag_order.then(|| shared.submit.lock().unwrap());
        let i = shared.take()?;
        Some(client.send(tailrace_request(&a, &keys, i)))
    };
    closed_loop(
        concurrency,
        shared,
        submit,
        |out| matches!(out, Ok(r) if r.status().is_success()),
    )
    .await
}

type Raw = HyperClient<HttpConnector, Full<Bytes>>;

fn raw_client() -> Raw {
    let mut tcp = HttpConnector::new();
    tcp.set_nodelay(true);
    let mut b = HyperClient::builder(TokioExecutor::new());
    b.pool_timer(TokioTimer::new()).pool_max_idle_per_host(1024);
    b.build(tcp)
}

/// One GET over the raw client, body read to the end; the status it answered with.
async fn raw_get(client: &Raw, uri: http::Uri) -> Result<http::StatusCode, BoxError> {
    let req = http::Request::get(uri).body(Full::new(Bytes::new()))?;
    let resp = client.request(req).await?;
    let status = resp.status();
    resp.into_body().collect().await?;
    Ok(status)
}

async fn run_hyper(a: Arc<Args>, client: Raw, shared: Arc<Shared>) {
    let uri = a.uri().expect("checked in main").clone();
    let semaphore = a
        .semaphore
        .map(|n| Arc::new(tokio::sync::Semaphore::new(n)));
    closed_loop(
        a.concurrency,
        shared,
        move |shared: &Shared| {
            shared.take()?;
            let (client, uri, semaphore) = (client.clone(), uri.clone(), semaphore.clone());
            Some(async move {
                let _permit = match &semaphore {
                    Some(s) => Some(s.acquire().await.expect("never closed")),
                    None => None,
                };
                matches!(raw_get(&client, uri).await, Ok(s) if s.is_success())
            })
        },
        |ok| *ok,
    )
    .await
}

/// Attempts sent by the tower-hedge service (originals and hedges), for the `attempts` field.
static TOWER_ATTEMPTS: AtomicU64 = AtomicU64::new(0);

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;
type OneAttempt = tower::util::BoxCloneSyncService<http::Uri, bool, std::io::Error>;
/// `tower::hedge::Hedge` is not `Clone`; its histogram must be shared by every worker, so the
/// workers share one under a lock held only for `ready` + `call` (not while the call runs).
type TowerHedge = Arc<tokio::sync::Mutex<tower::hedge::Hedge<OneAttempt, HedgeAll>>>;

/// tower::hedge's policy: every request may be hedged (GET), always allowed (tower has no budget
/// of its own; a user would add one by hand).
#[derive(Clone)]
struct HedgeAll;

impl tower::hedge::Policy<http::Uri> for HedgeAll {
    fn clone_request(&self, req: &http::Uri) -> Option<http::Uri> {
        Some(req.clone())
    }
    fn can_retry(&self, _req: &http::Uri) -> bool {
        true
    }
}

/// The raw hyper-util client as a tower service (whole body read, like every other client here),
/// under `tower::hedge` at p95 with tailrace's window (2 s) and minimum sample count (100).
fn tower_hedge_service(raw: Raw) -> TowerHedge {
    let one = tower::service_fn(move |uri: http::Uri| {
        let raw = raw.clone();
        let attempt: BoxFuture<Result<bool, std::io::Error>> = Box::pin(async move {
            TOWER_ATTEMPTS.fetch_add(1, Relaxed);
            let status = raw_get(&raw, uri).await.map_err(std::io::Error::other)?;
            if status.is_server_error() {
                // Like tailrace's default failure set: a 5xx is not an answer worth winning.
                return Err(std::io::Error::other(format!("status {status}")));
            }
            Ok(status.is_success())
        });
        attempt
    });
    let one = OneAttempt::new(one);
    Arc::new(tokio::sync::Mutex::new(tower::hedge::Hedge::new(
        one,
        HedgeAll,
        100,
        0.95,
        Duration::from_secs(2),
    )))
}

async fn run_tower_hedge(a: Arc<Args>, svc: TowerHedge, shared: Arc<Shared>) {
    use tower::{Service, ServiceExt};
    let uri = a.uri().expect("checked in main").clone();
    closed_loop(
        a.concurrency,
        shared,
        move |shared: &Shared| {
            shared.take()?;
            let (svc, uri) = (svc.clone(), uri.clone());
            Some(async move {
                let call = {
                    let mut svc = svc.lock().await;
                    match svc.ready().await {
                        Ok(svc) => svc.call(uri),
                        Err(_) => return false,
                    }
                };
                matches!(call.await, Ok(true))
            })
        },
        |ok| *ok,
    )
    .await
}

/// CPU time (user + system) this process has used so far.
fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The client a run drives.
#[derive(Clone)]
enum Runner {
    Tailrace(tailrace::Client),
    Hyper(Raw),
    TowerHedge(Raw),
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let (handle, runner) = match a.client {
        Which::Tailrace => {
            let mut b = tailrace::Client::builder();
            if let Some(h) = &a.hosts {
                b = b.set("hosts", h);
            }
            for (k, v) in &a.sets {
                b = b.set(k, v);
            }
            match b.build() {
                Ok(c) => (tailrace::runtime::handle(), Runner::Tailrace(c)),
                Err(e) => {
                    eprintln!("loadgen: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        Which::Hyper | Which::TowerHedge => {
            if a.uri().map(http::Uri::scheme_str) != Some(Some("http")) {
                eprintln!("loadgen: --client hyper/tower-hedge needs a full http:// --url");
                return ExitCode::from(2);
            }
            // The same thread count tailrace's runtime would use, for a like-for-like comparison.
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(tailrace::runtime::worker_threads())
                .enable_all()
                .build()
                .expect("runtime");
            let h = rt.handle().clone();
            std::mem::forget(rt);
            let raw = {
                let _e = h.enter();
                raw_client()
            };
            let runner = match a.client {
                Which::Hyper => Runner::Hyper(raw),
                _ => Runner::TowerHedge(raw),
            };
            (h, runner)
        }
    };
    // tower::hedge keeps its histogram inside the service, so one service serves every run
    // (warm-up included), like tailrace's client does.
    let tower_svc = match &runner {
        Runner::TowerHedge(raw) => {
            let _e = handle.enter();
            Some(tower_hedge_service(raw.clone()))
        }
        _ => None,
    };

    let run = |shared: Arc<Shared>| {
        let (a, runner, tower_svc) = (a.clone(), runner.clone(), tower_svc.clone());
        handle.block_on(async move {
            match (runner, tower_svc) {
                (Runner::Tailrace(c), _) => run_tailrace(a, c, shared).await,
                (Runner::Hyper(r), _) => run_hyper(a, r, shared).await,
                (Runner::TowerHedge(_), Some(svc)) => run_tower_hedge(a, svc, shared).await,
                (Runner::TowerHedge(_), None) => unreachable!("built above"),
            }
        })
    };
    let tailrace_client = match &runner {
        Runner::Tailrace(c) => Some(c.clone()),
        _ => None,
    };
    if a.warmup > 0 {
        run(new_shared(Some(a.warmup), None));
    }
    // Counters are cumulative; the warm-up's share is subtracted from what is reported.
    let before = tailrace_client.as_ref().map(|c| c.stats());
    let attempts_before = match &before {
        Some(s) => s.attempts,
        None => TOWER_ATTEMPTS.load(Relaxed),
    };
    let shared = new_shared(a.requests, a.duration);
    let cpu_before = process_cpu();
    let started = Instant::now();
    run(shared.clone());
    let secs = started.elapsed().as_secs_f64();
    let cpu = process_cpu().saturating_sub(cpu_before);

    let done = shared.done.load(Relaxed);
    let h = shared.hist.lock().unwrap();
    let q = |p: f64| {
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(p)
        }
    };
    let attempts = match (&tailrace_client, &tower_svc) {
        (Some(c), _) => c.stats().attempts - attempts_before,
        (_, Some(_)) => TOWER_ATTEMPTS.load(Relaxed) - attempts_before,
        _ => done,
    };
    let mut line = serde_json::json!({
        "client": match a.client {
            Which::Tailrace => "tailrace",
            Which::Hyper => "hyper-util",
            Which::TowerHedge => "tower-hedge",
        },
        "variant": a.variant,
        "concurrency": a.concurrency,
        "requests": done,
        "errors": shared.errors.load(Relaxed),
        "secs": (secs * 1000.0).round() / 1000.0,
        "rps": (done as f64 / secs).round(),
        "p50_us": q(0.5),
        "p99_us": q(0.99),
        "p999_us": q(0.999),
        "max_us": h.max(),
        "attempts": attempts,
        // Client-side CPU (user + system, this process) per call: what the client costs.
        "cpu_us_per_call": if done == 0 { 0.0 } else {
            (cpu.as_secs_f64() * 1e7 / done as f64).round() / 10.0
        },
    });
    if let (Some(c), Some(b)) = (&tailrace_client, &before) {
        let s = c.stats();
        line["hedges_sent"] = (s.hedges_sent - b.hedges_sent).into();
        line["hedges_won"] = (s.hedges_won - b.hedges_won).into();
        line["hedges_skipped_budget"] = (s.hedges_skipped_budget - b.hedges_skipped_budget).into();
        line["hedge_delay_us"] = s.hedge_delay_us.into();
    }
    println!("{line}");
    ExitCode::SUCCESS
}
