//! The connection pool: for each destination (`scheme://authority`), the idle HTTP/1.1
//! connections (most recently used first) and the one HTTP/2 connection its attempts share.
//!
//! tailrace keeps its own pool on hyper's connection API instead of hyper-util's legacy `Client`.
//! That client, per request, races a connect against the checkout, spawns a task that waits for
//! the connection to become idle again, formats the `Host` header and hashes and compares its
//! pool key (SipHash, a case-insensitive authority) several times: about 12K of its 30K
//! instructions per call on the fast testbed, where a bare hyper connection needs 17K. Here a
//! checkout is a map lookup and a pop, and the attempt that used a connection hands it back
//! itself once it has read the whole body.
//!
//! Rules the pool keeps:
//! - A request that never left (its connection closed before taking it) goes again on another
//!   connection, as long as the failing connection was a reused one; a fresh connection that
//!   fails it is the answer (`Sent::No`).
//! - An attempt that is making a new HTTP/1.1 connection takes one another attempt hands back in
//!   the meantime, if that comes first (as hyper-util's pool and Go's `net/http` do): in a burst,
//!   calls do not all wait for connects the server accepts one after another. The connect goes on
//!   and its connection joins the idle ones.
//! - HTTP/2: one connection per destination. While it is being made, other attempts wait for it
//!   instead of opening their own, and if making it fails they fail with the same cause rather
//!   than each trying (and timing out) again. That applies with prior knowledge, and over TLS
//!   once ALPN has chosen h2 at that destination; before that, attempts connect on their own.
//! - At most `pool_max_idle_per_host` idle connections per destination; one idle for
//!   `pool_idle_timeout_ms` (up to a quarter more) is closed, and so is an HTTP/2 connection no
//!   attempt used for that long. A sweeper task per pool does it, and forgets destinations that
//!   have nothing left, so memory does not grow with the number of hosts ever called.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::header::HeaderValue;
use http::Uri;
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use hyper_util::client::legacy::connect::Connection as _;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{oneshot, Notify};
use tower_service::Service as _;

use super::connector::Connector;
use super::{classify, Stage};
use crate::error::{Error, Result};
use crate::fnv::{with_host_key, FnvBuildHasher};
use crate::sync::{lock, read, write};

type Body = Full<Bytes>;

/// The sweeper runs this many times per `pool_idle_timeout_ms`; a connection idle for more than
/// that many sweeps is closed: after 1 to 1.25 times the timeout.
const SWEEPS_PER_IDLE_TIMEOUT: u32 = 4;
/// How long a connection handed back before it was ready may take to become so.
const CATCH_UP: Duration = Duration::from_secs(1);
/// How often the sweeper looks for closed connections and empty destinations when idle
/// connections never time out.
const SWEEP_WITHOUT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// What came first to an attempt making a connection.
enum First {
    Made(Result<Conn>),
    HandedBack(http1::SendRequest<Body>),
}

/// A connection checked out for one request.
pub(crate) enum Conn {
    /// Exclusively this request's until it is handed back with [`Pool::put`].
    Http1(http1::SendRequest<Body>),
    /// A handle on the destination's shared connection.
    Http2(http2::SendRequest<Body>),
}

/// The pool's settings and state; shared with the sweeper, which holds it weakly.
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    dial: Arc<Dial>,
    max_idle: usize,
    idle_timeout: Option<Duration>,
    destinations: RwLock<HashMap<Box<str>, Arc<Destination>, FnvBuildHasher>>,
    /// Sweeps done so far: idle connections are stamped with it instead of reading the clock.
    sweeps: AtomicU64,
    sweeper_started: AtomicBool,
}

/// How a connection is made: shared by the pool and by connects that finish in the background
/// (which must not keep the pool alive).
struct Dial {
    connector: Connector,
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
    /// HTTP/2 by prior knowledge: every connection speaks it, none negotiates.
    http2_only: bool,
}

/// One `scheme://authority` and its connections.
pub(crate) struct Destination {
    /// `scheme://authority/`: what the connector dials.
    dial: Uri,
    /// `host[:port]` (the port only when it is not the scheme's default), for HTTP/1 requests
    /// that carry no `Host` header of their own.
    host_header: HeaderValue,
    idle: Mutex<Vec<Idle>>,
    /// Attempts making an HTTP/1.1 connection, oldest first: a connection handed back goes to
    /// the first still waiting rather than to `idle`.
    connecting: Mutex<Connecting>,
    h2: Mutex<H2>,
    /// Wakes the attempts waiting for an HTTP/2 connection being made.
    h2_made: Notify,
    /// A connection here has spoken HTTP/2 (always so with prior knowledge): attempts share
    /// one instead of making their own.
    speaks_h2: AtomicBool,
}

#[derive(Default)]
struct Connecting {
    waiters: VecDeque<oneshot::Sender<http1::SendRequest<Body>>>,
    /// Waiters that gave up (their attempt took its own connection, or was dropped) stay until
    /// a hand-back reaches them or the queue reaches this length, when they are dropped: the
    /// queue is cleaned in amortized O(1) per waiter.
    clean_at: usize,
}

struct Idle {
    sender: http1::SendRequest<Body>,
    /// `Shared::sweeps` when it was handed back.
    since_sweep: u64,
}

#[derive(Default)]
struct H2 {
    conn: Option<http2::SendRequest<Body>>,
    /// `Shared::sweeps` when it was last checked out.
    used_since_sweep: u64,
    connecting: bool,
    /// Connects started so far; an attempt that waits remembers the one it waits for.
    connects: u64,
    /// The last connect that failed and why: the attempts that waited for it fail with it.
    failed: Option<(u64, Error)>,
}

impl H2 {
    /// The live shared connection, marked used in sweep `sweep`; a closed one is dropped.
    fn checkout(&mut self, sweep: u64) -> Option<http2::SendRequest<Body>> {
        if self.conn.as_ref().is_some_and(|c| c.is_closed()) {
            self.conn = None;
        }
        let conn = self.conn.clone()?;
        self.used_since_sweep = sweep;
        Some(conn)
    }
}

impl Pool {
    pub(crate) fn new(
        connector: Connector,
        http2_only: bool,
        max_idle: usize,
        idle_timeout: Option<Duration>,
    ) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                dial: Arc::new(Dial {
                    connector,
                    h1: http1::Builder::new(),
                    h2: http2::Builder::new(TokioExecutor::new()),
                    http2_only,
                }),
                max_idle,
                idle_timeout,
                destinations: RwLock::default(),
                sweeps: AtomicU64::new(0),
                sweeper_started: AtomicBool::new(false),
            }),
        }
    }

    /// The destination of an absolute `uri` (`None` without a host: the call stage lets only
    /// absolute http(s) URLs through).
    pub(crate) fn destination(&self, uri: &Uri) -> Option<Arc<Destination>> {
        let scheme = uri.scheme_str()?;
        let authority = uri.authority()?.as_str();
        with_host_key(scheme, authority, |key| {
            if let Some(d) = read(&self.shared.destinations).get(key) {
                return Some(d.clone());
            }
            self.insert(key, uri)
        })
    }

    fn insert(&self, key: &str, uri: &Uri) -> Option<Arc<Destination>> {
        let mut map = write(&self.shared.destinations);
        if let Some(d) = map.get(key) {
            return Some(d.clone());
        }
        let d = Arc::new(Destination::new(uri, self.shared.dial.http2_only)?);
        map.insert(key.into(), d.clone());
        Some(d)
    }

    /// A connection to `dest` (named `host` in errors): an idle or shared one when there is
    /// one, else a new one. True when it was reused (a request it fails to take may go again).
    pub(crate) async fn checkout(
        &self,
        dest: &Arc<Destination>,
        host: &str,
    ) -> Result<(Conn, bool)> {
        if let Some(conn) = self.ready_now(dest) {
            return Ok((conn, true));
        }
        // Making a connection holds a TLS session and handshake futures (kilobytes): boxed, so
        // the future of every attempt does not carry (and move) that room.
        Box::pin(self.checkout_slow(dest, host)).await
    }

    /// A connection that can take a request right now, if the pool has one.
    fn ready_now(&self, dest: &Destination) -> Option<Conn> {
        if dest.speaks_h2.load(Relaxed) {
            let sweep = self.shared.sweeps.load(Relaxed);
            return lock(&dest.h2).checkout(sweep).map(Conn::Http2);
        }
        self.idle(dest).map(Conn::Http1)
    }

    /// The most recently used idle connection that can take a request. Every one was ready when
    /// it was handed back; one that is not any more is closing.
    fn idle(&self, dest: &Destination) -> Option<http1::SendRequest<Body>> {
        let mut idle = lock(&dest.idle);
        let mut closing = Vec::new();
        let ready = loop {
            let Some(i) = idle.pop() else { break None };
            if i.sender.is_ready() {
                break Some(i.sender);
            }
            closing.push(i);
        };
        drop(idle);
        // Closed after the lock is released.
        drop(closing);
        ready
    }

    async fn checkout_slow(&self, dest: &Arc<Destination>, host: &str) -> Result<(Conn, bool)> {
        loop {
            if dest.speaks_h2.load(Relaxed) {
                if let Some(got) = self.shared_h2(dest, host).await {
                    return got;
                }
                // The destination answered the last connect with HTTP/1.1 after all.
                continue;
            }
            if let Some(sender) = self.idle(dest) {
                return Ok((Conn::Http1(sender), true));
            }
            return self.connect_or_take_handed_back(dest, host).await;
        }
    }

    /// A new connection, unless another attempt hands one back first; then the connect goes on
    /// in the background and its connection joins the pool.
    async fn connect_or_take_handed_back(
        &self,
        dest: &Arc<Destination>,
        host: &str,
    ) -> Result<(Conn, bool)> {
        let (tx, mut handed) = oneshot::channel();
        dest.wait_for_hand_back(tx);
        let mut connect = Box::pin(connect(self.shared.dial.clone(), dest.clone(), host.into()));
        let mut handed_open = true;
        let first = std::future::poll_fn(|cx| {
            if let Poll::Ready(made) = connect.as_mut().poll(cx) {
                return Poll::Ready(First::Made(made));
            }
            if handed_open {
                match Pin::new(&mut handed).poll(cx) {
                    Poll::Ready(Ok(sender)) => return Poll::Ready(First::HandedBack(sender)),
                    // The pool is going away: only the connect is left to wait for.
                    Poll::Ready(Err(_)) => handed_open = false,
                    Poll::Pending => {}
                }
            }
            Poll::Pending
        })
        .await;
        match first {
            First::Made(made) => {
                // No more hand-backs; one that came at the same moment is used if the connect
                // failed, else goes back to the pool.
                handed.close();
                match (made, handed.try_recv().ok()) {
                    (Ok(conn), handed) => {
                        if let Some(sender) = handed {
                            self.put(dest, sender);
                        }
                        self.adopt_h2(dest, &conn);
                        Ok((conn, false))
                    }
                    (Err(_), Some(sender)) => Ok((Conn::Http1(sender), true)),
                    (Err(e), None) => Err(e),
                }
            }
            First::HandedBack(sender) => {
                let (pool, dest) = (Arc::downgrade(&self.shared), dest.clone());
                tokio::spawn(async move {
                    if let (Ok(conn), Some(shared)) = (connect.await, pool.upgrade()) {
                        let pool = Pool { shared };
                        pool.adopt_h2(&dest, &conn);
                        if let Conn::Http1(sender) = conn {
                            pool.put(&dest, sender);
                        }
                    }
                });
                Ok((Conn::Http1(sender), true))
            }
        }
    }

    /// A new HTTP/2 connection (by prior knowledge or ALPN) becomes the destination's shared one
    /// unless it has a live one already; from now on its attempts share it. An HTTP/1.1
    /// connection is left alone.
    fn adopt_h2(&self, dest: &Destination, conn: &Conn) {
        let Conn::Http2(sender) = conn else { return };
        let mut h2 = lock(&dest.h2);
        if h2.conn.as_ref().is_none_or(|c| c.is_closed()) {
            h2.conn = Some(sender.clone());
            h2.used_since_sweep = self.shared.sweeps.load(Relaxed);
        }
        drop(h2);
        dest.speaks_h2.store(true, Relaxed);
        self.start_sweeper();
    }

    /// The destination's HTTP/2 connection, made by this attempt or by another one it waits
    /// for. `None` when the connect found the destination speaks HTTP/1.1 now.
    async fn shared_h2(&self, dest: &Arc<Destination>, host: &str) -> Option<Result<(Conn, bool)>> {
        loop {
            let made = dest.h2_made.notified();
            tokio::pin!(made);
            let waiting_for = {
                let mut h2 = lock(&dest.h2);
                if let Some(conn) = h2.checkout(self.shared.sweeps.load(Relaxed)) {
                    return Some(Ok((Conn::Http2(conn), true)));
                }
                if h2.connecting {
                    // Registered before the lock is released, so the wake-up cannot be missed.
                    made.as_mut().enable();
                    Some(h2.connects)
                } else {
                    h2.connecting = true;
                    h2.connects += 1;
                    None
                }
            };
            let Some(connect) = waiting_for else {
                return Some(self.make_h2(dest, host).await);
            };
            made.await;
            let h2 = lock(&dest.h2);
            if let Some((failed, e)) = &h2.failed {
                if *failed >= connect && h2.conn.is_none() {
                    return Some(Err(e.clone()));
                }
            }
            drop(h2);
            if !dest.speaks_h2.load(Relaxed) {
                return None;
            }
        }
    }

    /// Make the destination's HTTP/2 connection (this attempt won the right to) and tell the
    /// attempts waiting for it. A cancelled attempt lets the next waiter make it instead.
    async fn make_h2(&self, dest: &Arc<Destination>, host: &str) -> Result<(Conn, bool)> {
        struct Making<'a>(Option<&'a Destination>);
        impl Drop for Making<'_> {
            fn drop(&mut self) {
                if let Some(dest) = self.0 {
                    lock(&dest.h2).connecting = false;
                    dest.h2_made.notify_waiters();
                }
            }
        }
        let mut making = Making(Some(dest));
        let made = connect(self.shared.dial.clone(), dest.clone(), host.into()).await;
        making.0 = None;
        if let Ok(conn) = &made {
            self.adopt_h2(dest, conn);
        }
        let mut h2 = lock(&dest.h2);
        h2.connecting = false;
        match &made {
            Ok(Conn::Http2(_)) => h2.failed = None,
            Ok(Conn::Http1(_)) => dest.speaks_h2.store(false, Relaxed),
            Err(e) => h2.failed = Some((h2.connects, e.clone())),
        }
        drop(h2);
        dest.h2_made.notify_waiters();
        made.map(|conn| (conn, false))
    }

    /// Hand back an HTTP/1 connection whose response was read to the end.
    pub(crate) fn put(&self, dest: &Arc<Destination>, mut sender: http1::SendRequest<Body>) {
        // With `pool_max_idle_per_host` 0 no connection is used twice, not even by a waiter.
        if sender.is_closed() || self.shared.max_idle == 0 {
            return;
        }
        if !sender.is_ready() {
            // Its connection task has not caught up with the end of the response yet (rare: the
            // body was read on another worker while that task was still at it). Handed back
            // once it has, unless it closes instead.
            let (pool, dest) = (Arc::downgrade(&self.shared), dest.clone());
            tokio::spawn(async move {
                if let Ok(Ok(())) = tokio::time::timeout(CATCH_UP, sender.ready()).await {
                    if let Some(shared) = pool.upgrade() {
                        Pool { shared }.put(&dest, sender);
                    }
                }
            });
            return;
        }
        let Some(sender) = dest.hand_back(sender) else {
            return;
        };
        let since_sweep = self.shared.sweeps.load(Relaxed);
        let mut idle = lock(&dest.idle);
        if idle.len() >= self.shared.max_idle {
            // Closed once the lock is released (locals drop in reverse order).
            return;
        }
        idle.push(Idle {
            sender,
            since_sweep,
        });
        drop(idle);
        self.start_sweeper();
    }

    /// Start the sweeper, once, when the pool first keeps a connection.
    fn start_sweeper(&self) {
        let shared = &self.shared;
        if !shared.sweeper_started.load(Relaxed) && !shared.sweeper_started.swap(true, Relaxed) {
            let period = shared.idle_timeout.map_or(SWEEP_WITHOUT_IDLE_TIMEOUT, |t| {
                (t / SWEEPS_PER_IDLE_TIMEOUT).max(Duration::from_millis(1))
            });
            tokio::spawn(sweep(Arc::downgrade(shared), period));
        }
    }
}

/// A new connection to `dest` (named `host` in errors): TCP (and TLS), then the HTTP handshake;
/// its task is spawned here. Owns what it uses, so it can finish in the background.
async fn connect(dial: Arc<Dial>, dest: Arc<Destination>, host: Box<str>) -> Result<Conn> {
    let mut connector = dial.connector.clone();
    let io = connector
        .call(dest.dial.clone())
        .await
        .map_err(|e| classify(&*e, Stage::Connect, &host))?;
    if dial.http2_only || io.connected().is_negotiated_h2() {
        let (sender, conn) = dial
            .h2
            .handshake(io)
            .await
            .map_err(|e| classify(&e, Stage::Connect, &host))?;
        tokio::spawn(conn);
        Ok(Conn::Http2(sender))
    } else {
        let (sender, conn) = dial
            .h1
            .handshake(io)
            .await
            .map_err(|e| classify(&e, Stage::Connect, &host))?;
        tokio::spawn(conn);
        Ok(Conn::Http1(sender))
    }
}

impl Destination {
    fn new(uri: &Uri, http2_only: bool) -> Option<Destination> {
        let authority = uri.authority()?;
        let default_port = match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        };
        let host_header = match authority.port_u16() {
            Some(port) if port != default_port => {
                HeaderValue::from_str(&format!("{}:{port}", authority.host()))
            }
            _ => HeaderValue::from_str(authority.host()),
        }
        .ok()?;
        let dial = Uri::builder()
            .scheme(uri.scheme()?.clone())
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .ok()?;
        Some(Destination {
            dial,
            host_header,
            idle: Mutex::default(),
            connecting: Mutex::default(),
            h2: Mutex::default(),
            h2_made: Notify::new(),
            speaks_h2: AtomicBool::new(http2_only),
        })
    }

    /// Join the attempts waiting for a connection to be handed back.
    fn wait_for_hand_back(&self, tx: oneshot::Sender<http1::SendRequest<Body>>) {
        let mut c = lock(&self.connecting);
        if c.waiters.len() >= c.clean_at {
            c.waiters.retain(|w| !w.is_closed());
            c.clean_at = (2 * c.waiters.len()).max(16);
        }
        c.waiters.push_back(tx);
    }

    /// Give `sender` to the oldest attempt still waiting for one; back if none is.
    fn hand_back(&self, mut sender: http1::SendRequest<Body>) -> Option<http1::SendRequest<Body>> {
        loop {
            let Some(waiter) = lock(&self.connecting).waiters.pop_front() else {
                return Some(sender);
            };
            // Sent outside the lock; a waiter that gave up returns it, for the next one.
            match waiter.send(sender) {
                Ok(()) => return None,
                Err(unsent) => sender = unsent,
            }
        }
    }

    /// The `Host` header value HTTP/1 requests to it get when they have none.
    pub(crate) fn host_header(&self) -> &HeaderValue {
        &self.host_header
    }

    /// Nothing pooled, nothing being made: the sweeper may forget it.
    fn is_empty(&self) -> bool {
        let h2 = lock(&self.h2);
        lock(&self.idle).is_empty()
            && lock(&self.connecting).waiters.is_empty()
            && h2.conn.is_none()
            && !h2.connecting
    }
}

/// Every `period`, [`sweep_once`]. Ends with the pool.
async fn sweep(pool: Weak<Shared>, period: Duration) {
    loop {
        tokio::time::sleep(period).await;
        let Some(shared) = pool.upgrade() else {
            return;
        };
        sweep_once(&shared);
    }
}

/// Close what idled a whole `pool_idle_timeout_ms` (and what closed on its own), and forget
/// destinations left with nothing that no attempt holds.
fn sweep_once(shared: &Shared) {
    let now = shared.sweeps.fetch_add(1, Relaxed) + 1;
    let expires = shared.idle_timeout.is_some();
    // Idle for more than a whole timeout's worth of sweeps (4 to 5 periods).
    let expired = |since: u64| expires && now - since > u64::from(SWEEPS_PER_IDLE_TIMEOUT);
    let dests: Vec<Arc<Destination>> = read(&shared.destinations).values().cloned().collect();
    for dest in &dests {
        lock(&dest.connecting).waiters.retain(|w| !w.is_closed());
        // Dropped (closed) after the lock is released.
        let closing: Vec<Idle> = {
            let mut idle = lock(&dest.idle);
            let (keep, close) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|i| !i.sender.is_closed() && !expired(i.since_sweep));
            *idle = keep;
            close
        };
        drop(closing);
        let closing_h2 = {
            let mut h2 = lock(&dest.h2);
            let done = h2.conn.as_ref().is_some_and(|c| c.is_closed());
            if done || expired(h2.used_since_sweep) {
                h2.conn.take()
            } else {
                None
            }
        };
        drop(closing_h2);
    }
    drop(dests);
    // Only this map holds the ones whose count is 1: no attempt is using them.
    write(&shared.destinations).retain(|_, d| Arc::strong_count(d) > 1 || !d.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn pool() -> Pool {
        let connector = super::super::connector::build(&Config::default()).unwrap();
        Pool::new(connector, false, 8, Some(Duration::from_secs(1)))
    }

    #[test]
    fn destinations_are_one_per_scheme_and_authority() {
        let p = pool();
        let a = p.destination(&"http://h:1/x?y".parse().unwrap()).unwrap();
        let b = p.destination(&"http://h:1/other".parse().unwrap()).unwrap();
        let c = p.destination(&"https://h:1/x".parse().unwrap()).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(a.host_header(), "h:1");
        assert_eq!(a.dial, "http://h:1/");
        let default_port = p.destination(&"https://h:443/".parse().unwrap()).unwrap();
        assert_eq!(default_port.host_header(), "h");
        assert!(p.destination(&"/relative".parse().unwrap()).is_none());
        // A key longer than the stack buffer.
        let long = format!("http://{}:1/", "h".repeat(300));
        let d = p.destination(&long.parse().unwrap()).unwrap();
        assert!(Arc::ptr_eq(
            &d,
            &p.destination(&long.parse().unwrap()).unwrap()
        ));
    }

    #[test]
    fn a_sweep_forgets_destinations_with_nothing_left_that_no_attempt_holds() {
        let p = pool();
        let held = p.destination(&"http://held:1/".parse().unwrap()).unwrap();
        for i in 0..1000 {
            p.destination(&format!("http://h{i}:1/").parse().unwrap());
        }
        assert_eq!(read(&p.shared.destinations).len(), 1001);
        sweep_once(&p.shared);
        let map = read(&p.shared.destinations);
        assert_eq!(map.len(), 1);
        assert!(Arc::ptr_eq(map.values().next().unwrap(), &held));
    }

    #[tokio::test]
    async fn a_connection_handed_back_before_it_is_ready_joins_the_idle_ones_once_it_is() {
        use hyper_util::rt::TokioIo;
        let p = pool();
        let dest = p.destination(&"http://h:1/".parse().unwrap()).unwrap();
        let idle = || lock(&dest.idle).len();
        let handshake = || async {
            let (io, server) = tokio::io::duplex(1024);
            let (sender, conn) = http1::handshake::<_, Body>(TokioIo::new(io)).await.unwrap();
            (sender, conn, server)
        };
        // Its task has not run yet, so it is not ready.
        let (sender, conn, _server) = handshake().await;
        assert!(!sender.is_ready() && !sender.is_closed());
        p.put(&dest, sender);
        assert_eq!(idle(), 0);
        tokio::spawn(conn);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(idle(), 1);
        // One that closes instead never does.
        let (sender, conn, server) = handshake().await;
        p.put(&dest, sender);
        drop((conn, server));
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(idle(), 1);
    }

    #[tokio::test]
    async fn a_handed_back_connection_goes_to_the_oldest_attempt_still_waiting() {
        use hyper_util::rt::TokioIo;
        let p = pool();
        let dest = p.destination(&"http://h:1/".parse().unwrap()).unwrap();
        let (io, _server) = tokio::io::duplex(1024);
        let (sender, conn) = http1::handshake::<_, Body>(TokioIo::new(io)).await.unwrap();
        tokio::spawn(conn);
        tokio::task::yield_now().await;
        let (gave_up, _) = oneshot::channel();
        let (waits, mut got) = oneshot::channel();
        let (later, mut not_yet) = oneshot::channel();
        for tx in [gave_up, waits, later] {
            dest.wait_for_hand_back(tx);
        }
        // The first waiter's attempt is gone: the connection goes past it to the next.
        p.put(&dest, sender);
        assert!(got.try_recv().is_ok());
        assert!(not_yet.try_recv().is_err());
        assert_eq!(lock(&dest.idle).len(), 0);
        // Waiters that gave up are cleaned away as the queue grows.
        for _ in 0..100 {
            dest.wait_for_hand_back(oneshot::channel().0);
        }
        assert!(lock(&dest.connecting).waiters.len() < 40);
    }
}
