//! The asyncio bridge: calls run as tasks on the core's one runtime; their results come back to
//! the event loop through a per-loop completion queue and a pipe the loop watches
//! (`loop.add_reader`). Runtime threads never take the GIL: they push the result (tagged with the
//! call's id) and write one byte only when the queue was idle, and the loop's thread turns
//! results into Python objects in batches. Cancelling the asyncio future aborts the call inside
//! the runtime.
//!
//! The loop's bridge owns every pending call: its future and the handles that abort it. The loop
//! holds the bridge only through its reader, so closing the loop (which drops its readers)
//! drops the bridge, and dropping the bridge aborts every call still pending: a call whose loop
//! is gone releases its limiter slot and its order-key turn instead of running on with nobody to
//! hear its answer. A loop dropped without being closed goes the same way when the cycle
//! collector frees it (the bridge takes part in garbage collection).

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyList;
use pyo3::PyTraverseError;
use tailrace::{Call, CallAbort};

use crate::errors::exception;
use crate::response::Response;

/// What a finished task hands back to the loop.
enum Outcome {
    One(tailrace::Result<tailrace::Response>),
    Many(Vec<tailrace::Result<tailrace::Response>>),
}

/// The part of a loop's bridge that runtime threads touch: no Python objects at all (a call's
/// outcome is tagged with its id; the future stays with the `Bridge`, on the loop's side).
struct Shared {
    queue: Mutex<Vec<(u64, Outcome)>>,
    /// True from the byte written until the loop drains: one wake-up per batch.
    armed: AtomicBool,
    read_fd: RawFd,
    write_fd: RawFd,
}

impl Shared {
    fn complete(&self, id: u64, outcome: Outcome) {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, outcome));
        if !self.armed.swap(true, Ordering::AcqRel) {
            // SAFETY: write_fd is open for the life of `Shared`; a full pipe (impossible with one
            // byte per batch) would only mean the loop is already woken.
            unsafe { libc::write(self.write_fd, [1u8].as_ptr().cast(), 1) };
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: both ends were opened by `Bridge::new` and are closed only here.
        unsafe {
            libc::close(self.read_fd);
            libc::close(self.write_fd);
        }
    }
}

/// A call (or the calls of one `send_many`) submitted through a loop and not yet resolved.
struct Pending {
    future: Py<PyAny>,
    aborts: Vec<CallAbort>,
}

fn abort_all(pending: HashMap<u64, Pending>) {
    for p in pending.values() {
        for a in &p.aborts {
            a.abort();
        }
    }
    // The futures are dropped here, outside any lock (a decref may run Python code).
    drop(pending);
}

/// One event loop's completion queue and pending calls; its `_drain` is the loop's reader
/// callback. Only the loop's thread touches `pending`, always with the GIL held; the lock is
/// never held across a call into Python.
#[pyclass(module = "tailrace._native", frozen, weakref)]
pub(crate) struct Bridge {
    shared: Arc<Shared>,
    pending: Mutex<HashMap<u64, Pending>>,
    next_id: AtomicU64,
}

#[pymethods]
impl Bridge {
    /// Resolve every finished call's future (runs on the loop's thread).
    fn _drain(&self, py: Python<'_>) {
        let mut buf = [0u8; 64];
        // SAFETY: read_fd is a non-blocking pipe end owned by `Shared`.
        while unsafe { libc::read(self.shared.read_fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
        // Disarm before taking the batch: a result pushed after this writes a new byte.
        self.shared.armed.store(false, Ordering::Release);
        let batch =
            std::mem::take(&mut *self.shared.queue.lock().unwrap_or_else(|p| p.into_inner()));
        for (id, outcome) in batch {
            let Some(pending) = self.lock().remove(&id) else {
                continue; // dropped by `__clear__`: nobody is waiting
            };
            let future = pending.future.bind(py);
            // A failure resolving one future must not strand it, nor the rest of the batch: the
            // error goes to the future's awaiter.
            if let Err(e) = resolve(py, future, outcome) {
                if let Err(e) = fail(py, future, e) {
                    e.write_unraisable(py, Some(future));
                }
            }
        }
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // try_lock: the lock is never held across Python code, so this only fails if something
        // is badly wrong; skipping the visit then keeps the futures alive (safe, not a crash).
        if let Ok(pending) = self.pending.try_lock() {
            for p in pending.values() {
                visit.call(&p.future)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        let pending = std::mem::take(&mut *self.lock());
        abort_all(pending);
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let pending = std::mem::take(self.pending.get_mut().unwrap_or_else(|p| p.into_inner()));
        abort_all(pending);
    }
}

/// Set `error` on the future if it is still pending.
fn fail(py: Python<'_>, future: &Bound<'_, PyAny>, error: PyErr) -> PyResult<()> {
    if !future.call_method0("done")?.is_truthy()? {
        future.call_method1("set_exception", (error.into_value(py),))?;
    }
    Ok(())
}

fn resolve(py: Python<'_>, future: &Bound<'_, PyAny>, outcome: Outcome) -> PyResult<()> {
    if future.call_method0("done")?.is_truthy()? {
        return Ok(()); // cancelled by its awaiter: the call was aborted already
    }
    match outcome {
        Outcome::One(Ok(r)) => future.call_method1("set_result", (Response::new(r),))?,
        Outcome::One(Err(e)) => future.call_method1("set_exception", (exception(py, &e)?,))?,
        Outcome::Many(results) => future.call_method1("set_result", (to_list(py, results)?,))?,
    };
    Ok(())
}

/// Results in order: a `Response` or an exception instance for each.
pub(crate) fn to_list(
    py: Python<'_>,
    results: Vec<tailrace::Result<tailrace::Response>>,
) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for r in results {
        match r {
            Ok(r) => list.append(Response::new(r))?,
            Err(e) => list.append(exception(py, &e)?)?,
        }
    }
    Ok(list)
}

impl Bridge {
    fn new() -> PyResult<Bridge> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe fills two fds on success; fcntl only sets flags on them. (pipe + fcntl
        // rather than pipe2, which macOS lacks.)
        unsafe {
            if libc::pipe(fds.as_mut_ptr()) != 0 {
                return Err(std::io::Error::last_os_error().into());
            }
            for fd in fds {
                libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK);
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        Ok(Bridge {
            shared: Arc::new(Shared {
                queue: Mutex::new(Vec::new()),
                armed: AtomicBool::new(false),
                read_fd: fds[0],
                write_fd: fds[1],
            }),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Keep a submitted call's future and abort handles until its outcome is drained. Runs on
    /// the loop's thread before control returns to the loop, so always before `_drain` can see
    /// the call's outcome.
    fn track(&self, id: u64, future: &Bound<'_, PyAny>, aborts: Vec<CallAbort>) {
        let future = future.clone().unbind();
        self.lock().insert(id, Pending { future, aborts });
    }
}

/// Aborts the call(s) behind a future once it is done; a no-op for calls that finished.
#[pyclass(module = "tailrace._native", frozen)]
struct AbortOnDone(Vec<CallAbort>);

#[pymethods]
impl AbortOnDone {
    fn __call__(&self, _future: &Bound<'_, PyAny>) {
        for a in &self.0 {
            a.abort();
        }
    }
}

static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static WEAKREF: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
/// Bridges by loop: weak keys and weak values (a `weakref.ref` to the bridge). The loop's reader
/// is the only strong reference to its bridge, so the bridge lives exactly as long as the loop
/// watches its pipe; a strong value here would keep the loop alive through the futures the
/// bridge holds.
static BRIDGES: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The running loop and its bridge (made and registered with `add_reader` on first use).
fn running_loop(py: Python<'_>) -> PyResult<(Bound<'_, PyAny>, Bound<'_, Bridge>)> {
    let get = GET_RUNNING_LOOP.get_or_try_init(py, || -> PyResult<_> {
        Ok(py.import("asyncio")?.getattr("get_running_loop")?.unbind())
    })?;
    let lp = get.bind(py).call0()?;
    let weakref = WEAKREF
        .get_or_try_init(py, || -> PyResult<_> {
            Ok(py.import("weakref")?.unbind().into_any())
        })?
        .bind(py);
    let bridges = BRIDGES
        .get_or_try_init(py, || -> PyResult<_> {
            Ok(weakref.getattr("WeakKeyDictionary")?.call0()?.unbind())
        })?
        .bind(py);
    let found = bridges.call_method1("get", (&lp,))?;
    if !found.is_none() {
        if let Ok(b) = found.call0()?.cast_into::<Bridge>() {
            return Ok((lp, b));
        }
    }
    let bridge = Bound::new(py, Bridge::new()?)?;
    let fd = bridge.get().shared.read_fd;
    lp.call_method1("add_reader", (fd, bridge.getattr("_drain")?))?;
    bridges.set_item(&lp, weakref.getattr("ref")?.call1((&bridge,))?)?;
    Ok((lp, bridge))
}

/// Submit one call now and return a future resolved with its response. The call's own task
/// hands its outcome to the loop (no second task waiting on it). Cancelling the future aborts
/// the call inside the runtime, and so does closing the loop while it is pending.
pub(crate) fn future_of_call<'py>(
    py: Python<'py>,
    client: &tailrace::Client,
    req: tailrace::Request,
) -> PyResult<Bound<'py, PyAny>> {
    // The loop first: nothing is sent for a call that could never be awaited.
    let (lp, bridge) = running_loop(py)?;
    let bridge = bridge.get();
    let future = lp.call_method0("create_future")?;
    let id = bridge.next_id();
    let to_loop = bridge.shared.clone();
    match client.spawn_then(req, move |outcome| {
        to_loop.complete(id, Outcome::One(outcome))
    }) {
        Ok(abort) => {
            bridge.track(id, &future, vec![abort.clone()]);
            future.call_method1("add_done_callback", (AbortOnDone(vec![abort]),))?;
        }
        // Refused at submission: resolved through the loop like any other outcome.
        Err(e) => {
            bridge.track(id, &future, Vec::new());
            bridge.shared.complete(id, Outcome::One(Err(e)));
        }
    }
    Ok(future)
}

/// Submit calls (`submit` runs only once a loop is known to be running, so nothing is sent
/// for a call that could never be awaited) and return a future resolved with the list of their
/// results. Cancelling the future, or closing the loop, aborts every call behind it.
pub(crate) fn future_of_many<'py>(
    py: Python<'py>,
    submit: impl FnOnce() -> PyResult<Vec<Call>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (lp, bridge) = running_loop(py)?;
    let bridge = bridge.get();
    let future = lp.call_method0("create_future")?;
    let calls = submit()?;
    let aborts: Vec<CallAbort> = calls.iter().filter_map(Call::abort_handle).collect();
    let id = bridge.next_id();
    bridge.track(id, &future, aborts.clone());
    if !aborts.is_empty() {
        future.call_method1("add_done_callback", (AbortOnDone(aborts),))?;
    }
    let shared = bridge.shared.clone();
    let waiter = async move {
        let mut results = Vec::with_capacity(calls.len());
        for c in calls {
            results.push(c.await);
        }
        shared.complete(id, Outcome::Many(results));
    };
    tailrace::runtime::handle().spawn(waiter);
    Ok(future)
}
