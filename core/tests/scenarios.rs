//! Runs every scenario in `tests/scenarios/*.json` (format: `tests/scenarios/README.md`) against
//! a real testbed and checks each expectation from the testbed's log and the client's stats.
//! Prints `N passed, N failed` and each failure's scenario, rule and difference.
//!
//! `SCENARIO=substring cargo test -p tailrace --test scenarios` runs only matching scenarios.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use tailrace::{Client, Request};
use tailrace_testbed::{Config as TestbedConfig, Event, Stats as TestbedStats, Testbed};

/// A runner that hits this fails the scenario as hung.
const GUARD: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    name: String,
    rule: String,
    #[serde(default)]
    client: BTreeMap<String, String>,
    calls: Vec<CallSpec>,
    #[serde(default)]
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallSpec {
    id: String,
    #[serde(default = "get")]
    method: String,
    order_key: Option<String>,
    #[serde(default)]
    flush: bool,
    limit_key: Option<String>,
    idempotent: Option<bool>,
    timeout_ms: Option<u64>,
    #[serde(default)]
    delay_ms: u64,
    #[serde(default = "ok_status")]
    status: u16,
    #[serde(default)]
    submit_after_ms: u64,
    cancel_after_ms: Option<u64>,
}

fn get() -> String {
    "GET".into()
}

fn ok_status() -> u16 {
    200
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    outcomes: Option<BTreeMap<String, String>>,
    finished_before_start: Option<Vec<[String; 2]>>,
    started_before_finish: Option<Vec<[String; 2]>>,
    start_order: Option<Vec<Vec<String>>>,
    max_in_flight: Option<u64>,
    max_in_flight_at_most: Option<u64>,
    not_sent: Option<Vec<String>>,
    sent: Option<Vec<String>>,
    stats: Option<BTreeMap<String, f64>>,
}

fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/scenarios")
}

fn load_all() -> Vec<(PathBuf, Result<Scenario, String>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenario_dir())
        .expect("tests/scenarios exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let parsed = std::fs::read_to_string(&p)
                .map_err(|e| e.to_string())
                .and_then(|s| serde_json::from_str::<Scenario>(&s).map_err(|e| e.to_string()));
            (p, parsed)
        })
        .collect()
}

/// What happened to the calls: outcome per id, and the testbed's log once everything ended.
struct Run {
    outcomes: BTreeMap<String, String>,
    log: TestbedStats,
    stats: Value,
}

fn run(s: &Scenario) -> Result<Run, String> {
    let testbed = Testbed::start(TestbedConfig::default()).map_err(|e| e.to_string())?;
    let mut builder = Client::builder().set("hosts", &testbed.url());
    for (k, v) in &s.client {
        builder = builder.set(k, v);
    }
    let client = builder.build().map_err(|e| format!("client: {e}"))?;
    let started = Instant::now();
    let mut pending = Vec::new();
    for (i, c) in s.calls.iter().enumerate() {
        if c.submit_after_ms > 0 {
            std::thread::sleep(Duration::from_millis(c.submit_after_ms));
        }
        let call = client.spawn(request(c, i)?);
        if let (Some(ms), Some(abort)) = (c.cancel_after_ms, call.abort_handle()) {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(ms));
                abort.abort();
            });
        }
        pending.push((c.id.clone(), call));
    }
    let mut outcomes = BTreeMap::new();
    for (id, call) in pending {
        let left = GUARD.saturating_sub(started.elapsed());
        // The timer is created inside the runtime: `timeout` needs its clock.
        let outcome =
            tailrace::runtime::block_on(async move { tokio::time::timeout(left, call).await })
                .map_err(|e| e.to_string())?
                .map_err(|_| format!("hung: call `{id}` did not end within {GUARD:?}"))?;
        let name = match outcome {
            Ok(_) => "ok".to_string(),
            Err(e) => e.kind().as_str().to_string(),
        };
        outcomes.insert(id, name);
    }
    let log = testbed
        .wait_until(Duration::from_secs(10), |t| t.in_flight == 0)
        .map_err(|_| "the testbed still had requests in flight 10 s after every call ended")?;
    let stats = serde_json::from_str(&client.stats().to_json()).map_err(|e| e.to_string())?;
    Ok(Run {
        outcomes,
        log,
        stats,
    })
}

/// The request the README specifies for call number `i`.
fn request(c: &CallSpec, i: usize) -> Result<Request, String> {
    let url = format!(
        "/scenario/{}?delay_ms={}&status={}",
        c.id, c.delay_ms, c.status
    );
    let mut req = Request::new(&c.method, &url).header("x-seq", &i.to_string());
    let mut set = |name: &str, v: String| {
        req.set(name, &v)
            .map_err(|e| format!("call `{}`: {e}", c.id))
    };
    if let Some(k) = &c.order_key {
        set("order_key", k.clone())?;
    }
    if c.flush {
        set("flush", "true".into())?;
    }
    if let Some(k) = &c.limit_key {
        set("limit_key", k.clone())?;
    }
    if let Some(b) = c.idempotent {
        set("idempotent", b.to_string())?;
    }
    if let Some(t) = c.timeout_ms {
        set("timeout_ms", t.to_string())?;
    }
    if let Some(k) = c.order_key.as_deref().filter(|k| !k.is_empty()) {
        req = req.header("x-key", k);
    }
    Ok(req)
}

/// Log positions of one call's events (every attempt of it).
struct Marks {
    first_start: Option<usize>,
    last_start: Option<usize>,
    last_end: Option<usize>,
    seen: bool,
}

fn marks(events: &[Event], seq: usize) -> Marks {
    let mut m = Marks {
        first_start: None,
        last_start: None,
        last_end: None,
        seen: false,
    };
    for (pos, e) in events.iter().enumerate() {
        if e.seq != Some(seq as i64) {
            continue;
        }
        m.seen = true;
        if e.event == tailrace_testbed::START {
            m.first_start.get_or_insert(pos);
            m.last_start = Some(pos);
        } else {
            m.last_end = Some(pos);
        }
    }
    m
}

fn check(s: &Scenario, r: &Run) -> Vec<String> {
    let mut bad = Vec::new();
    let seq_of = |id: &str| s.calls.iter().position(|c| c.id == id);
    let mark = |id: &str| -> Result<Marks, String> {
        seq_of(id)
            .map(|i| marks(&r.log.events, i))
            .ok_or_else(|| format!("expect names unknown call `{id}`"))
    };
    if let Some(want) = &s.expect.outcomes {
        for (id, w) in want {
            let got = r.outcomes.get(id).map_or("(no such call)", String::as_str);
            if got != w {
                bad.push(format!("outcome of `{id}`: expected {w}, got {got}"));
            }
        }
    }
    for [a, b] in s.expect.finished_before_start.iter().flatten() {
        match (mark(a), mark(b)) {
            (Ok(ma), Ok(mb)) => match (ma.last_end, mb.first_start) {
                (Some(end), Some(start)) if end < start => {}
                (Some(end), Some(start)) => bad.push(format!(
                    "`{b}` started (log #{start}) before `{a}` ended (log #{end})"
                )),
                _ => bad.push(format!(
                    "finished_before_start [{a}, {b}]: both must reach the testbed \
                     (`{a}` ended: {}, `{b}` started: {})",
                    ma.last_end.is_some(),
                    mb.first_start.is_some()
                )),
            },
            (Err(e), _) | (_, Err(e)) => bad.push(e),
        }
    }
    for [a, b] in s.expect.started_before_finish.iter().flatten() {
        match (mark(a), mark(b)) {
            (Ok(ma), Ok(mb)) => match (ma.first_start, mb.last_end) {
                (Some(start), Some(end)) if start < end => {}
                (Some(start), Some(end)) => bad.push(format!(
                    "`{a}` started (log #{start}) only after `{b}` ended (log #{end}): it waited"
                )),
                _ => bad.push(format!(
                    "started_before_finish [{a}, {b}]: both must reach the testbed"
                )),
            },
            (Err(e), _) | (_, Err(e)) => bad.push(e),
        }
    }
    for order in s.expect.start_order.iter().flatten() {
        let mut got: Vec<(usize, &str)> = Vec::new();
        for id in order {
            match mark(id) {
                Ok(m) => match m.first_start {
                    Some(p) => got.push((p, id)),
                    None => bad.push(format!("start_order: `{id}` never started")),
                },
                Err(e) => bad.push(e),
            }
        }
        got.sort();
        let got: Vec<&str> = got.into_iter().map(|(_, id)| id).collect();
        if got.len() == order.len() && got != *order {
            bad.push(format!("start order: expected {order:?}, got {got:?}"));
        }
    }
    if let Some(n) = s.expect.max_in_flight {
        if r.log.max_in_flight != n {
            bad.push(format!(
                "testbed max_in_flight: expected {n}, got {}",
                r.log.max_in_flight
            ));
        }
    }
    if let Some(n) = s.expect.max_in_flight_at_most {
        if r.log.max_in_flight > n {
            bad.push(format!(
                "testbed max_in_flight: expected at most {n}, got {}",
                r.log.max_in_flight
            ));
        }
    }
    for id in s.expect.not_sent.iter().flatten() {
        match mark(id) {
            Ok(m) if m.seen => bad.push(format!("`{id}` reached the testbed but must not")),
            Ok(_) => {}
            Err(e) => bad.push(e),
        }
    }
    for id in s.expect.sent.iter().flatten() {
        match mark(id) {
            Ok(m) if !m.seen => bad.push(format!("`{id}` never reached the testbed")),
            Ok(_) => {}
            Err(e) => bad.push(e),
        }
    }
    for (key, want) in s.expect.stats.iter().flatten() {
        let got = match key.split_once('.') {
            // The per-kind error map lists only kinds that occurred: a kind the library knows
            // and the map lacks is 0; a name it does not know (a typo) is an error.
            Some(("errors", k)) => match r.stats["errors"].get(k) {
                Some(n) => n.clone(),
                None if tailrace::ErrorKind::ALL.iter().any(|e| e.as_str() == k) => Value::from(0),
                None => Value::Null,
            },
            Some((map, k)) => r.stats[map].get(k).cloned().unwrap_or(Value::Null),
            None => r.stats[key.as_str()].clone(),
        };
        match got.as_f64() {
            Some(g) if g == *want => {}
            _ => bad.push(format!("stats `{key}`: expected {want}, got {got}")),
        }
    }
    bad
}

#[test]
fn every_scenario_holds_against_the_testbed() {
    let filter = std::env::var("SCENARIO").unwrap_or_default();
    let all = load_all();
    assert!(
        all.len() >= 20 || !filter.is_empty(),
        "expected at least 20 scenario files, found {}",
        all.len()
    );
    let (mut passed, mut failed) = (0, 0);
    let mut report = String::new();
    for (path, parsed) in all {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let s = match parsed {
            Ok(s) => s,
            Err(e) => {
                failed += 1;
                report.push_str(&format!("FAIL {file}: not a valid scenario: {e}\n"));
                continue;
            }
        };
        if !filter.is_empty() && !s.name.contains(&filter) && !file.contains(&filter) {
            continue;
        }
        let problems = match run(&s) {
            Ok(r) => check(&s, &r),
            Err(e) => vec![e],
        };
        if problems.is_empty() {
            passed += 1;
            println!("ok   {}", s.name);
        } else {
            failed += 1;
            report.push_str(&format!(
                "FAIL {} ({file})\n     rule: {}\n",
                s.name, s.rule
            ));
            for p in problems {
                report.push_str(&format!("     - {p}\n"));
            }
        }
    }
    print!("{report}");
    println!("{passed} passed, {failed} failed");
    assert_eq!(failed, 0, "scenario failures:\n{report}");
}
