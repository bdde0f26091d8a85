//! `tailrace_result`, what each code means, and this thread's last error message.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};

use tailrace_core::ErrorKind;

/// The result of every fallible function, and the outcome of every call.
///
/// Codes 1 to 15 are the error kinds every language shares (DESIGN.md, "Errors"); codes from 100
/// are about how the C API was used. Numbers are fixed: never renumbered, never reused.
///
/// Functions: `tailrace_strerror` (what a code means), `tailrace_result_name` (its snake_case
/// name, e.g. `"limit_queue_full"`), `tailrace_last_error_message` (what went wrong just now).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum tailrace_result {
    /// Success.
    TAILRACE_OK = 0,
    /// Unknown option name or bad option value; the message names the option. Nothing was sent.
    TAILRACE_E_INVALID_OPTION = 1,
    /// Bad URL, method, header name or value, request field, or a relative path without `hosts`.
    /// Nothing was sent.
    TAILRACE_E_INVALID_REQUEST = 2,
    /// The TCP connection could not be made (refused, unreachable, DNS). Nothing was sent.
    TAILRACE_E_CONNECT = 3,
    /// TLS failed: in the handshake or certificate verification (nothing was sent), or on a
    /// connection already in use (the request may have been sent; `tailrace_error_sent` says).
    TAILRACE_E_TLS = 4,
    /// A deadline passed; `tailrace_error_timeout` says which one. The request may have been sent.
    TAILRACE_E_TIMEOUT = 5,
    /// The connection broke after it was made (closed mid-response, malformed response, reset).
    TAILRACE_E_PROTOCOL = 6,
    /// The response body is larger than `max_response_bytes`.
    TAILRACE_E_RESPONSE_TOO_LARGE = 7,
    /// The limiter's queue for the call's limit key was full. Nothing was sent.
    TAILRACE_E_LIMIT_QUEUE_FULL = 8,
    /// The call waited in the limiter's queue past `queue_timeout_ms`. Nothing was sent.
    TAILRACE_E_LIMIT_TIMEOUT = 9,
    /// Every attempt failed; `tailrace_error_attempt` gives each attempt's host and cause.
    TAILRACE_E_ALL_ATTEMPTS_FAILED = 10,
    /// An answer with a status in the failure set (seen as an attempt's cause).
    TAILRACE_E_HTTP_STATUS = 11,
    /// The call was cancelled with `tailrace_cancel`.
    TAILRACE_E_CANCELLED = 12,
    /// The client was closed while the call was pending, or before it was sent.
    TAILRACE_E_CLIENT_CLOSED = 13,
    /// A blocking function was called on one of tailrace's runtime threads (e.g. in a callback),
    /// where waiting would deadlock.
    TAILRACE_E_WOULD_DEADLOCK = 14,
    /// A bug inside tailrace; the message says what.
    TAILRACE_E_INTERNAL = 15,
    /// A pointer argument that must not be NULL was NULL; the message names it.
    TAILRACE_E_NULL_ARGUMENT = 100,
    /// A string argument is not valid UTF-8; the message names it.
    TAILRACE_E_INVALID_UTF8 = 101,
    /// A length, capacity or index argument is out of range; the message names it.
    TAILRACE_E_INVALID_LENGTH = 102,
    /// No such item: the response has no header of that name.
    TAILRACE_E_NOT_FOUND = 103,
    /// `tailrace_cancel`: no pending call of this client has that id (it completed already, or
    /// was never sent). Harmless.
    TAILRACE_E_UNKNOWN_CALL = 104,
    /// `tailrace_send`: the id is already used by a pending call of this client.
    TAILRACE_E_DUPLICATE_ID = 105,
    /// tailrace panicked inside this function; the panic was caught and the message has it.
    TAILRACE_E_PANIC = 106,
}

use tailrace_result::*;

impl tailrace_result {
    /// Every code, for tests and for `tailrace_strerror`'s table.
    pub(crate) const ALL: [tailrace_result; 23] = [
        TAILRACE_OK,
        TAILRACE_E_INVALID_OPTION,
        TAILRACE_E_INVALID_REQUEST,
        TAILRACE_E_CONNECT,
        TAILRACE_E_TLS,
        TAILRACE_E_TIMEOUT,
        TAILRACE_E_PROTOCOL,
        TAILRACE_E_RESPONSE_TOO_LARGE,
        TAILRACE_E_LIMIT_QUEUE_FULL,
        TAILRACE_E_LIMIT_TIMEOUT,
        TAILRACE_E_ALL_ATTEMPTS_FAILED,
        TAILRACE_E_HTTP_STATUS,
        TAILRACE_E_CANCELLED,
        TAILRACE_E_CLIENT_CLOSED,
        TAILRACE_E_WOULD_DEADLOCK,
        TAILRACE_E_INTERNAL,
        TAILRACE_E_NULL_ARGUMENT,
        TAILRACE_E_INVALID_UTF8,
        TAILRACE_E_INVALID_LENGTH,
        TAILRACE_E_NOT_FOUND,
        TAILRACE_E_UNKNOWN_CALL,
        TAILRACE_E_DUPLICATE_ID,
        TAILRACE_E_PANIC,
    ];

    /// The code of a core error kind. Every kind has its own code (a test checks it).
    pub(crate) fn from_kind(kind: ErrorKind) -> tailrace_result {
        match kind {
            ErrorKind::InvalidOption => TAILRACE_E_INVALID_OPTION,
            ErrorKind::InvalidRequest => TAILRACE_E_INVALID_REQUEST,
            ErrorKind::Connect => TAILRACE_E_CONNECT,
            ErrorKind::Tls => TAILRACE_E_TLS,
            ErrorKind::Timeout => TAILRACE_E_TIMEOUT,
            ErrorKind::Protocol => TAILRACE_E_PROTOCOL,
            ErrorKind::ResponseTooLarge => TAILRACE_E_RESPONSE_TOO_LARGE,
            ErrorKind::LimitQueueFull => TAILRACE_E_LIMIT_QUEUE_FULL,
            ErrorKind::LimitTimeout => TAILRACE_E_LIMIT_TIMEOUT,
            ErrorKind::AllAttemptsFailed => TAILRACE_E_ALL_ATTEMPTS_FAILED,
            ErrorKind::HttpStatus => TAILRACE_E_HTTP_STATUS,
            ErrorKind::Cancelled => TAILRACE_E_CANCELLED,
            ErrorKind::ClientClosed => TAILRACE_E_CLIENT_CLOSED,
            ErrorKind::WouldDeadlock => TAILRACE_E_WOULD_DEADLOCK,
            ErrorKind::Internal => TAILRACE_E_INTERNAL,
            // ErrorKind is non_exhaustive: a kind added to the core without a code here shows up
            // as INTERNAL until it gets one (the test `every_kind_has_its_own_code` fails first).
            _ => TAILRACE_E_INTERNAL,
        }
    }

    /// The snake_case name (the core's `ErrorKind::as_str` for codes 1 to 15), NUL-terminated.
    fn name(self) -> &'static str {
        match self {
            TAILRACE_OK => "ok\0",
            TAILRACE_E_INVALID_OPTION => "invalid_option\0",
            TAILRACE_E_INVALID_REQUEST => "invalid_request\0",
            TAILRACE_E_CONNECT => "connect\0",
            TAILRACE_E_TLS => "tls\0",
            TAILRACE_E_TIMEOUT => "timeout\0",
            TAILRACE_E_PROTOCOL => "protocol\0",
            TAILRACE_E_RESPONSE_TOO_LARGE => "response_too_large\0",
            TAILRACE_E_LIMIT_QUEUE_FULL => "limit_queue_full\0",
            TAILRACE_E_LIMIT_TIMEOUT => "limit_timeout\0",
            TAILRACE_E_ALL_ATTEMPTS_FAILED => "all_attempts_failed\0",
            TAILRACE_E_HTTP_STATUS => "http_status\0",
            TAILRACE_E_CANCELLED => "cancelled\0",
            TAILRACE_E_CLIENT_CLOSED => "client_closed\0",
            TAILRACE_E_WOULD_DEADLOCK => "would_deadlock\0",
            TAILRACE_E_INTERNAL => "internal\0",
            TAILRACE_E_NULL_ARGUMENT => "null_argument\0",
            TAILRACE_E_INVALID_UTF8 => "invalid_utf8\0",
            TAILRACE_E_INVALID_LENGTH => "invalid_length\0",
            TAILRACE_E_NOT_FOUND => "not_found\0",
            TAILRACE_E_UNKNOWN_CALL => "unknown_call\0",
            TAILRACE_E_DUPLICATE_ID => "duplicate_id\0",
            TAILRACE_E_PANIC => "panic\0",
        }
    }

    /// One sentence on what the code means, NUL-terminated.
    fn description(self) -> &'static str {
        match self {
            TAILRACE_OK => "success\0",
            TAILRACE_E_INVALID_OPTION => "unknown option name or bad option value\0",
            TAILRACE_E_INVALID_REQUEST => "invalid request: bad URL, method, header or field\0",
            TAILRACE_E_CONNECT => "could not connect to the host\0",
            TAILRACE_E_TLS => "TLS handshake or certificate verification failed\0",
            TAILRACE_E_TIMEOUT => "a deadline passed\0",
            TAILRACE_E_PROTOCOL => "the connection broke or the response was malformed\0",
            TAILRACE_E_RESPONSE_TOO_LARGE => {
                "the response body is larger than max_response_bytes\0"
            }
            TAILRACE_E_LIMIT_QUEUE_FULL => "the limiter queue is full; nothing was sent\0",
            TAILRACE_E_LIMIT_TIMEOUT => {
                "waited in the limiter queue past queue_timeout_ms; nothing was sent\0"
            }
            TAILRACE_E_ALL_ATTEMPTS_FAILED => "every attempt of the call failed\0",
            TAILRACE_E_HTTP_STATUS => "the answer's status is in the failure set\0",
            TAILRACE_E_CANCELLED => "the call was cancelled\0",
            TAILRACE_E_CLIENT_CLOSED => "the client was closed\0",
            TAILRACE_E_WOULD_DEADLOCK => {
                "a blocking call on a tailrace runtime thread would deadlock\0"
            }
            TAILRACE_E_INTERNAL => "internal error in tailrace (a bug)\0",
            TAILRACE_E_NULL_ARGUMENT => "a required pointer argument is NULL\0",
            TAILRACE_E_INVALID_UTF8 => "a string argument is not valid UTF-8\0",
            TAILRACE_E_INVALID_LENGTH => "a length, capacity or index argument is out of range\0",
            TAILRACE_E_NOT_FOUND => "not found\0",
            TAILRACE_E_UNKNOWN_CALL => "no pending call has this id\0",
            TAILRACE_E_DUPLICATE_ID => "a pending call already has this id\0",
            TAILRACE_E_PANIC => "tailrace panicked (caught at the C boundary; a bug)\0",
        }
    }
}

/// What `code` means, in one sentence, e.g. `"the limiter queue is full; nothing was sent"`.
///
/// Ownership: the string is static; do not free it. An unknown code gives `"unknown result code"`.
/// Threads: any.
#[no_mangle]
pub extern "C" fn tailrace_strerror(code: c_int) -> *const c_char {
    // The code is taken as an int: C may pass any value, and a Rust enum holding a value that is
    // not one of its variants would be undefined behaviour.
    static_str(lookup(code).map_or("unknown result code\0", |c| c.description()))
}

/// The snake_case name of `code`: `"ok"`, `"limit_queue_full"`, `"null_argument"`, ... For codes
/// 1 to 15 this is the error kind's name in every language (stats keys, scenario files).
///
/// Ownership: the string is static; do not free it. An unknown code gives `"unknown"`.
/// Threads: any.
#[no_mangle]
pub extern "C" fn tailrace_result_name(code: c_int) -> *const c_char {
    static_str(lookup(code).map_or("unknown\0", |c| c.name()))
}

/// The message of the last call on this thread that returned an error: names the argument,
/// option, header or host at fault, e.g. "option `max_count`: not a whole number". An empty
/// string when no call on this thread has failed yet. A successful call does not clear it.
///
/// Ownership: the string belongs to the library and stays valid until the next tailrace call on
/// this thread; copy it to keep it. Never NULL. Threads: any (each thread has its own message).
#[no_mangle]
pub extern "C" fn tailrace_last_error_message() -> *const c_char {
    // `try_with`: a thread's own destructors (a C++ `thread_local`'s, say) may run after its
    // message slot is gone; they get an empty string, never a panic.
    LAST_ERROR
        .try_with(|m| m.borrow().as_ptr())
        .unwrap_or_else(|_| static_str("\0"))
}

fn lookup(raw: c_int) -> Option<tailrace_result> {
    tailrace_result::ALL
        .into_iter()
        .find(|c| *c as c_int == raw)
}

fn static_str(s: &'static str) -> *const c_char {
    debug_assert!(s.ends_with('\0'));
    s.as_ptr().cast()
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Remember `message` as this thread's last error.
pub(crate) fn set_last_error(message: &str) {
    let c = to_cstring(message);
    // A thread whose slot is already destroyed (in its own TLS destructors) keeps no message.
    let _ = LAST_ERROR.try_with(|m| *m.borrow_mut() = c);
}

/// This thread's last error message.
pub(crate) fn last_error() -> String {
    LAST_ERROR
        .try_with(|m| m.borrow().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A C string from any Rust string: interior NULs (which C cannot hold) become spaces.
pub(crate) fn to_cstring(s: &str) -> CString {
    CString::new(s)
        .unwrap_or_else(|_| CString::new(s.replace('\0', " ")).expect("NULs were replaced"))
}
