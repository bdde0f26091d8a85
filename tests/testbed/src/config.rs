//! How a testbed starts: the defaults that query parameters may override per request.

use std::path::PathBuf;

use crate::Latency;

/// Settings for [`Testbed::start`](crate::Testbed::start).
///
/// Build one with struct-update syntax:
/// `Config { latency: "fixed:1000".parse()?, ..Config::default() }`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Port on 127.0.0.1; 0 picks a free one (the default).
    pub port: u16,
    /// Delay before each response head unless the request says otherwise. Default: none.
    pub latency: Latency,
    /// Fraction of requests, in `[0, 1]`, answered with 503. Default: 0.
    pub error_rate: f64,
    /// Serve HTTPS with a throwaway CA made at start. Default: plain HTTP.
    pub tls: bool,
    /// Where to write the CA certificate (PEM) when `tls` is on. Without it the CA goes to a
    /// temporary file that is removed when the testbed is dropped.
    pub ca_out: Option<PathBuf>,
    /// Events kept in the log; later ones are only counted in `events_dropped`. Default 200 000.
    pub log_cap: usize,
    /// Worker threads of the testbed's own runtime. Default 2.
    pub threads: usize,
    /// With `tls`: answer the TLS handshake of only this many connections (counted since start
    /// or reset); later ones are accepted and then left waiting, so a client's connect to them
    /// hangs (until its connect timeout). For tests of what a client does while connecting.
    /// Default: every one.
    pub tls_handshakes: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 0,
            latency: Latency::default(),
            error_rate: 0.0,
            tls: false,
            ca_out: None,
            log_cap: 200_000,
            threads: 2,
            tls_handshakes: None,
        }
    }
}
