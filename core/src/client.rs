//! [`Client`] wires the stages of a call together (DESIGN.md, "The path of one call"):
//!
//! ```text
//! send ─► validate ─► (order gate) ─► (limiter) ─► hedger ─► balancer ─► attempt ─► transport
//! ```
//!
//! `send` does the synchronous part on the caller's thread (validation, and the sequence number
//! the order gate needs, so submission order is the order `send` calls return); the rest runs on
//! the shared runtime (spawned from other threads, inline when awaited on a runtime thread).
//! Dropping the returned future cancels the call inside the runtime.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::task::{AbortHandle, JoinHandle};

use crate::balance::Balancer;
use crate::call::Prepared;
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result, Sent, TimeoutKind};
use crate::hedge::{Env, Hedger};
use crate::limit::Limiter;
use crate::order::Gate;
use crate::request::Request;
use crate::response::Response;
use crate::runtime::{self, ForkLocal};
use crate::stats::{LimitKeyStats, Recorder, Stats};
use crate::transport::Transport;
use crate::watchdog::{Ended, Watchdog};

/// Builds a [`Client`] from typed methods or option names (the same names as C, Python and Go).
#[derive(Debug, Default)]
pub struct ClientBuilder {
    config: Config,
    error: Option<Error>,
}

impl ClientBuilder {
    /// Set any option by name, e.g. `set("concurrent_calls", "3")`. A bad name or value is
    /// reported by [`ClientBuilder::build`], naming the option.
    pub fn set(mut self, name: &str, value: &str) -> ClientBuilder {
        if self.error.is_none() {
            if let Err(e) = self.config.set(name, value) {
                self.error = Some(e);
            }
        }
        self
    }

    /// `hosts`: base URLs a relative path is sent to.
    pub fn hosts<I, S>(self, hosts: I) -> ClientBuilder
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let list: Vec<String> = hosts.into_iter().map(|h| h.as_ref().to_string()).collect();
        self.set("hosts", &list.join(","))
    }

    /// `concurrent_calls`: attempts per call at most (1 to 10).
    pub fn concurrent_calls(self, n: u32) -> ClientBuilder {
        self.set("concurrent_calls", &n.to_string())
    }

    /// `hedge_delay_ms`: delay before the next attempt.
    pub fn hedge_delay(self, d: Duration) -> ClientBuilder {
        self.set("hedge_delay_ms", &ms(d))
    }

    /// `hedge_percentile`: adapt the hedge delay to this latency percentile.
    pub fn hedge_percentile(self, p: f64) -> ClientBuilder {
        self.set("hedge_percentile", &p.to_string())
    }

    /// `hedge_max_extra_load`: extra attempts ÷ calls allowed.
    pub fn hedge_max_extra_load(self, f: f64) -> ClientBuilder {
        self.set("hedge_max_extra_load", &f.to_string())
    }

    /// `max_count`: attempts in flight per limit key at most (a call's first attempt and each
    /// hedge take a slot).
    pub fn max_count(self, n: u32) -> ClientBuilder {
        self.set("max_count", &n.to_string())
    }

    /// `max_queue`: calls waiting for a slot per limit key at most.
    pub fn max_queue(self, n: u32) -> ClientBuilder {
        self.set("max_queue", &n.to_string())
    }

    /// `queue_timeout_ms`: how long a call may wait for a slot.
    pub fn queue_timeout(self, d: Duration) -> ClientBuilder {
        self.set("queue_timeout_ms", &whole_ms(d))
    }

    /// `timeout_ms`: deadline for the whole call.
    pub fn timeout(self, d: Duration) -> ClientBuilder {
        self.set("timeout_ms", &whole_ms(d))
    }

    /// `attempt_timeout_ms`: deadline for one attempt.
    pub fn attempt_timeout(self, d: Duration) -> ClientBuilder {
        self.set("attempt_timeout_ms", &whole_ms(d))
    }

    /// `connect_timeout_ms`: deadline for TCP connect plus TLS handshake.
    pub fn connect_timeout(self, d: Duration) -> ClientBuilder {
        self.set("connect_timeout_ms", &whole_ms(d))
    }

    /// `max_response_bytes`: larger bodies fail while they stream.
    pub fn max_response_bytes(self, n: u64) -> ClientBuilder {
        self.set("max_response_bytes", &n.to_string())
    }

    /// `ca_file`: PEM CA certificates trusted in addition to the system's.
    pub fn ca_file(self, path: impl AsRef<std::path::Path>) -> ClientBuilder {
        let p = path.as_ref().to_string_lossy().into_owned();
        self.set("ca_file", &p)
    }

    /// `http2_prior_knowledge`: speak HTTP/2 without negotiation (h2c over plain TCP).
    pub fn http2_prior_knowledge(self, on: bool) -> ClientBuilder {
        self.set("http2_prior_knowledge", if on { "true" } else { "false" })
    }

    /// Check the options against each other and start the client.
    pub fn build(self) -> Result<Client> {
        if let Some(e) = self.error {
            return Err(e);
        }
        Client::new(self.config)
    }
}

fn ms(d: Duration) -> String {
    format!("{}", d.as_secs_f64() * 1000.0)
}

/// Whole milliseconds, rounded up: a deadline under a millisecond must not become 0, which
/// means "no deadline".
fn whole_ms(d: Duration) -> String {
    d.as_nanos().div_ceil(1_000_000).to_string()
}

/// The order gate and the limiter of one fork generation. A forked child starts with empty ones:
/// the parent's pending calls do not exist there, so their turns and slots must not either (and
/// a lock a parent thread held at the fork must never be waited on).
struct Stages {
    gate: Gate,
    limiter: Limiter,
}

impl Stages {
    fn new(config: &Config) -> Stages {
        Stages {
            gate: Gate::new(),
            limiter: Limiter::new(config),
        }
    }
}

struct Inner {
    config: Config,
    /// This fork generation's connection pool (a forked child builds its own).
    transport: ForkLocal<Transport>,
    recorder: Recorder,
    stages: ForkLocal<Stages>,
    hedger: Hedger,
    balancer: Balancer,
    /// Set by `close`; kept here as well as in the watchdog so a forked child's fresh watchdog
    /// starts closed when the client was.
    closed: AtomicBool,
    /// Ends pending calls on close and at their deadline (one per fork generation).
    watchdog: ForkLocal<Arc<Watchdog>>,
}

/// An HTTP client. Cheap to clone (clones share pools, stats and limits); safe to use from any
/// thread. Every client in the process runs on the one shared runtime.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

// A panic elsewhere cannot leave a client half-updated: its state is atomics and locks whose
// poisoning is ignored on purpose. So bindings may hold clients across `catch_unwind`.
impl std::panic::UnwindSafe for Client {}
impl std::panic::RefUnwindSafe for Client {}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Client {
    /// A builder taking every option by typed method or by name.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client from a finished [`Config`] (the path bindings take).
    pub fn new(config: Config) -> Result<Client> {
        config.validate()?;
        let transport = Transport::new(&config)?;
        let recorder = Recorder::new();
        let balancer = Balancer::new(&config, &recorder);
        Ok(Client {
            inner: Arc::new(Inner {
                transport: ForkLocal::new(transport),
                recorder,
                stages: ForkLocal::new(Stages::new(&config)),
                hedger: Hedger::new(&config),
                balancer,
                closed: AtomicBool::new(false),
                watchdog: ForkLocal::new(Watchdog::new(false)),
                config,
            }),
        })
    }

    /// Submit a call and get a future of its answer. Validation and the call's place in
    /// submission order happen now, on this thread, so submission order is the order `send`
    /// calls return.
    ///
    /// From any thread but tailrace's own, the call is spawned on the shared runtime and runs
    /// whether or not the future is polled. On one of tailrace's runtime threads (inside a task
    /// spawned on [`runtime::handle`]) it runs inside the returned future itself — no task hop
    /// and no allocation per call: await it. Either way, dropping the future cancels the call.
    /// ([`Client::spawn`] always spawns, and its [`Call`] has an abort handle.)
    pub fn send(&self, req: Request) -> impl Future<Output = Result<Response>> + Send + 'static {
        if runtime::on_runtime_thread() {
            let inner = self.inner.clone();
            match inner.submit_to_run(req) {
                Err(e) => Sending::Spawned {
                    call: Call::failed(e),
                },
                Ok(call) => Sending::Inline {
                    run: inner.run(call),
                },
            }
        } else {
            Sending::Spawned {
                call: self.spawn(req),
            }
        }
    }

    /// Like [`Client::send`], but always spawned on the shared runtime: the call runs whether
    /// or not the [`Call`] is polled, and [`Call::abort_handle`] can cancel it from anywhere.
    /// Bindings use this path.
    pub fn spawn(&self, req: Request) -> Call {
        let inner = self.inner.clone();
        // A call the limiter turns away at once fails here too, with no task.
        match inner.submit_to_run(req) {
            Err(e) => Call::failed(e),
            Ok(call) => {
                let task = runtime::handle().spawn(inner.run(call));
                Call {
                    state: CallState::Running(task),
                }
            }
        }
    }

    /// Submit a call now and run it on the shared runtime; `then` gets its outcome on a runtime
    /// thread when it ends (`Cancelled` when it is aborted through the returned handle). One
    /// task runs both the call and `then`: no second task waits on the first. A call refused at
    /// submission, an invalid one or one the limiter turns away at once (its queue full), is the
    /// `Err`, and `then` is not called. For bindings that deliver outcomes to an event loop of
    /// their own; `then` must not block.
    pub fn spawn_then<T>(&self, req: Request, then: T) -> Result<CallAbort>
    where
        T: FnOnce(Result<Response>) + Send + 'static,
    {
        let inner = self.inner.clone();
        let call = inner.submit_to_run(req)?;
        let task = runtime::handle().spawn(Then {
            call: inner.run(call),
            then: ThenGuard(Some(then)),
        });
        Ok(CallAbort(task.abort_handle()))
    }

    /// Submit a call now (validation and its place in submission order, on this thread) and
    /// return the call's own future, which runs only when polled on tailrace's runtime. A call
    /// refused at submission is the `Err`. For bindings that spawn one task per call which both
    /// runs the call and delivers its outcome (a completion queue, a callback): the call lives
    /// inside that task, with no allocation of its own. Dropping the future cancels the call.
    ///
    /// A call whose outcome is already known at submission, one the limiter turned away
    /// (`LimitQueueFull`), comes back [`Submitted::Ended`]: it has ended and is counted like any
    /// other, and its error can be delivered from this thread, with no trip through the runtime.
    pub fn submit(
        &self,
        req: Request,
    ) -> Result<Submitted<impl Future<Output = Result<Response>> + Send + 'static>> {
        let inner = self.inner.clone();
        let call = inner.submit(req)?;
        Ok(match inner.unless_turned_away(call) {
            Ok(call) => Submitted::Running(inner.run(call)),
            Err(e) => Submitted::Ended(Err(e)),
        })
    }

    /// Submit a call and wait for it on this thread. Returns `WouldDeadlock` when called from one
    /// of tailrace's runtime threads (a callback, say) instead of hanging.
    pub fn send_blocking(&self, req: Request) -> Result<Response> {
        if runtime::on_runtime_thread() {
            return Err(runtime::would_deadlock());
        }
        let inner = self.inner.clone();
        // Turned away by the limiter: the error is here already, no need to wake the runtime.
        let call = inner.submit_to_run(req)?;
        runtime::block_on(inner.run(call))?
    }

    /// A snapshot of this client's numbers.
    pub fn stats(&self) -> Stats {
        let inner = &self.inner;
        // Ejections that ended are cleared first, so the hosts in the snapshot show them.
        inner.balancer.refresh_ejected();
        let mut stats = inner.recorder.snapshot();
        let stages = inner.stages();
        stages.gate.fill(&mut stats);
        stages.limiter.fill(&mut stats);
        inner.hedger.fill(&mut stats);
        stats
    }

    /// One limit key's numbers now: slots in flight and calls queued (`""` or `None` is the
    /// client-wide key). Keys are dropped when idle, so a key with nothing pending reads as zeros.
    pub fn limit_key_stats(&self, limit_key: Option<&str>) -> LimitKeyStats {
        self.inner.stages().limiter.key_stats(limit_key)
    }

    /// The options this client was built with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Close the client: calls still pending end with `ClientClosed`, new calls are refused with
    /// it. Idempotent. Clones of this client are closed too.
    pub fn close(&self) {
        self.inner.closed.store(true, Relaxed);
        self.inner.watchdog().close();
    }

    /// Whether [`Client::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Relaxed)
    }
}

fn closed_error(sent: Sent) -> Error {
    Error::new(ErrorKind::ClientClosed, "the client was closed").with_sent(sent)
}

/// Records how a running call ended, even when it is cancelled (dropped).
struct CallGuard<'a> {
    recorder: &'a Recorder,
    done: bool,
    submitted: std::time::Instant,
}

impl CallGuard<'_> {
    fn finish(mut self, result: &Result<Response>) {
        match result {
            Err(e) => self.fail(e),
            Ok(r) => {
                self.done = true;
                // A response carries its elapsed time already: one clock read fewer per call.
                self.recorder.record_latency(r.elapsed());
            }
        }
    }

    fn fail(mut self, e: &Error) {
        self.done = true;
        self.recorder.record_error(e.kind());
        self.recorder.record_latency(self.submitted.elapsed());
    }
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.recorder.record_error(ErrorKind::Cancelled);
        }
    }
}

impl Inner {
    /// The synchronous part of `send`: count, validate, take a place in submission order.
    fn submit(&self, req: Request) -> Result<Prepared> {
        self.recorder.calls.add(1, Relaxed);
        let prepared = if self.closed.load(Relaxed) {
            Err(closed_error(Sent::No))
        } else {
            let stages = self.stages();
            Prepared::new(req, &self.config, &stages.gate, &self.recorder).map(|mut call| {
                // When the call's order turn has already come, its place at the limiter is taken
                // now too, so the limiter's FIFO is submission order (tasks may start in any
                // order) and a full queue rejects the call that was submitted last.
                if call.ticket.is_ready() {
                    call.admission = Some(stages.limiter.admit(call.limit_key.as_deref()));
                }
                call
            })
        };
        if let Err(e) = &prepared {
            self.recorder.record_error(e.kind());
        }
        prepared
    }

    /// [`Inner::submit`], and a call the limiter turns away at once is the `Err` too.
    fn submit_to_run(&self, req: Request) -> Result<Prepared> {
        let call = self.submit(req)?;
        self.unless_turned_away(call)
    }

    /// The call, unless the limiter turned it away at submission (its queue full): then the call
    /// ends here, counted like any other end and giving up its order turn, and its error is
    /// returned for the caller to deliver from this thread, with no trip through the runtime.
    fn unless_turned_away(&self, mut call: Prepared) -> Result<Prepared> {
        let Some(Err(e)) = call.admission.take_if(|a| a.is_err()) else {
            return Ok(call);
        };
        CallGuard {
            recorder: &self.recorder,
            done: false,
            submitted: call.submitted,
        }
        .fail(&e);
        Err(e)
    }

    /// Everything after submission, on the runtime, under the call's deadline.
    ///
    /// Not an `async fn`: an async fn's future keeps its arguments twice, as they came and as
    /// its body's locals (rust-lang/rust#62958), and `call` is 440 bytes that every spawn and
    /// move of the future would copy again. An `async move` block uses its captures in place.
    #[allow(clippy::manual_async_fn)] // on purpose: see above
    fn run(
        self: Arc<Self>,
        mut call: Prepared,
    ) -> impl Future<Output = Result<Response>> + Send + 'static {
        async move {
            let guard = CallGuard {
                recorder: &self.recorder,
                done: false,
                submitted: call.submitted,
            };
            // The whole call, queueing included, runs under `timeout_ms` from its submission.
            let deadline = call.timeout.map(|t| (call.submitted + t, t));
            let ended = self
                .watchdog()
                .watch(deadline, self.execute(&mut call))
                .await;
            // Ended before it held its limiter slot (waiting for its order turn or in the
            // limiter's queue, or never polled): no attempt was made, so a retry is safe.
            let sent = if call.ticket.has_started() {
                Sent::Maybe
            } else {
                Sent::No
            };
            let result = match ended {
                Ended::Done(r) => r,
                Ended::Closed => Err(closed_error(sent)),
                Ended::TimedOut(t) => Err(Error::timeout(TimeoutKind::Call, t, sent)),
            };
            guard.finish(&result);
            result
        }
    }

    /// The stages after submission, in DESIGN.md's order: order gate, limiter, hedger.
    async fn execute(&self, call: &mut Prepared) -> Result<Response> {
        let stages = self.stages();
        let limiter = &stages.limiter;
        let admission = match call.admission.take() {
            Some(admission) => admission?,
            None => {
                // A call never holds a limiter slot (or a place in its queue) while it waits
                // for its turn.
                call.ticket.wait().await;
                limiter.admit(call.limit_key.as_deref())?
            }
        };
        let first = admission.into_permit().await?;
        // Holding its slot, the call has started: calls after a flush may now go too.
        call.ticket.started();
        let transport = self.transport()?;
        let env = Env {
            transport,
            recorder: &self.recorder,
            balancer: &self.balancer,
            config: &self.config,
        };
        let spare_slots = first.spare_slots();
        let spare = || spare_slots.as_ref().and_then(|s| s.try_take());
        self.hedger.run(&env, call, first, &spare).await
    }

    /// This fork generation's order gate and limiter (fresh ones in a forked child).
    fn stages(&self) -> &Stages {
        self.stages.get_or_make(|| Stages::new(&self.config))
    }

    /// This fork generation's watchdog (a fresh one in a forked child: the parent's pending
    /// calls do not exist there, and a lock a parent thread held must never be waited on).
    fn watchdog(&self) -> &Watchdog {
        self.watchdog
            .get_or_make(|| Watchdog::new(self.closed.load(Relaxed)))
    }

    /// This fork generation's pool: a forked child must not touch the parent's connections
    /// (they belong to the parent's runtime), so it builds fresh ones.
    fn transport(&self) -> Result<&Transport> {
        self.transport.get(|| Transport::new(&self.config))
    }
}

/// A call [`Client::submit`] took.
#[derive(Debug)]
pub enum Submitted<F> {
    /// The call runs when this future is polled on tailrace's runtime.
    Running(F),
    /// The call ended at submission (the limiter's queue was full): its outcome, with nothing
    /// sent.
    Ended(Result<Response>),
}

pin_project_lite::pin_project! {
    /// The future [`Client::send`] returns: the call itself when it runs inline, else a
    /// [`Call`] (spawned, or refused at submission).
    #[project = SendingProj]
    enum Sending<F> {
        Inline { #[pin] run: F },
        Spawned { #[pin] call: Call },
    }
}

impl<F: Future<Output = Result<Response>>> Future for Sending<F> {
    type Output = Result<Response>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            SendingProj::Inline { run } => run.poll(cx),
            SendingProj::Spawned { call } => call.poll(cx),
        }
    }
}

pin_project_lite::pin_project! {
    /// The task of [`Client::spawn_then`]: the call, then its outcome handed to `then`.
    struct Then<F, T: FnOnce(Result<Response>)> {
        #[pin]
        call: F,
        // After `call`: fields drop in order, so a cancelled call has released what it held
        // before `then` hears of it.
        then: ThenGuard<T>,
    }
}

impl<F, T> Future for Then<F, T>
where
    F: Future<Output = Result<Response>>,
    T: FnOnce(Result<Response>),
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        // A panic in the call (a bug) becomes its outcome rather than a silent cancel.
        let outcome =
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| this.call.poll(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(outcome)) => outcome,
                Err(_) => Err(Error::internal("a call panicked")),
            };
        if let Some(then) = this.then.0.take() {
            then(outcome);
        }
        Poll::Ready(())
    }
}

/// Calls `then` with `Cancelled` if the call is dropped before it ends (aborted).
struct ThenGuard<T: FnOnce(Result<Response>)>(Option<T>);

impl<T: FnOnce(Result<Response>)> Drop for ThenGuard<T> {
    fn drop(&mut self) {
        if let Some(then) = self.0.take() {
            then(Err(Error::cancelled()));
        }
    }
}

enum CallState {
    /// Spawned on the runtime.
    Running(JoinHandle<Result<Response>>),
    Failed(Option<Error>),
    Done,
}

/// A submitted call: a future of its answer. Dropping it before it completes cancels the call
/// inside the runtime (its connection work stops, and later stages release what it held).
#[must_use = "a Call runs on its own, but dropping it cancels it"]
pub struct Call {
    state: CallState,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Call")
    }
}

impl Call {
    fn failed(e: Error) -> Call {
        Call {
            state: CallState::Failed(Some(e)),
        }
    }

    /// A handle that cancels this call from anywhere (bindings keep it by call id). `None` for
    /// calls that already failed.
    pub fn abort_handle(&self) -> Option<CallAbort> {
        match &self.state {
            CallState::Running(t) => Some(CallAbort(t.abort_handle())),
            _ => None,
        }
    }
}

/// Cancels a call; cancelling a finished call does nothing.
#[derive(Clone, Debug)]
pub struct CallAbort(AbortHandle);

impl CallAbort {
    /// Cancel the call: it ends with `Cancelled` and releases everything it held.
    pub fn abort(&self) {
        self.0.abort();
    }
}

impl Future for Call {
    type Output = Result<Response>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let out = match &mut self.state {
            CallState::Running(task) => match ready!(Pin::new(task).poll(cx)) {
                Ok(r) => r,
                Err(e) if e.is_cancelled() => Err(Error::cancelled()),
                Err(e) => {
                    let msg = e
                        .try_into_panic()
                        .ok()
                        .and_then(|p| {
                            p.downcast_ref::<&str>()
                                .map(|s| s.to_string())
                                .or_else(|| p.downcast_ref::<String>().cloned())
                        })
                        .unwrap_or_else(|| "a call's task panicked".into());
                    Err(Error::internal(msg))
                }
            },
            CallState::Failed(e) => {
                Err(e.take().unwrap_or_else(|| Error::internal("polled twice")))
            }
            CallState::Done => Err(Error::internal("a Call was polled after it completed")),
        };
        self.state = CallState::Done;
        Poll::Ready(out)
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if let CallState::Running(task) = &self.state {
            task.abort();
        }
    }
}
