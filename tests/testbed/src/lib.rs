//! The tailrace testbed: a real HTTP server on 127.0.0.1 for tests, benchmarks and the demo.
//!
//! It serves HTTP/1.1 and HTTP/2 (h2c prior knowledge, or ALPN over TLS) on one port, waits
//! before each response head as a latency distribution says, fails a given fraction of requests,
//! streams bodies of any size, and counts what it serves: requests in flight, and a log of every
//! request's start and its finish or cancel. Query parameters override the server's settings per
//! request, so one server serves many tests. See the crate's README for the full protocol.
//!
//! ```no_run
//! use tailrace_testbed::{Config, Testbed};
//!
//! let testbed = Testbed::start(Config::default())?;
//! let url = format!("{}/anything?delay_ms=20", testbed.url());
//! // ... send requests with the client under test ...
//! let stats = testbed.stats();
//! assert_eq!(stats.in_flight, 0);
//! # Ok::<(), std::io::Error>(())
//! ```
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]
#![forbid(unsafe_code)]

mod body;
mod config;
mod handler;
mod latency;
mod log;
mod plan;
mod server;
mod state;
mod stats;
mod tls;
mod tracker;

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpSocket;
use tokio::runtime::Runtime;

pub use config::Config;
pub use latency::{Latency, LatencySpecError};
pub use stats::{Event, Stats, CANCEL, FINISH, START};

use server::Server;
use state::Shared;

/// Room for a burst of connections (benchmarks open hundreds at once) before any is accepted.
const LISTEN_BACKLOG: u32 = 4096;

/// A running testbed server. Dropping it shuts the server down.
///
/// The server runs on its own multi-thread tokio runtime, never the caller's, so the client
/// under test and the server cannot starve each other's threads.
pub struct Testbed {
    port: u16,
    shared: Arc<Shared>,
    ca_pem: Option<String>,
    ca_file: Option<PathBuf>,
    /// The CA file is ours to remove (no `ca_out` was given).
    remove_ca_file: bool,
    _runtime: OwnRuntime,
}

/// The server's runtime, shut down safely on drop, whichever thread drops it.
struct OwnRuntime(Option<Runtime>);

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            // Dropping a runtime blocks, which panics on an async thread, and the caller may be
            // on one (also when `start` fails half-way). A helper thread may block, and waiting
            // for it means the port is closed once the drop returns.
            let waiter =
                std::thread::spawn(move || runtime.shutdown_timeout(Duration::from_secs(2)));
            let _ = waiter.join();
        }
    }
}

impl Testbed {
    /// Binds `127.0.0.1:config.port` (and, when free, the same port on `[::1]` so `localhost`
    /// works whichever address a client tries first) and starts serving. Returns once listening;
    /// with TLS on, the CA file is written by then too.
    pub fn start(config: Config) -> io::Result<Testbed> {
        if !(0.0..=1.0).contains(&config.error_rate) {
            return Err(invalid(format!(
                "error_rate {} is not in [0, 1]",
                config.error_rate
            )));
        }
        let tls = config.tls.then(tls::generate).transpose()?;
        let built = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads.max(1))
            .thread_name("testbed")
            .enable_all()
            .build()?;
        let handle = built.handle().clone();
        let runtime = OwnRuntime(Some(built));
        // Sockets register with the reactor of the runtime they are made in: ours.
        let (listener, port, listener_v6) = {
            let _enter = handle.enter();
            let listener = listen(SocketAddr::from((Ipv4Addr::LOCALHOST, config.port)))?;
            let port = listener.local_addr()?.port();
            let v6 = listen(SocketAddr::from((Ipv6Addr::LOCALHOST, port))).ok();
            (listener, port, v6)
        };

        let (ca_pem, ca_file, remove_ca_file) = match &tls {
            None => (None, None, false),
            Some(tls) => {
                let (path, remove) = match &config.ca_out {
                    Some(path) => (path.clone(), false),
                    None => (temp_ca_path(port), true),
                };
                write_ca(&path, &tls.ca_pem)?;
                (Some(tls.ca_pem.clone()), Some(path), remove)
            }
        };

        let shared = Arc::new(Shared::new(&config));
        let server = Server::new(shared.clone(), tls.map(|t| t.config));
        if let Some(v6) = listener_v6 {
            handle.spawn(server.clone().accept_loop(v6));
        }
        handle.spawn(server.accept_loop(listener));
        Ok(Testbed {
            port,
            shared,
            ca_pem,
            ca_file,
            remove_ca_file,
            _runtime: runtime,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` with TLS (the name in the
    /// certificate; `127.0.0.1` is in it too).
    pub fn url(&self) -> String {
        if self.ca_pem.is_some() {
            format!("https://localhost:{}", self.port)
        } else {
            format!("http://127.0.0.1:{}", self.port)
        }
    }

    /// The CA certificate (PEM) that signed the server's certificate, with TLS on.
    pub fn ca_pem(&self) -> Option<String> {
        self.ca_pem.clone()
    }

    /// A file holding [`ca_pem`](Self::ca_pem), with TLS on.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.ca_file.clone()
    }

    /// The counters and the event log, as `GET /__stats` serves them.
    pub fn stats(&self) -> Stats {
        self.shared.snapshot(true)
    }

    /// Zeroes the counters and empties the log, as `POST /__reset` does.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Polls [`stats`](Self::stats) until `done` holds (`Ok`) or `timeout` passes (`Err`, with
    /// the last snapshot). For "wait until in_flight is 0" after a client cancels. It blocks the
    /// calling thread, so do not call it on a runtime whose tasks the wait depends on.
    pub fn wait_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&Stats) -> bool,
    ) -> Result<Stats, Box<Stats>> {
        let deadline = Instant::now() + timeout;
        loop {
            let stats = self.stats();
            if done(&stats) {
                return Ok(stats);
            }
            if Instant::now() >= deadline {
                return Err(Box::new(stats));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Short on purpose: the counters and the log are for [`Testbed::stats`].
impl std::fmt::Debug for Testbed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Testbed")
            .field("url", &self.url())
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        // The runtime shuts down after this, when the fields are dropped.
        if let (true, Some(path)) = (self.remove_ca_file, &self.ca_file) {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn listen(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // A restarted testbed can take its fixed port back while old connections sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

fn temp_ca_path(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!(
        "tailrace-testbed-ca-{}-{port}.pem",
        std::process::id()
    ))
}

fn write_ca(path: &Path, pem: &str) -> io::Result<()> {
    std::fs::write(path, pem).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("writing the CA to {}: {e}", path.display()),
        )
    })
}
