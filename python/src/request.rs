//! `tailrace.Request`: one call described ahead of time, for `send_many` and `AsyncClient.submit`.
//! Its arguments are checked when it is built; the URL and method when it is sent.

use pyo3::prelude::*;
use pyo3::types::PyAny;

use crate::convert::{self, CallArgs, CallFields};
use crate::errors::guard;

/// A request to send later.
#[pyclass(module = "tailrace", frozen)]
pub(crate) struct Request {
    pub(crate) inner: tailrace::Request,
    /// The method as given (upper-cased): the core keeps GET for one it cannot parse, and
    /// reports that when the request is sent.
    method: String,
    fields: CallFields,
}

#[pymethods]
impl Request {
    #[new]
    #[pyo3(signature = (method, url, *, headers=None, content=None, order_key=None, flush=false,
                        limit_key=None, idempotent=None, timeout_ms=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
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
    ) -> PyResult<Request> {
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
            Ok(Request {
                inner: built.req,
                method: built.method,
                fields: built.fields,
            })
        })
    }

    /// The HTTP method, as given (upper-cased).
    #[getter]
    fn method(&self) -> &str {
        &self.method
    }

    /// The URL or path as given.
    #[getter]
    fn url(&self) -> String {
        self.inner.target().into_owned()
    }

    /// The order key, or None.
    #[getter]
    fn order_key(&self) -> Option<&str> {
        self.fields.order_key.as_deref().filter(|k| !k.is_empty())
    }

    /// Whether this is a flush call.
    #[getter]
    fn flush(&self) -> bool {
        self.fields.flush
    }

    /// The limit key, or None (the client-wide key).
    #[getter]
    fn limit_key(&self) -> Option<&str> {
        self.fields.limit_key.as_deref().filter(|k| !k.is_empty())
    }

    /// The per-call idempotency override, or None (decided by the method).
    #[getter]
    fn idempotent(&self) -> Option<bool> {
        self.fields.idempotent
    }

    /// The per-call deadline in ms, or None (the client's `timeout_ms`).
    #[getter]
    fn timeout_ms(&self) -> Option<i64> {
        self.fields.timeout_ms
    }

    fn __repr__(&self) -> String {
        let mut s = format!("<Request {} {}", self.method(), self.url());
        if let Some(k) = self.order_key() {
            s.push_str(&format!(" order_key={k:?}"));
        }
        if self.fields.flush {
            s.push_str(" flush");
        }
        s.push('>');
        s
    }
}
