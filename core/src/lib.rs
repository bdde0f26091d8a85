//! tailrace: outbound HTTP calls that are fast at the tail and safe for the backends they hit.
//!
//! The path of one call (DESIGN.md):
//!
//! ```text
//! submit ─► order gate ─► limiter ─► hedger ─┬─► attempt 1 ─► balancer picks host ─► transport
//!  (seq no.)  order_key     limit_key   copies,  ├─► attempt 2 (after delay, or at once)
//!             flush         max_count   delay,   └─► …   first success wins, losers cancelled
//!                           max_queue   budget
//! ```
//!
//! Every client in a process runs on one shared tokio runtime ([`runtime`]), started on first use
//! and rebuilt in a forked child.
//!
//! ```no_run
//! let client = tailrace::Client::builder()
//!     .hosts(["http://127.0.0.1:8080"])
//!     .set("timeout_ms", "2000")
//!     .build()?;
//! let resp = client.send_blocking(tailrace::Request::get("/health"))?;
//! println!("{} from {} after {} attempt(s)", resp.status(), resp.host(), resp.attempts());
//! # Ok::<(), tailrace::Error>(())
//! ```
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

#[cfg(feature = "mimalloc")]
pub mod alloc;
mod attempt;
mod balance;
mod call;
mod client;
pub mod config;
mod error;
mod fnv;
mod hedge;
mod limit;
mod order;
mod request;
mod response;
pub mod runtime;
mod shard;
mod stats;
mod sync;
mod transport;
mod watchdog;

pub use client::{Call, CallAbort, Client, ClientBuilder, Submitted};
pub use config::{Config, OPTIONS};
pub use error::{AttemptError, Error, ErrorKind, Result, Sent, TimeoutKind};
pub use request::{Request, RequestTarget};
pub use response::Response;
pub use stats::{HostSnapshot, LatencySnapshot, LimitKeyStats, Stats};

/// The crate version, e.g. `0.1.0`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
