//! The one tokio runtime of this library, shared by every client in the process.
//!
//! - Started on first use, never at load time.
//! - Worker threads: `TAILRACE_WORKER_THREADS`, default the number of cores; under a language
//!   binding (C ABI, Go, Python) one fewer, at least one: see [`leave_a_core_to_callers`].
//! - After `fork()` the child cannot use the parent's runtime (its threads do not exist there).
//!   A `pthread_atfork` child handler bumps [`generation`]; the next use builds a fresh runtime and
//!   the old one is leaked, never dropped (dropping would join threads that are gone). Clients
//!   compare the generation too and rebuild their connection pools.
//! - A blocking wait on one of these threads could starve the runtime it waits on, so
//!   [`block_on`] refuses with `WouldDeadlock` there.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use once_cell::sync::Lazy;
use tokio::runtime::Handle;

use crate::error::{Error, ErrorKind, Result};
use crate::sync::lock;

/// Incremented in the child of every `fork()`.
static GENERATION: AtomicU64 = AtomicU64::new(0);

struct Shared {
    generation: u64,
    handle: Handle,
}

/// The current runtime; replaced (and the old one leaked) after a fork.
static CURRENT: Lazy<Mutex<Option<Arc<Shared>>>> = Lazy::new(|| Mutex::new(None));

thread_local! {
    /// True on this library's runtime threads.
    static ON_RUNTIME_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// This thread's cached view of the runtime, so the hot path takes no lock.
    static CACHED: std::cell::RefCell<Option<Arc<Shared>>> = const { std::cell::RefCell::new(None) };
}

extern "C" fn after_fork_in_child() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

fn register_fork_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: registering a handler that only touches an atomic is async-signal-safe.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
}

/// The fork generation: 0 in the process that loaded the library, +1 in each forked child.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Set by a language binding before the runtime starts: see [`leave_a_core_to_callers`].
static LEAVE_A_CORE: AtomicBool = AtomicBool::new(false);

/// Called by a language binding (the C ABI, which Go uses too, and the Python extension) before
/// it first starts the runtime: the default worker count becomes cores - 1, at least 1.
///
/// Why: a binding's callers submit calls and take their outcomes on threads of their own (a C
/// program's threads, Go's scheduler, the Python interpreter), busy on the same cores as the
/// runtime. A runtime as wide as the machine then gives the kernel more busy threads than cores,
/// and switching between them costs more than the extra worker gains. Measured on 2 cores (the
/// testbed on the same machine), 1 worker instead of 2: +10-30% requests/s through C and Go at
/// concurrency 64-256, +5-30% for Python's clients and +80% for its `send_many`, against mixed
/// results for Rust callers, who run on the runtime's own workers and keep one per core.
/// `TAILRACE_WORKER_THREADS` still decides when set; once the runtime has started this changes
/// nothing.
pub fn leave_a_core_to_callers() {
    LEAVE_A_CORE.store(true, Ordering::Relaxed);
}

/// Worker threads the runtime starts with.
pub fn worker_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    workers_for(
        std::env::var("TAILRACE_WORKER_THREADS").ok().as_deref(),
        cores,
        LEAVE_A_CORE.load(Ordering::Relaxed),
    )
}

/// The worker count from `TAILRACE_WORKER_THREADS` (a positive number wins; anything else is
/// ignored), else from the cores, one left to the callers when a binding asked.
fn workers_for(env: Option<&str>, cores: usize, leave_a_core: bool) -> usize {
    let from_env = env
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0);
    from_env.unwrap_or_else(|| {
        let cores = cores.max(1);
        if leave_a_core {
            (cores - 1).max(1)
        } else {
            cores
        }
    })
}

fn build(generation: u64) -> std::io::Result<Arc<Shared>> {
    register_fork_handler();
    let workers = worker_threads();
    // The first threads tokio starts are for its workers; later ones are its blocking pool (DNS
    // lookups, file reads), so `top -H` and the tests can tell the two apart. (See
    // `wait_for_workers` for why the first ones really are the workers.)
    let named = AtomicUsize::new(0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name_fn(move || {
            if named.fetch_add(1, Ordering::Relaxed) < workers {
                "tailrace-worker".into()
            } else {
                "tailrace-block".into()
            }
        })
        .enable_all()
        .on_thread_start(|| {
            ON_RUNTIME_THREAD.with(|f| f.set(true));
            block_sigpipe();
        })
        .build()?;
    let handle = rt.handle().clone();
    wait_for_workers(&handle);
    // The runtime lives as long as the process (or until a fork makes it unusable, when it is
    // leaked): dropping it would block on its worker threads.
    std::mem::forget(rt);
    Ok(Arc::new(Shared { generation, handle }))
}

/// Wait until every worker of a runtime just built has started, before its handle is handed out.
///
/// Why: tokio runs each worker as a job of its blocking pool, and the pool's threads take queued
/// jobs first come, first served, whichever thread starts first. A blocking job queued before
/// the workers have taken theirs could land on a thread named `tailrace-worker`, and a worker
/// on one named `tailrace-block`. Nothing can queue a job before the handle is handed out, and
/// a worker with nothing to do parks at once, so this waits for each to have parked once:
/// typically well under a millisecond, once per process (and per fork). Bounded: on a machine
/// too loaded to start a thread in a second, the names may be wrong, nothing else.
fn wait_for_workers(handle: &Handle) {
    let metrics = handle.metrics();
    let deadline = Instant::now() + Duration::from_secs(1);
    while (0..metrics.num_workers()).any(|w| metrics.worker_park_count(w) == 0)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// Block SIGPIPE on this (runtime) thread. Sockets are written with write/writev, and a write to
/// a connection the peer closed raises SIGPIPE, whose default action kills the process. Rust
/// programs ignore it at startup, but a C, C++ or Go program that links libtailrace does not; a
/// blocked SIGPIPE stays pending on the thread and the write fails with EPIPE, which the
/// transport reports as a broken connection.
fn block_sigpipe() {
    // SAFETY: plain signal-mask calls on the current thread with a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// The runtime's handle, starting it (or rebuilding it after a fork) when needed.
///
/// Panics if the runtime's threads cannot be started (the OS refused a thread): nothing could
/// run a call then. [`Client::new`](crate::Client::new) asks first, with [`try_handle`], and
/// returns that as an error.
pub fn handle() -> Handle {
    try_handle().unwrap_or_else(|e| panic!("tailrace: {e}"))
}

/// [`handle`], or an error when the runtime's threads cannot be started.
pub fn try_handle() -> Result<Handle> {
    let generation = generation();
    // `try_with`: in a thread's own TLS destructors (a C++ `thread_local`'s calling tailrace)
    // the cache is gone; the lock below still answers.
    let cached = CACHED
        .try_with(|c| {
            c.borrow()
                .as_ref()
                .filter(|s| s.generation == generation)
                .map(|s| s.handle.clone())
        })
        .ok()
        .flatten();
    if let Some(h) = cached {
        return Ok(h);
    }
    let shared = {
        let mut current = lock(&CURRENT);
        match current.as_ref() {
            Some(s) if s.generation == generation => s.clone(),
            old => {
                // In a forked child the old runtime's threads are gone: leak it, never drop it.
                if let Some(old) = old {
                    std::mem::forget(old.clone());
                }
                let fresh = build(generation).map_err(|e| {
                    Error::internal(format!(
                        "cannot start tailrace's runtime threads ({e}); the process may be at \
                         its thread or memory limit"
                    ))
                })?;
                *current = Some(fresh.clone());
                fresh
            }
        }
    };
    let h = shared.handle.clone();
    let _ = CACHED.try_with(|c| *c.borrow_mut() = Some(shared));
    Ok(h)
}

/// True when the calling thread is one of this library's runtime threads.
pub fn on_runtime_thread() -> bool {
    ON_RUNTIME_THREAD.with(|f| f.get())
}

/// The error a blocking call gets on a runtime thread.
pub(crate) fn would_deadlock() -> Error {
    Error::new(
        ErrorKind::WouldDeadlock,
        "a blocking tailrace call was made from one of tailrace's runtime threads \
         (for example inside a callback); use the async or queue API there",
    )
}

/// Run a future on the runtime and wait for it on the calling thread.
///
/// Returns `WouldDeadlock` on a runtime thread. Works from any other thread, including the
/// worker of some other tokio runtime (it blocks that thread, as any blocking call would).
pub fn block_on<F>(fut: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if on_runtime_thread() {
        return Err(would_deadlock());
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    handle().spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .map_err(|_| Error::internal("the runtime dropped a blocking call (did it panic?)"))
}

/// A value that belongs to one fork generation: a forked child builds a fresh one on first use
/// and never touches the parent's (its tasks, locks and sockets belong to threads that do not
/// exist in the child). The parent's value is leaked there, not dropped, for the same reason.
/// Public for the bindings, which keep per-process state of their own (the C ABI's drivers and
/// pending-call maps).
///
/// Every call reads it, so reading is one atomic load and no reference count: a value, once
/// published, is never freed while the `ForkLocal` lives (a replaced one is leaked), which is
/// what makes handing out `&T` for the `ForkLocal`'s lifetime sound.
pub struct ForkLocal<T> {
    current: AtomicPtr<ForkSlot<T>>,
    rebuild: Mutex<()>,
}

struct ForkSlot<T> {
    generation: u64,
    value: T,
}

// SAFETY: a ForkLocal hands out `&T` to any thread and moves `T` across threads when built, like
// an `Arc<T>` would.
unsafe impl<T: Send + Sync> Send for ForkLocal<T> {}
unsafe impl<T: Send + Sync> Sync for ForkLocal<T> {}

impl<T> std::fmt::Debug for ForkLocal<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForkLocal")
    }
}

impl<T> ForkLocal<T> {
    /// Holds `value` for the current generation.
    pub fn new(value: T) -> ForkLocal<T> {
        let slot = Box::new(ForkSlot {
            generation: generation(),
            value,
        });
        ForkLocal {
            current: AtomicPtr::new(Box::into_raw(slot)),
            rebuild: Mutex::new(()),
        }
    }

    /// This generation's value; in a forked child, the first caller builds it with `make`.
    pub fn get<E>(
        &self,
        make: impl FnOnce() -> std::result::Result<T, E>,
    ) -> std::result::Result<&T, E> {
        self.get_with(|_| make())
    }

    /// This generation's value; in a forked child, the first caller builds it with `make`, which
    /// is shown the value it replaces (the parent's, as it was at the fork) to copy what it can.
    /// `make` must never wait on a lock inside that value: a parent thread may have held it at
    /// the fork, and that thread does not exist here (`try_lock` is fine).
    pub(crate) fn get_or_inherit(&self, make: impl FnOnce(&T) -> T) -> &T {
        self.get_with(|old| Ok::<_, std::convert::Infallible>(make(old)))
            .unwrap_or_else(|never| match never {})
    }

    fn get_with<E>(
        &self,
        make: impl FnOnce(&T) -> std::result::Result<T, E>,
    ) -> std::result::Result<&T, E> {
        let generation = generation();
        if let Some(value) = self.load(generation) {
            return Ok(value);
        }
        let _lock = lock(&self.rebuild);
        if let Some(value) = self.load(generation) {
            return Ok(value);
        }
        // SAFETY: as in `load`: the slot is freed only in `Drop` (it is leaked once replaced).
        let old = unsafe { &(*self.current.load(Ordering::Acquire)).value };
        let fresh = Box::into_raw(Box::new(ForkSlot {
            generation,
            value: make(old)?,
        }));
        // The old slot is leaked, never freed: the parent's threads may still be reading it
        // (in the parent's address space), and dropping its value would touch dead threads' state.
        self.current.store(fresh, Ordering::Release);
        // SAFETY: `fresh` was just published and is freed only by `Drop`, which needs `&mut self`.
        Ok(unsafe { &(*fresh).value })
    }

    /// This generation's value; in a forked child, the first caller builds it with `make`,
    /// which cannot fail.
    pub fn get_or_make(&self, make: impl FnOnce() -> T) -> &T {
        self.get(|| Ok::<_, std::convert::Infallible>(make()))
            .unwrap_or_else(|never| match never {})
    }

    fn load(&self, generation: u64) -> Option<&T> {
        // SAFETY: the pointer always points to a slot built by `new` or `get` that is freed only
        // in `Drop` (replaced slots are leaked), so it is valid for as long as `&self` is.
        let slot = unsafe { &*self.current.load(Ordering::Acquire) };
        (slot.generation == generation).then_some(&slot.value)
    }
}

impl<T> Drop for ForkLocal<T> {
    fn drop(&mut self) {
        let slot = *self.current.get_mut();
        // SAFETY: the current slot came from `Box::into_raw` and nothing can borrow it any more.
        let slot = unsafe { Box::from_raw(slot) };
        if slot.generation != generation() {
            // A parent's value in a forked child: leaked, like every replaced one.
            std::mem::forget(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_runtime_for_every_caller() {
        let a = std::thread::spawn(|| handle().metrics().num_workers())
            .join()
            .unwrap();
        assert_eq!(a, worker_threads());
        let t1 = block_on(async { std::thread::current().name().map(str::to_owned) }).unwrap();
        assert_eq!(t1.as_deref(), Some("tailrace-worker"));
        let pool = block_on(async {
            tokio::task::spawn_blocking(|| std::thread::current().name().map(str::to_owned)).await
        })
        .unwrap()
        .unwrap();
        assert_eq!(
            pool.as_deref(),
            Some("tailrace-block"),
            "the blocking pool is not a worker"
        );
    }

    #[test]
    fn worker_count_from_the_variable_else_the_cores() {
        assert_eq!(workers_for(None, 8, false), 8);
        assert_eq!(
            workers_for(None, 8, true),
            7,
            "a binding leaves a core to its callers"
        );
        assert_eq!(workers_for(None, 2, true), 1);
        assert_eq!(workers_for(None, 1, true), 1, "never zero workers");
        assert_eq!(workers_for(Some(" 3 "), 8, true), 3, "the variable wins");
        assert_eq!(workers_for(Some("3"), 1, false), 3);
        assert_eq!(workers_for(Some("0"), 4, false), 4, "0 is ignored");
        assert_eq!(workers_for(Some("many"), 4, true), 3, "so is a non-number");
    }

    #[test]
    fn blocking_from_a_runtime_thread_is_refused() {
        let inner = block_on(async { block_on(async { 1 }).map_err(|e| e.kind()) }).unwrap();
        assert_eq!(inner, Err(ErrorKind::WouldDeadlock));
    }
}
