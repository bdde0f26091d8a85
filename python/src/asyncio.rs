//! The asyncio bridge: calls run as tasks on the core's one runtime; their results come back to
//! the event loop through a per-loop completion queue and a pipe the loop watches
//! (`loop.add_reader`). Runtime threads never take the GIL: they push the result and write one
//! byte only when the queue was idle, and the loop's thread turns results into Python objects
//! in batches. Cancelling the asyncio future aborts the call inside the runtime.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyList;
use tailrace::{Call, CallAbort};

use crate::errors::exception;
use crate::response::Response;

/// What a finished task hands back to the loop.
enum Outcome {
    One(tailrace::Result<tailrace::Response>),
    Many(Vec<tailrace::Result<tailrace::Response>>),
}

/// The part of a loop's bridge that runtime threads touch: no Python objects are used there
/// (the futures are only moved, and resolved on the loop's thread).
struct Shared {
    queue: Mutex<Vec<(Py<PyAny>, Outcome)>>,
    /// True from the byte written until the loop drains: one wake-up per batch.
    armed: AtomicBool,
    read_fd: RawFd,
    write_fd: RawFd,
}

impl Shared {
    fn complete(&self, future: Py<PyAny>, outcome: Outcome) {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((future, outcome));
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

/// One event loop's completion queue; its `_drain` is the loop's reader callback.
#[pyclass(module = "tailrace._native", frozen)]
pub(crate) struct Bridge {
    shared: Arc<Shared>,
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
        for (future, outcome) in batch {
            // A failure resolving one future must not strand the rest of the batch.
            if let Err(e) = resolve(py, future.bind(py), outcome) {
                e.write_unraisable(py, Some(future.bind(py)));
            }
        }
    }
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
        })
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
/// Bridges by loop; weak keys, so a closed and dropped loop takes its bridge with it.
static BRIDGES: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The running loop and its bridge (made and registered with `add_reader` on first use).
fn running_loop(py: Python<'_>) -> PyResult<(Bound<'_, PyAny>, Arc<Shared>)> {
    let get = GET_RUNNING_LOOP.get_or_try_init(py, || -> PyResult<_> {
        Ok(py.import("asyncio")?.getattr("get_running_loop")?.unbind())
    })?;
    let lp = get.bind(py).call0()?;
    let bridges = BRIDGES
        .get_or_try_init(py, || -> PyResult<_> {
            Ok(py
                .import("weakref")?
                .getattr("WeakKeyDictionary")?
                .call0()?
                .unbind())
        })?
        .bind(py);
    let found = bridges.call_method1("get", (&lp,))?;
    if let Ok(b) = found.cast::<Bridge>() {
        return Ok((lp, b.get().shared.clone()));
    }
    let bridge = Bound::new(py, Bridge::new()?)?;
    let fd = bridge.get().shared.read_fd;
    lp.call_method1("add_reader", (fd, bridge.getattr("_drain")?))?;
    bridges.set_item(&lp, &bridge)?;
    let shared = bridge.get().shared.clone();
    Ok((lp, shared))
}

/// Submit one call now and return a future resolved with its response. The call's own task
/// hands its outcome to the loop (no second task waiting on it). Cancelling the future aborts
/// the call inside the runtime.
pub(crate) fn future_of_call<'py>(
    py: Python<'py>,
    client: &tailrace::Client,
    req: tailrace::Request,
) -> PyResult<Bound<'py, PyAny>> {
    // The loop first: nothing is sent for a call that could never be awaited.
    let (lp, shared) = running_loop(py)?;
    let future = lp.call_method0("create_future")?;
    let handle = future.clone().unbind();
    let to_loop = shared.clone();
    match client.spawn_then(req, move |outcome| {
        to_loop.complete(handle, Outcome::One(outcome))
    }) {
        Ok(abort) => {
            future.call_method1("add_done_callback", (AbortOnDone(vec![abort]),))?;
        }
        // Refused at submission: resolved through the loop like any other outcome.
        Err(e) => shared.complete(future.clone().unbind(), Outcome::One(Err(e))),
    }
    Ok(future)
}

/// Submit calls (`submit` runs only once a loop is known to be running, so nothing is sent
/// for a call that could never be awaited) and return a future resolved with the list of their
/// results. Cancelling the future aborts every call behind it.
pub(crate) fn future_of_many<'py>(
    py: Python<'py>,
    submit: impl FnOnce() -> PyResult<Vec<Call>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (lp, shared) = running_loop(py)?;
    let future = lp.call_method0("create_future")?;
    let calls = submit()?;
    let aborts: Vec<CallAbort> = calls.iter().filter_map(Call::abort_handle).collect();
    if !aborts.is_empty() {
        future.call_method1("add_done_callback", (AbortOnDone(aborts),))?;
    }
    let handle = future.clone().unbind();
    let waiter = async move {
        let mut results = Vec::with_capacity(calls.len());
        for c in calls {
            results.push(c.await);
        }
        shared.complete(handle, Outcome::Many(results));
    };
    tailrace::runtime::handle().spawn(waiter);
    Ok(future)
}
