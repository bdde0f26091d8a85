//! The `testbed` executable: its one-line stdout contract, its flags, its exit.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::*;

const EXE: &str = env!("CARGO_BIN_EXE_testbed");

/// A running `testbed` process; killed if the test ends without waiting for it.
struct Proc {
    child: Child,
    port: u16,
    /// What the process writes to stdout after the port line, once stdout closes.
    rest: mpsc::Receiver<String>,
}

impl Proc {
    fn start(args: &[&str]) -> Proc {
        let mut child = Command::new(EXE)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn testbed");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            let mut rest = String::new();
            let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
            let _ = tx.send(rest);
        });
        let line = rx.recv_timeout(LIMIT);
        let port = match &line {
            Ok(line) if line.ends_with('\n') => line.trim_end().parse().ok(),
            _ => None,
        };
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the first line of stdout must be the port and a newline: {line:?}");
        };
        Proc {
            child,
            port,
            rest: rx,
        }
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "testbed did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(EXE)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run testbed");
    assert!(out.stdout.is_empty(), "nothing on stdout when failing");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn prints_only_the_port_serves_and_exits_when_stdin_closes() {
    let mut proc = Proc::start(&["--port", "0", "--exit-on-stdin-eof"]);
    let res = get(proc.port, "/?delay_ms=1").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "ok");
    drop(proc.child.stdin.take());
    assert!(proc.wait().success());
    // Harnesses read stdout line by line: nothing may follow the port.
    assert_eq!(proc.rest.recv_timeout(LIMIT).unwrap(), "");
}

#[tokio::test]
async fn latency_and_error_rate_flags_set_the_defaults() {
    let proc = Proc::start(&[
        "--latency",
        "fixed:30000",
        "--error-rate",
        "1",
        "--threads",
        "1",
    ]);
    let t0 = Instant::now();
    let res = get(proc.port, "/").await;
    assert_eq!(res.status, 503);
    assert!(t0.elapsed() >= Duration::from_millis(30));
    assert_eq!(
        get(proc.port, "/?error_rate=0&delay_ms=0").await.status,
        200
    );
}

#[tokio::test]
async fn tls_writes_the_ca_before_printing_the_port() {
    let ca_out = std::env::temp_dir().join(format!("testbed-bin-ca-{}.pem", std::process::id()));
    let proc = Proc::start(&["--tls", "--ca-out", ca_out.to_str().unwrap()]);
    let ca = std::fs::read_to_string(&ca_out).unwrap();
    let connector = tls_connector(&ca, &[b"h2"]);
    let stream = tls_connect(&connector, proc.port, "localhost")
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    drop(proc);
    std::fs::remove_file(ca_out).unwrap();
}

#[test]
fn bad_flags_exit_2_naming_the_flag() {
    for (args, named) in [
        (&["--bogus"][..], "--bogus"),
        (&["--port", "seventy"], "--port"),
        (&["--port", "70000"], "--port"),
        (&["--port"], "--port"),
        (&["--latency", "fixed:soon"], "--latency"),
        (&["--latency", "uniform:1:2"], "--latency"),
        (&["--error-rate", "1.5"], "--error-rate"),
        (&["--threads", "0"], "--threads"),
        (&["--log-cap", "-1"], "--log-cap"),
        (&["--tls"], "--ca-out"),
        (&["--ca-out", "x.pem"], "--ca-out"),
        (&["--tls-handshakes", "1"], "--tls-handshakes"),
        (
            &["--tls", "--ca-out", "x.pem", "--tls-handshakes", "many"],
            "--tls-handshakes",
        ),
    ] {
        let (code, stderr) = run_to_exit(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}

#[test]
fn help_exits_0() {
    let out = Command::new(EXE).arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--exit-on-stdin-eof"));
}

#[test]
fn a_busy_port_exits_1() {
    let tb = tailrace_testbed::Testbed::start(tailrace_testbed::Config::default()).unwrap();
    let (code, stderr) = run_to_exit(&["--port", &tb.port().to_string()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot start"), "{stderr}");
}

/// The load tool the benchmarks run: every client and every limit/ordering flag completes a short
/// closed loop against a real testbed with no errors, and reports what it did as one JSON line.
/// (The benchmarks are not run by the test command; this keeps them from rotting.)
#[test]
fn loadgen_runs_every_client_and_flag_without_errors() {
    const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");
    let proc = Proc::start(&["--port", "0", "--threads", "1"]);
    let url = format!("http://127.0.0.1:{}/fast", proc.port);
    let runs: &[&[&str]] = &[
        &[],
        &["--set", "max_count=4", "--set", "max_queue=1000"],
        &["--order-keys", "10", "--flush-every", "50"],
        &["--order-keys", "10", "--flush-every", "50", "--tag-order"],
        &["--limit-key", "tenant-a", "--set", "max_count=2"],
        &["--client", "hyper"],
        &["--client", "hyper", "--semaphore", "4"],
        &["--client", "tower-hedge"],
    ];
    for extra in runs {
        let out = Command::new(LOADGEN)
            .args(["--url", &url, "--concurrency", "8", "--requests", "300"])
            .args(*extra)
            .output()
            .expect("run loadgen");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "loadgen {extra:?}: {stderr}");
        let line = String::from_utf8_lossy(&out.stdout);
        let report: serde_json::Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("loadgen {extra:?}: not one JSON line ({e}): {line}"));
        assert_eq!(report["requests"], 300, "{extra:?}: {report}");
        assert_eq!(report["errors"], 0, "{extra:?}: {report}");
    }
    // A semaphore needs the raw client, and a positive size: refused with the reason.
    for bad in [
        &["--semaphore", "4"][..],
        &["--client", "hyper", "--semaphore", "0"],
    ] {
        let out = Command::new(LOADGEN)
            .args(["--url", &url, "--concurrency", "1", "--requests", "1"])
            .args(bad)
            .output()
            .expect("run loadgen");
        assert!(!out.status.success(), "{bad:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--semaphore"), "{bad:?}: {stderr}");
    }
}
