//! Core errors into Python exceptions: the one place that maps an `ErrorKind` to a class of
//! `tailrace.errors`, and a Rust panic to `Internal` (never pyo3's `PanicException`, which
//! is a `BaseException` that `except Exception` would miss).

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyModule};
use tailrace::{Error, ErrorKind, Sent, TimeoutKind};

static ERRORS_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// `tailrace.errors`, imported once.
fn module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    ERRORS_MODULE
        .get_or_try_init(py, || {
            PyModule::import(py, "tailrace.errors").map(Bound::unbind)
        })
        .map(|m| m.bind(py))
}

/// The class of `tailrace.errors` for a kind.
fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidOption => "InvalidOption",
        ErrorKind::InvalidRequest => "InvalidRequest",
        ErrorKind::Connect => "ConnectError",
        ErrorKind::Tls => "TLSError",
        ErrorKind::Timeout => "Timeout",
        ErrorKind::Protocol => "ProtocolError",
        ErrorKind::ResponseTooLarge => "ResponseTooLarge",
        ErrorKind::LimitQueueFull => "LimitQueueFull",
        ErrorKind::LimitTimeout => "LimitTimeout",
        ErrorKind::AllAttemptsFailed => "AllAttemptsFailed",
        ErrorKind::HttpStatus => "HTTPStatusError",
        ErrorKind::Cancelled => "Cancelled",
        ErrorKind::ClientClosed => "ClientClosed",
        ErrorKind::Internal => "Internal",
        // Not a kind of DESIGN's table, and unreachable here: this binding never blocks on a
        // runtime thread. Should it happen, it is a bug like any other (`kind` says which).
        ErrorKind::WouldDeadlock => "Internal",
        // A kind added to the core later still lands in the tree, under its root.
        _ => "TailraceError",
    }
}

fn sent_str(sent: Sent) -> &'static str {
    match sent {
        Sent::No => "no",
        Sent::Maybe => "maybe",
        Sent::Yes => "yes",
    }
}

fn timeout_str(which: TimeoutKind) -> &'static str {
    match which {
        TimeoutKind::Connect => "connect",
        TimeoutKind::Attempt => "attempt",
        TimeoutKind::Call => "call",
    }
}

/// The exception instance for a core error (not raised: `send_many` returns these in its list).
pub(crate) fn exception<'py>(py: Python<'py>, e: &Error) -> PyResult<Bound<'py, PyAny>> {
    let errors = module(py)?;
    let class = errors.getattr(class_name(e.kind()))?;
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("kind", e.kind().as_str())?;
    kwargs.set_item("sent", sent_str(e.sent_anything()))?;
    let exc = class.call((e.message(),), Some(&kwargs))?;
    if let Some(which) = e.timeout_kind() {
        exc.setattr("which", timeout_str(which))?;
    }
    if let Some(status) = e.status() {
        exc.setattr("status", status)?;
    }
    if e.kind() == ErrorKind::AllAttemptsFailed {
        let failure = errors.getattr("AttemptFailure")?;
        let attempts = PyList::empty(py);
        for a in e.attempts() {
            let cause = exception(py, &a.error)?;
            attempts.append(failure.call1((a.attempt, a.host.as_str(), cause))?)?;
        }
        exc.setattr("attempts", attempts)?;
    }
    Ok(exc)
}

/// The `PyErr` to raise for a core error.
pub(crate) fn to_pyerr(py: Python<'_>, e: &Error) -> PyErr {
    match exception(py, e) {
        Ok(exc) => PyErr::from_value(exc),
        Err(import_failed) => import_failed,
    }
}

/// An `Internal` error with this message (for panics and other bugs).
pub(crate) fn internal(py: Python<'_>, message: &str) -> PyErr {
    raise_class(py, "Internal", message)
}

/// An instance of a class of `tailrace.errors` with this message, as a `PyErr`.
pub(crate) fn raise_class(py: Python<'_>, class: &str, message: &str) -> PyErr {
    match module(py).and_then(|m| m.getattr(class)) {
        Ok(class) => match class.call1((message,)) {
            Ok(exc) => PyErr::from_value(exc),
            Err(e) => e,
        },
        Err(e) => e,
    }
}

/// Run a method body; a panic inside it becomes `Internal` naming the panic's message.
pub(crate) fn guard<T>(py: Python<'_>, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            Err(internal(
                py,
                &format!("internal error in tailrace (a bug, please report it): panic: {what}"),
            ))
        }
    }
}

/// A `TypeError` naming the argument at fault.
pub(crate) fn type_error(what: impl Into<String>) -> PyErr {
    pyo3::exceptions::PyTypeError::new_err(what.into())
}
