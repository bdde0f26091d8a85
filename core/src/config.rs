//! The option table: every option's name, default, parser and doc line, in one place.
//!
//! The Rust builder's typed methods, `ClientBuilder::set("name", "value")`, C's
//! `tailrace_config_set`, Python's keyword arguments and Go's `Config` fields all land here, so a
//! name means the same thing in every language. Values are checked one by one when set, and
//! against each other when the client is built (`Client::new`).

use std::path::PathBuf;
use std::time::Duration;

use http::Uri;

use crate::error::{Error, Result};

/// How the next host is chosen for an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balance {
    /// Each attempt takes the next host in the list.
    RoundRobin,
    /// A host chosen uniformly at random.
    Random,
    /// Power of two choices: of two random hosts, the one with fewer attempts in flight.
    P2c,
}

/// HTTP/2 use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Http2 {
    /// HTTP/2 when TLS ALPN negotiates it, HTTP/1.1 otherwise.
    Auto,
    /// HTTP/1.1 only.
    Never,
}

/// A base URL from the `hosts` option, checked when it is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostUrl {
    /// `scheme://authority[/prefix]` with no trailing slash.
    pub(crate) base: String,
}

impl HostUrl {
    pub(crate) fn parse(s: &str) -> std::result::Result<HostUrl, String> {
        let trimmed = s.trim().trim_end_matches('/');
        let uri: Uri = trimmed
            .parse()
            .map_err(|e| format!("`{s}` is not a URL ({e}); expected e.g. http://10.0.0.1:8080"))?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            _ => return Err(format!("`{s}` must start with http:// or https://")),
        }
        if uri.authority().is_none() {
            return Err(format!("`{s}` has no host"));
        }
        if uri.query().is_some() {
            return Err(format!("`{s}` must not have a query string"));
        }
        Ok(HostUrl {
            base: trimmed.to_string(),
        })
    }

    /// The base URL as given, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.base
    }
}

/// Every client option. Build one with [`crate::Client::builder`].
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) hosts: Vec<HostUrl>,
    pub(crate) balance: Balance,
    pub(crate) concurrent_calls: u32,
    pub(crate) hedge_delay: Duration,
    pub(crate) hedge_percentile: f64,
    pub(crate) hedge_max_extra_load: Option<f64>,
    pub(crate) retry_on_status: Vec<u16>,
    pub(crate) attempt_header: bool,
    pub(crate) eject_after: u32,
    pub(crate) eject: Duration,
    pub(crate) max_count: Option<u32>,
    pub(crate) max_queue: Option<u32>,
    pub(crate) queue_timeout: Option<Duration>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) attempt_timeout: Option<Duration>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) max_response_bytes: u64,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) http2: Http2,
    pub(crate) http2_prior_knowledge: bool,
    pub(crate) pool_max_idle_per_host: usize,
    pub(crate) pool_idle_timeout: Option<Duration>,
}

impl Default for Config {
    fn default() -> Config {
        let mut c = Config {
            hosts: Vec::new(),
            balance: Balance::RoundRobin,
            concurrent_calls: 1,
            hedge_delay: Duration::ZERO,
            hedge_percentile: 0.0,
            hedge_max_extra_load: Some(1.0),
            retry_on_status: Vec::new(),
            attempt_header: true,
            eject_after: 0,
            eject: Duration::ZERO,
            max_count: None,
            max_queue: None,
            queue_timeout: None,
            timeout: None,
            attempt_timeout: None,
            connect_timeout: None,
            max_response_bytes: 0,
            ca_file: None,
            http2: Http2::Auto,
            http2_prior_knowledge: false,
            pool_max_idle_per_host: 0,
            pool_idle_timeout: None,
        };
        // Defaults come from the table, so the documented default is the real one.
        for spec in OPTIONS {
            (spec.set)(&mut c, spec.default).expect("option defaults parse");
        }
        c
    }
}

/// One row of the option table.
#[derive(Debug)]
pub struct OptionSpec {
    /// The name in every language.
    pub name: &'static str,
    /// The default, in the string form `set` accepts.
    pub default: &'static str,
    /// One line: what it does and its unit.
    pub doc: &'static str,
    set: fn(&mut Config, &str) -> std::result::Result<(), String>,
}

/// Every option, in the order the docs list them.
pub static OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "hosts",
        default: "",
        doc: "base URLs a relative path is sent to, comma-separated (e.g. http://a:80,http://b:80)",
        set: |c, v| {
            c.hosts = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(HostUrl::parse)
                .collect::<std::result::Result<_, _>>()?;
            Ok(())
        },
    },
    OptionSpec {
        name: "balance",
        default: "round_robin",
        doc: "how a host is chosen for each attempt: round_robin, random or p2c",
        set: |c, v| {
            c.balance = match v.trim() {
                "round_robin" => Balance::RoundRobin,
                "random" => Balance::Random,
                "p2c" => Balance::P2c,
                _ => return Err(format!("`{v}` is not one of round_robin, random, p2c")),
            };
            Ok(())
        },
    },
    OptionSpec {
        name: "concurrent_calls",
        default: "1",
        doc: "attempts per call at most, 1 to 10 (1 = no hedging)",
        set: |c, v| {
            let n = parse_u64(v)?;
            if !(1..=10).contains(&n) {
                return Err(format!("{n} is out of range: use 1 to 10"));
            }
            c.concurrent_calls = n as u32;
            Ok(())
        },
    },
    OptionSpec {
        name: "hedge_delay_ms",
        default: "0",
        doc: "delay before the next attempt, in ms (fractions allowed); 0 starts all at once (as many \
              as hedge_max_extra_load pays for)",
        set: |c, v| {
            c.hedge_delay = parse_ms_f64(v)?;
            Ok(())
        },
    },
    OptionSpec {
        name: "hedge_percentile",
        default: "0",
        doc: "adapt the hedge delay to this percentile of recent latency, e.g. 95 (0 = off)",
        set: |c, v| {
            let p = parse_f64(v)?;
            if !(p == 0.0 || (p > 0.0 && p < 100.0)) {
                return Err(format!(
                    "{p} is out of range: use 0 (off) or a percentile below 100"
                ));
            }
            c.hedge_percentile = p;
            Ok(())
        },
    },
    OptionSpec {
        name: "hedge_max_extra_load",
        default: "1",
        doc: "extra attempts / calls allowed over a sliding window, e.g. 0.05; a floor of 3 hedges a \
              second always applies, so low traffic still hedges (concurrent_calls=1 for none). \
              The default 1 lets every call send one extra attempt; empty = no budget (KrakenD's \
              concurrent_calls: every call gets every copy)",
        set: |c, v| {
            c.hedge_max_extra_load = if v.trim().is_empty() {
                None
            } else {
                let f = parse_f64(v)?;
                if !(0.0..=10.0).contains(&f) {
                    return Err(format!("{f} is out of range: use 0 to 10"));
                }
                Some(f)
            };
            Ok(())
        },
    },
    OptionSpec {
        name: "retry_on_status",
        default: "5xx",
        doc: "statuses that count as a failed attempt: codes and classes, e.g. 502,503,504 or 5xx",
        set: |c, v| {
            let mut codes = Vec::new();
            for part in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if let Some(class) = part.strip_suffix("xx") {
                    let d: u16 = class
                        .parse()
                        .ok()
                        .filter(|d| (1..=5).contains(d))
                        .ok_or_else(|| format!("`{part}` is not a status class like 5xx"))?;
                    codes.extend(d * 100..d * 100 + 100);
                } else {
                    let code: u16 = part
                        .parse()
                        .ok()
                        .filter(|c| (100..=599).contains(c))
                        .ok_or_else(|| format!("`{part}` is not an HTTP status code"))?;
                    codes.push(code);
                }
            }
            codes.sort_unstable();
            codes.dedup();
            c.retry_on_status = codes;
            Ok(())
        },
    },
    OptionSpec {
        name: "attempt_header",
        default: "true",
        doc: "when hedging (concurrent_calls > 1), send header x-tailrace-attempt: i with each attempt so servers can tell hedges apart",
        set: |c, v| {
            c.attempt_header = parse_bool(v)?;
            Ok(())
        },
    },
    OptionSpec {
        name: "eject_after",
        default: "5",
        doc: "eject a host after this many consecutive failed attempts (0 = never)",
        set: |c, v| {
            c.eject_after = parse_u32(v)?;
            Ok(())
        },
    },
    OptionSpec {
        name: "eject_ms",
        default: "10000",
        doc: "how long an ejected host is left out before it is tried again, in ms",
        set: |c, v| {
            c.eject = Duration::from_millis(parse_u64(v)?);
            Ok(())
        },
    },
    OptionSpec {
        name: "max_count",
        default: "0",
        doc: "attempts in flight per limit key at most (a call's first attempt, and each hedge; \
              0 = unlimited)",
        set: |c, v| {
            c.max_count = Some(parse_u32(v)?).filter(|n| *n > 0);
            Ok(())
        },
    },
    OptionSpec {
        name: "max_queue",
        default: "",
        doc:
            "calls waiting for a slot per limit key at most (empty = unlimited; 0 = reject at once)",
        set: |c, v| {
            c.max_queue = if v.trim().is_empty() {
                None
            } else {
                Some(parse_u32(v)?)
            };
            Ok(())
        },
    },
    OptionSpec {
        name: "queue_timeout_ms",
        default: "0",
        doc: "how long a call may wait for a limiter slot, in ms (0 = no limit but timeout_ms)",
        set: |c, v| {
            c.queue_timeout = nonzero_ms(parse_u64(v)?);
            Ok(())
        },
    },
    OptionSpec {
        name: "timeout_ms",
        default: "30000",
        doc: "deadline for the whole call, waits included, in ms (0 = none)",
        set: |c, v| {
            c.timeout = nonzero_ms(parse_u64(v)?);
            Ok(())
        },
    },
    OptionSpec {
        name: "attempt_timeout_ms",
        default: "0",
        doc: "deadline for one attempt, in ms (0 = none)",
        set: |c, v| {
            c.attempt_timeout = nonzero_ms(parse_u64(v)?);
            Ok(())
        },
    },
    OptionSpec {
        name: "connect_timeout_ms",
        default: "5000",
        doc: "deadline for TCP connect plus TLS handshake, in ms (0 = none)",
        set: |c, v| {
            c.connect_timeout = nonzero_ms(parse_u64(v)?);
            Ok(())
        },
    },
    OptionSpec {
        name: "max_response_bytes",
        default: "67108864",
        doc: "larger response bodies fail with ResponseTooLarge while they stream, in bytes",
        set: |c, v| {
            let n = parse_u64(v)?;
            if n == 0 {
                return Err("must be at least 1".into());
            }
            c.max_response_bytes = n;
            Ok(())
        },
    },
    OptionSpec {
        name: "ca_file",
        default: "",
        doc: "PEM file of CA certificates trusted in addition to the system's",
        set: |c, v| {
            c.ca_file = Some(PathBuf::from(v.trim())).filter(|p| !p.as_os_str().is_empty());
            Ok(())
        },
    },
    OptionSpec {
        name: "http2",
        default: "auto",
        doc: "auto: HTTP/2 when TLS ALPN agrees, else HTTP/1.1; never: HTTP/1.1 only",
        set: |c, v| {
            c.http2 = match v.trim() {
                "auto" => Http2::Auto,
                "never" => Http2::Never,
                _ => return Err(format!("`{v}` is not one of auto, never")),
            };
            Ok(())
        },
    },
    OptionSpec {
        name: "http2_prior_knowledge",
        default: "false",
        doc: "speak HTTP/2 without negotiation, also over plain TCP (h2c)",
        set: |c, v| {
            c.http2_prior_knowledge = parse_bool(v)?;
            Ok(())
        },
    },
    OptionSpec {
        name: "pool_max_idle_per_host",
        default: "1024",
        doc: "idle keep-alive connections kept per host at most",
        set: |c, v| {
            c.pool_max_idle_per_host = parse_u64(v)? as usize;
            Ok(())
        },
    },
    OptionSpec {
        name: "pool_idle_timeout_ms",
        default: "90000",
        doc: "close keep-alive connections idle for longer than this, in ms (0 = never)",
        set: |c, v| {
            c.pool_idle_timeout = nonzero_ms(parse_u64(v)?);
            Ok(())
        },
    },
];

impl Config {
    /// Set one option by name from its string form; the error names the option and the problem.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let spec = OPTIONS.iter().find(|s| s.name == name).ok_or_else(|| {
            let close: Vec<&str> = OPTIONS
                .iter()
                .map(|s| s.name)
                .filter(|n| n.contains(name) || name.contains(n) || shares_word(n, name))
                .collect();
            let hint = if close.is_empty() {
                String::new()
            } else {
                format!(" (did you mean {}?)", close.join(", "))
            };
            Error::invalid_option(name, format!("unknown option{hint}"))
        })?;
        (spec.set)(self, value).map_err(|why| Error::invalid_option(name, why))
    }

    /// Checks between options, made once when the client is built.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_queue.is_some() && self.max_count.is_none() {
            return Err(Error::invalid_option(
                "max_queue",
                "needs `max_count` (the queue holds calls waiting for one of max_count slots)",
            ));
        }
        if self.queue_timeout.is_some() && self.max_count.is_none() {
            return Err(Error::invalid_option(
                "queue_timeout_ms",
                "needs `max_count`",
            ));
        }
        if let Some(path) = &self.ca_file {
            if !path.is_file() {
                return Err(Error::invalid_option(
                    "ca_file",
                    format!("`{}` is not a readable file", path.display()),
                ));
            }
        }
        Ok(())
    }
}

fn shares_word(a: &str, b: &str) -> bool {
    a.split('_').any(|w| w.len() > 3 && b.contains(w))
}

fn parse_u64(v: &str) -> std::result::Result<u64, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("`{v}` is not a whole number"))
}

fn parse_u32(v: &str) -> std::result::Result<u32, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("`{v}` is not a whole number below 2^32"))
}

fn parse_f64(v: &str) -> std::result::Result<f64, String> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .ok_or_else(|| format!("`{v}` is not a number"))
}

fn parse_ms_f64(v: &str) -> std::result::Result<Duration, String> {
    let ms = parse_f64(v)?;
    if !(0.0..=3_600_000.0).contains(&ms) {
        return Err(format!("{ms} ms is out of range: use 0 to 3600000"));
    }
    Ok(Duration::from_secs_f64(ms / 1000.0))
}

fn parse_bool(v: &str) -> std::result::Result<bool, String> {
    match v.trim() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(format!("`{v}` is not true or false")),
    }
}

fn nonzero_ms(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn defaults_match_design() {
        let c = Config::default();
        assert_eq!(c.concurrent_calls, 1);
        assert_eq!(c.timeout, Some(Duration::from_secs(30)));
        assert_eq!(c.connect_timeout, Some(Duration::from_secs(5)));
        assert_eq!(c.max_response_bytes, 64 << 20);
        assert_eq!(c.retry_on_status.len(), 100);
        assert!(c.retry_on_status.contains(&503) && !c.retry_on_status.contains(&404));
        assert_eq!(c.balance, Balance::RoundRobin);
    }

    #[test]
    fn unknown_option_names_itself_and_suggests() {
        let err = Config::default().set("concurent_calls", "2").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidOption);
        assert!(err.to_string().contains("concurent_calls"), "{err}");
        let err = Config::default().set("timeout", "2").unwrap_err();
        assert!(err.to_string().contains("did you mean"), "{err}");
    }

    #[test]
    fn bad_values_name_the_option() {
        for (name, value) in [
            ("concurrent_calls", "11"),
            ("concurrent_calls", "0"),
            ("concurrent_calls", "x"),
            ("hosts", "ftp://a"),
            ("hosts", "http://a?x=1"),
            ("balance", "fastest"),
            ("hedge_percentile", "100"),
            ("retry_on_status", "7xx"),
            ("retry_on_status", "999"),
            ("timeout_ms", "-1"),
            ("attempt_header", "maybe"),
            ("max_response_bytes", "0"),
        ] {
            let err = Config::default().set(name, value).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidOption);
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
    }

    #[test]
    fn status_list_and_classes() {
        let mut c = Config::default();
        c.set("retry_on_status", "502, 503,504").unwrap();
        assert_eq!(c.retry_on_status, vec![502, 503, 504]);
        c.set("retry_on_status", "").unwrap();
        assert!(c.retry_on_status.is_empty());
    }

    #[test]
    fn fractional_hedge_delay() {
        let mut c = Config::default();
        c.set("hedge_delay_ms", "0.25").unwrap();
        assert_eq!(c.hedge_delay, Duration::from_micros(250));
    }

    #[test]
    fn queue_needs_max_count() {
        let mut c = Config::default();
        c.set("max_queue", "10").unwrap();
        assert_eq!(c.validate().unwrap_err().kind(), ErrorKind::InvalidOption);
    }
}
