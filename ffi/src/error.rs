//! `tailrace_error`: why one call failed, with everything the core's `Error` knows.

use std::ffi::{c_char, CString};

use tailrace_core::{Error, Sent, TimeoutKind};

use crate::boundary::{self, arg_ref, take_handle, write_if_wanted, Fail};
use crate::result::{tailrace_result, to_cstring};

/// Why a call failed: its code, a message naming the cause, which deadline passed, whether the
/// backend may have seen the request, and for `TAILRACE_E_ALL_ATTEMPTS_FAILED` each attempt's
/// host and cause. Comes in a `tailrace_event` or from `tailrace_send_blocking`.
///
/// Methods:
/// - `tailrace_error_code`: the `tailrace_result` code.
/// - `tailrace_error_message`: the message.
/// - `tailrace_error_timeout`: which deadline passed, for `TAILRACE_E_TIMEOUT`.
/// - `tailrace_error_sent`: whether the backend may have seen the request.
/// - `tailrace_error_status`: the HTTP status, when an answer's status was the failure.
/// - `tailrace_error_attempt_count`, `tailrace_error_attempt`, `tailrace_error_attempt_cause`:
///   each failed attempt.
/// - `tailrace_error_free`: free it.
///
/// Threads: immutable; read it from any thread, free it once.
pub struct tailrace_error {
    code: tailrace_result,
    message: CString,
    timeout: tailrace_timeout,
    sent: tailrace_sent,
    status: u16,
    attempts: Vec<AttemptRow>,
}

struct AttemptRow {
    /// Which attempt (0: the first one sent).
    attempt: u32,
    host: CString,
    /// The attempt's own error; its accessors work on it (it has no attempts of its own).
    cause: tailrace_error,
}

/// Which deadline passed (`tailrace_error_timeout`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum tailrace_timeout {
    /// The error is not a timeout.
    TAILRACE_TIMEOUT_NONE = 0,
    /// `connect_timeout_ms`: TCP connect plus TLS handshake.
    TAILRACE_TIMEOUT_CONNECT = 1,
    /// `attempt_timeout_ms`: one attempt.
    TAILRACE_TIMEOUT_ATTEMPT = 2,
    /// `timeout_ms`: the whole call, waits included.
    TAILRACE_TIMEOUT_CALL = 3,
}

/// Whether the backend may have seen a failed call's request (`tailrace_error_sent`).
/// `TAILRACE_SENT_NO` means a retry cannot duplicate work at the backend.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum tailrace_sent {
    /// Nothing reached the backend.
    TAILRACE_SENT_NO = 0,
    /// The request may have reached the backend.
    TAILRACE_SENT_MAYBE = 1,
    /// The backend answered.
    TAILRACE_SENT_YES = 2,
}

impl tailrace_error {
    pub(crate) fn new(e: &Error) -> tailrace_error {
        tailrace_error {
            code: tailrace_result::from_kind(e.kind()),
            message: to_cstring(&e.to_string()),
            timeout: match e.timeout_kind() {
                None => tailrace_timeout::TAILRACE_TIMEOUT_NONE,
                Some(TimeoutKind::Connect) => tailrace_timeout::TAILRACE_TIMEOUT_CONNECT,
                Some(TimeoutKind::Attempt) => tailrace_timeout::TAILRACE_TIMEOUT_ATTEMPT,
                Some(TimeoutKind::Call) => tailrace_timeout::TAILRACE_TIMEOUT_CALL,
            },
            sent: match e.sent_anything() {
                Sent::No => tailrace_sent::TAILRACE_SENT_NO,
                Sent::Maybe => tailrace_sent::TAILRACE_SENT_MAYBE,
                Sent::Yes => tailrace_sent::TAILRACE_SENT_YES,
            },
            status: e.status().unwrap_or(0),
            attempts: e
                .attempts()
                .iter()
                .map(|a| AttemptRow {
                    attempt: a.attempt,
                    host: to_cstring(&a.host),
                    cause: tailrace_error::new(&a.error),
                })
                .collect(),
        }
    }

    /// A call dropped by `tailrace_cancel` (its job was aborted, so no core error exists).
    pub(crate) fn cancelled() -> tailrace_error {
        tailrace_error::bare(
            tailrace_result::TAILRACE_E_CANCELLED,
            "the call was cancelled by its caller",
        )
    }

    /// A call whose code panicked inside the runtime.
    pub(crate) fn panicked() -> tailrace_error {
        tailrace_error::bare(
            tailrace_result::TAILRACE_E_INTERNAL,
            "internal error in tailrace (a bug, please report it): the call panicked",
        )
    }

    fn bare(code: tailrace_result, message: &str) -> tailrace_error {
        tailrace_error {
            code,
            message: to_cstring(message),
            timeout: tailrace_timeout::TAILRACE_TIMEOUT_NONE,
            sent: tailrace_sent::TAILRACE_SENT_MAYBE,
            status: 0,
            attempts: Vec::new(),
        }
    }

    pub(crate) fn code(&self) -> tailrace_result {
        self.code
    }
}

/// The error's code (never `TAILRACE_OK`). `TAILRACE_E_NULL_ARGUMENT` for a NULL `error`.
/// Threads: any.
#[no_mangle]
pub unsafe extern "C" fn tailrace_error_code(error: *const tailrace_error) -> tailrace_result {
    boundary::value(tailrace_result::TAILRACE_E_PANIC, || {
        unsafe { boundary::opt_ref(error) }
            .map_or(tailrace_result::TAILRACE_E_NULL_ARGUMENT, |e| e.code)
    })
}

/// The error's message, naming the option, header, host or deadline at fault, e.g.
/// "call timeout: no answer within 50 ms (raise `timeout_ms` if the backend is this slow)".
///
/// Ownership: borrowed from `error`, valid until `tailrace_error_free(error)`. Never NULL (an
/// empty string for a NULL `error`). Threads: any.
#[no_mangle]
pub unsafe extern "C" fn tailrace_error_message(error: *const tailrace_error) -> *const c_char {
    boundary::value(c"".as_ptr(), || {
        unsafe { boundary::opt_ref(error) }.map_or(c"".as_ptr(), |e| e.message.as_ptr())
    })
}

/// For `TAILRACE_E_TIMEOUT`, which deadline passed; `TAILRACE_TIMEOUT_NONE` otherwise (and for a
/// NULL `error`). Threads: any.
#[no_mangle]
pub unsafe extern "C" fn tailrace_error_timeout(error: *const tailrace_error) -> tailrace_timeout {
    boundary::value(tailrace_timeout::TAILRACE_TIMEOUT_NONE, || {
        unsafe { boundary::opt_ref(error) }
            .map_or(tailrace_timeout::TAILRACE_TIMEOUT_NONE, |e| e.timeout)
    })
}

/// Whether the backend may have seen the request. `TAILRACE_SENT_MAYBE` for a NULL `error`.
/// Threads: any.
#[no_mangle]
pub unsafe extern "C" fn tailrace_error_sent(error: *const tailrace_error) -> tailrace_sent {
    boundary::value(tailrace_sent::TAILRACE_SENT_MAYBE, || {
        unsafe { boundary::opt_ref(error) }.map_or(tailrace_sent::TAILRACE_SENT_MAYBE, |e| e.sent)
    })
}

/// The HTTP status when the failure was an answer whose status is in the failure set; 0
/// otherwise (and for a NULL `error`). Threads: any.
#[no_mangle]
pub unsafe extern "C" fn tailrace_error_status(error: *const tailrace_error) -> u16 {
    boundary::value(0, || {
        unsafe { boundary::opt_ref(error) }.map_or(0, |e| e.status)
    })
}

/// For `TAILRACE_E_ALL_ATTEMPTS_FAILED`, how many attempts failed (0 for other errors and for a
/// NULL `error`). Threads: any.
#[no_mangle]
pub unsafe extern "C" fn tailrace_error_attempt_count(error: *const tailrace_error) -> usize {
    boundary::value(0, || {
        unsafe { boundary::opt_ref(error) }.map_or(0, |e| e.attempts.len())
    })
}

/// Failed attempt number `index` (0-based, in the order the attempts failed: see
/// `tailrace_error_attempt_cause` for which attempt each was): its code, the base URL of the host
/// it went to, and its message. Any out-parameter may be NULL when not wanted.
///
/// Ownership: the strings are borrowed from `error`, valid until `tailrace_error_free(error)`.
/// Threads: any.
///
/// Returns `TAILRACE_OK`, `TAILRACE_E_NULL_ARGUMENT` (`error`), `TAILRACE_E_INVALID_LENGTH`
/// (index not below `tailrace_error_attempt_count`).
#[no_mangle]
pub unsafe extern "C" fn tailrace_error_attempt(
    error: *const tailrace_error,
    index: usize,
    code_out: *mut tailrace_result,
    host_out: *mut *const c_char,
    message_out: *mut *const c_char,
) -> tailrace_result {
    boundary::result(|| {
        let row = unsafe { attempt_row(error, index) }?;
        unsafe {
            write_if_wanted(code_out, row.cause.code);
            write_if_wanted(host_out, row.host.as_ptr());
            write_if_wanted(message_out, row.cause.message.as_ptr());
        }
        Ok(())
    })
}

/// Failed attempt number `index` (as for `tailrace_error_attempt`) in full: which attempt it was
/// (0 is the first one sent) and its cause as an error of its own, on which every accessor above
/// works (`tailrace_error_code`, `_message`, `_timeout`, `_sent`, `_status`). Either
/// out-parameter may be NULL when not wanted.
///
/// Ownership: `*cause_out` is borrowed from `error`, valid until `tailrace_error_free(error)`;
/// do not free it. Threads: any.
///
/// Returns `TAILRACE_OK`, `TAILRACE_E_NULL_ARGUMENT` (`error`), `TAILRACE_E_INVALID_LENGTH`
/// (index not below `tailrace_error_attempt_count`).
#[no_mangle]
pub unsafe extern "C" fn tailrace_error_attempt_cause(
    error: *const tailrace_error,
    index: usize,
    attempt_out: *mut u32,
    cause_out: *mut *const tailrace_error,
) -> tailrace_result {
    boundary::result(|| {
        let row = unsafe { attempt_row(error, index) }?;
        unsafe {
            write_if_wanted(attempt_out, row.attempt);
            write_if_wanted(cause_out, &row.cause as *const tailrace_error);
        }
        Ok(())
    })
}

/// Row `index` of `error`'s failed attempts.
unsafe fn attempt_row<'a>(
    error: *const tailrace_error,
    index: usize,
) -> Result<&'a AttemptRow, Fail> {
    let e = unsafe { arg_ref(error, "error") }?;
    e.attempts.get(index).ok_or_else(|| {
        Fail::length(
            "index",
            format!(
                "{index} is not below the attempt count {}",
                e.attempts.len()
            ),
        )
    })
}

/// Free an error. `NULL` does nothing.
///
/// Ownership: consumes `error`; strings borrowed from it become invalid. Threads: any.
#[no_mangle]
pub unsafe extern "C" fn tailrace_error_free(error: *mut tailrace_error) {
    boundary::value((), || drop(unsafe { take_handle(error) }))
}
