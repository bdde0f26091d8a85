//! `Client` and `AsyncClient`: keyword options into the core's option table, calls submitted
//! with `Client::spawn` on the calling thread (so submission order is call order, and every
//! call is an abortable task on the core's one runtime), waited for with the GIL released.
//!
//! The HTTP-verb helpers (`get`, `post`, ...) and the async methods are thin Python in
//! `tailrace/_client.py`; everything that touches the core is here.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyAny, PyDict, PyList, PyTuple};
use tailrace::Call;

use crate::asyncio::{future_of_call, future_of_many, to_list};
use crate::convert::{self, CallArgs};
use crate::errors::{guard, to_pyerr, type_error};
use crate::request::Request;
use crate::response::Response;
use crate::wait::wait;

/// A core client from keyword options; a bad name or value raises `InvalidOption` naming it.
/// Building it (system TLS roots, reading `ca_file`, maybe starting the runtime) runs with the
/// GIL released.
fn build(py: Python<'_>, options: Option<&Bound<'_, PyDict>>) -> PyResult<tailrace::Client> {
    let config = convert::config(py, options)?;
    py.detach(move || tailrace::Client::new(config))
        .map_err(|e| to_pyerr(py, &e))
}

/// Submit every request of an iterable, in its order, on this thread.
fn submit_all(client: &tailrace::Client, requests: &Bound<'_, PyAny>) -> PyResult<Vec<Call>> {
    let items = requests.try_iter().map_err(|_| {
        type_error(format!(
            "send_many takes an iterable of tailrace.Request (a list, say), not {}",
            requests
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    // Read the whole iterable and check every item before submitting any, so a bad item
    // submits nothing.
    let mut reqs = Vec::with_capacity(requests.len().unwrap_or(0));
    for (i, item) in items.enumerate() {
        let item = item?;
        let r = item.cast::<Request>().map_err(|_| {
            type_error(format!(
                "send_many: item {i} must be a tailrace.Request, not {}",
                item.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        reqs.push(r.get().inner.clone());
    }
    Ok(reqs.into_iter().map(|r| client.spawn(r)).collect())
}

static JSON_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn stats<'py>(py: Python<'py>, client: &tailrace::Client) -> PyResult<Bound<'py, PyAny>> {
    let loads = JSON_LOADS.get_or_try_init(py, || -> PyResult<_> {
        Ok(py.import("json")?.getattr("loads")?.unbind())
    })?;
    // Through the core's JSON, so the keys are exactly those of every other language.
    loads.bind(py).call1((client.stats().to_json(),))
}

/// The synchronous client. Safe to share between threads; every wait releases the GIL.
#[pyclass(module = "tailrace", subclass, frozen)]
pub(crate) struct Client {
    inner: tailrace::Client,
}

impl Client {
    fn send_one(&self, py: Python<'_>, req: tailrace::Request) -> PyResult<Response> {
        let call = self.inner.spawn(req);
        match wait(py, call)? {
            Ok(r) => Ok(Response::new(r)),
            Err(e) => Err(to_pyerr(py, &e)),
        }
    }
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (**options))]
    fn new(py: Python<'_>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Client> {
        guard(py, || {
            Ok(Client {
                inner: build(py, options)?,
            })
        })
    }

    /// Make one call and wait for its answer.
    #[pyo3(signature = (method, url, *, headers=None, content=None, order_key=None, flush=false,
                        limit_key=None, idempotent=None, timeout_ms=None))]
    #[allow(clippy::too_many_arguments)]
    fn request(
        &self,
        py: Python<'_>,
        method: &Bound<'_, PyAny>,
        url: &Bound<'_, PyAny>,
        headers: Option<&Bound<'_, PyAny>>,
        content: Option<&Bound<'_, PyAny>>,
        order_key: Option<&Bound<'_, PyAny>>,
        flush: bool,
        limit_key: Option<&Bound<'_, PyAny>>,
        idempotent: Option<bool>,
        timeout_ms: Option<i64>,
    ) -> PyResult<Response> {
        guard(py, || {
            let built = convert::request(
                py,
                &CallArgs {
                    method,
                    url,
                    headers,
                    content,
                    order_key,
                    flush,
                    limit_key,
                    idempotent,
                    timeout_ms,
                },
            )?;
            self.send_one(py, built.req)
        })
    }

    /// Send a prepared `Request` and wait for its answer.
    fn send(&self, py: Python<'_>, request: &Bound<'_, Request>) -> PyResult<Response> {
        guard(py, || self.send_one(py, request.get().inner.clone()))
    }

    /// Submit every request in iteration order, run them all at once, and return a list with a
    /// `Response` or an exception instance for each, in that order.
    fn send_many<'py>(
        &self,
        py: Python<'py>,
        requests: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        guard(py, || {
            let calls = submit_all(&self.inner, requests)?;
            let results = wait(py, async move {
                let mut results = Vec::with_capacity(calls.len());
                for c in calls {
                    results.push(c.await);
                }
                results
            })?;
            to_list(py, results)
        })
    }

    /// A snapshot of this client's numbers (same keys as the stats JSON in every language).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guard(py, || stats(py, &self.inner))
    }

    /// Close the client: pending calls end with `ClientClosed`, new ones are refused. Idempotent.
    fn close(&self) {
        self.inner.close();
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, PyTuple>) -> bool {
        self.inner.close();
        false
    }
}

/// The asyncio client. `submit` and `send_many`'s native half submit when called; the coroutine
/// methods (`get`, `request`, ...) submit when their coroutine first runs (see `_client.py`).
#[pyclass(module = "tailrace", subclass, frozen)]
pub(crate) struct AsyncClient {
    inner: tailrace::Client,
}

#[pymethods]
impl AsyncClient {
    #[new]
    #[pyo3(signature = (**options))]
    fn new(py: Python<'_>, options: Option<&Bound<'_, PyDict>>) -> PyResult<AsyncClient> {
        guard(py, || {
            Ok(AsyncClient {
                inner: build(py, options)?,
            })
        })
    }

    /// Submit a call now; returns an asyncio future of its `Response`. Positional, for the
    /// typed `async def` methods of the Python class.
    #[allow(clippy::too_many_arguments)]
    fn _start<'py>(
        &self,
        py: Python<'py>,
        method: &Bound<'py, PyAny>,
        url: &Bound<'py, PyAny>,
        headers: Option<&Bound<'py, PyAny>>,
        content: Option<&Bound<'py, PyAny>>,
        order_key: Option<&Bound<'py, PyAny>>,
        flush: bool,
        limit_key: Option<&Bound<'py, PyAny>>,
        idempotent: Option<bool>,
        timeout_ms: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        guard(py, || {
            let built = convert::request(
                py,
                &CallArgs {
                    method,
                    url,
                    headers,
                    content,
                    order_key,
                    flush,
                    limit_key,
                    idempotent,
                    timeout_ms,
                },
            )?;
            future_of_call(py, &self.inner, built.req)
        })
    }

    /// Submit a prepared `Request` now, on this line; returns an asyncio future of its
    /// `Response`. Cancelling the future cancels the call.
    fn submit<'py>(
        &self,
        py: Python<'py>,
        request: &Bound<'py, Request>,
    ) -> PyResult<Bound<'py, PyAny>> {
        guard(py, || {
            future_of_call(py, &self.inner, request.get().inner.clone())
        })
    }

    /// Submit every request in iteration order now; returns a future of the list of results (a
    /// `Response` or an exception instance each, in list order).
    fn _send_many<'py>(
        &self,
        py: Python<'py>,
        requests: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        guard(py, || {
            future_of_many(py, || submit_all(&self.inner, requests))
        })
    }

    /// A snapshot of this client's numbers (same keys as the stats JSON in every language).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guard(py, || stats(py, &self.inner))
    }

    /// Close the client now (sync form of `aclose`).
    fn close(&self) {
        self.inner.close();
    }

    /// Whether the client was closed.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }
}

/// Raises a Rust panic inside a guarded method: lets the tests see a panic become
/// `tailrace.Internal` rather than pyo3's `PanicException`. Not part of the API.
#[pyfunction]
pub(crate) fn _panic_for_tests(py: Python<'_>, message: &str) -> PyResult<()> {
    guard(py, || panic!("{message}"))
}
