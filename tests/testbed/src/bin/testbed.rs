//! `testbed`: the testbed server as a process, for tests in C, Python and Go, benchmarks and the
//! demo. Prints the bound port on the first line of stdout, then serves until killed.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use tailrace_testbed::{Config, Latency, Testbed};

const USAGE: &str = "\
usage: testbed [--port N] [--latency SPEC] [--error-rate F] [--tls --ca-out PATH]
               [--threads N] [--log-cap N] [--tls-handshakes N] [--exit-on-stdin-eof]

  --port N             port on 127.0.0.1; 0 (default) picks a free one
  --latency SPEC       delay before each response head: fixed:US,
                       tail:P_SLOW:FAST_US:SLOW_US or lognormal:MEDIAN_US:SIGMA (default fixed:0)
  --error-rate F       fraction of requests answered 503, in [0, 1] (default 0)
  --tls                serve HTTPS with a throwaway CA; needs --ca-out
  --ca-out PATH        where to write the CA certificate (PEM)
  --threads N          worker threads (default 2)
  --log-cap N          events kept in the log (default 200000)
  --tls-handshakes N   with --tls: answer the handshake of the first N connections only; later
                       ones are accepted and left waiting (a client's connect to them hangs)
  --exit-on-stdin-eof  exit when stdin is closed (so a dead parent leaves no orphan)

Prints the bound port and a newline on stdout, then serves until killed.";

struct Options {
    config: Config,
    exit_on_stdin_eof: bool,
}

fn main() -> ExitCode {
    let options = match parse(lexopt::Parser::from_env()) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("testbed: {message} (see testbed --help)");
            return ExitCode::from(2);
        }
    };
    let testbed = match Testbed::start(options.config) {
        Ok(testbed) => testbed,
        Err(e) => {
            eprintln!("testbed: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    // The first line of stdout is the contract with every harness: the port, nothing else.
    let mut stdout = io::stdout().lock();
    if writeln!(stdout, "{}", testbed.port())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::from(1);
    }
    drop(stdout);

    if options.exit_on_stdin_eof {
        let mut sink = [0u8; 4096];
        let mut stdin = io::stdin().lock();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        drop(testbed);
        return ExitCode::SUCCESS;
    }
    // SIGTERM and SIGINT end the process with their default action; nothing needs flushing.
    loop {
        std::thread::park();
    }
}

/// `Ok(None)` means `--help`. Errors name the flag at fault.
fn parse(mut parser: lexopt::Parser) -> Result<Option<Options>, String> {
    use lexopt::Arg::Long;

    let mut config = Config::default();
    let mut exit_on_stdin_eof = false;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("port") => config.port = value(&mut parser, "--port")?,
            Long("latency") => {
                let spec: String = value(&mut parser, "--latency")?;
                config.latency = spec
                    .parse::<Latency>()
                    .map_err(|e| format!("--latency: {e}"))?;
            }
            Long("error-rate") => {
                config.error_rate = value(&mut parser, "--error-rate")?;
                if !(0.0..=1.0).contains(&config.error_rate) {
                    return Err(format!(
                        "--error-rate: {} is not in [0, 1]",
                        config.error_rate
                    ));
                }
            }
            Long("tls") => config.tls = true,
            Long("ca-out") => config.ca_out = Some(value::<PathBuf>(&mut parser, "--ca-out")?),
            Long("threads") => {
                config.threads = value(&mut parser, "--threads")?;
                if config.threads == 0 {
                    return Err("--threads: must be at least 1".into());
                }
            }
            Long("log-cap") => config.log_cap = value(&mut parser, "--log-cap")?,
            Long("tls-handshakes") => {
                config.tls_handshakes = Some(value(&mut parser, "--tls-handshakes")?)
            }
            Long("exit-on-stdin-eof") => exit_on_stdin_eof = true,
            Long("help") | lexopt::Arg::Short('h') => return Ok(None),
            other => return Err(other.unexpected().to_string()),
        }
    }
    match (config.tls, &config.ca_out) {
        (true, None) => return Err("--tls needs --ca-out PATH".into()),
        (false, Some(_)) => return Err("--ca-out is only used with --tls".into()),
        _ if config.tls_handshakes.is_some() && !config.tls => {
            return Err("--tls-handshakes is only used with --tls".into())
        }
        _ => {}
    }
    Ok(Some(Options {
        config,
        exit_on_stdin_eof,
    }))
}

/// The flag's value, parsed; the error names the flag and the value.
fn value<T>(parser: &mut lexopt::Parser, flag: &str) -> Result<T, String>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let raw = parser
        .value()
        .map_err(|e| format!("{flag}: {e}"))?
        .into_string()
        .map_err(|_| format!("{flag}: value is not valid UTF-8"))?;
    raw.parse()
        .map_err(|e| format!("{flag}: bad value {raw:?}: {e}"))
}
