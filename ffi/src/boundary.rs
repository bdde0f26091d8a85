//! The C boundary: every exported function runs its body through [`result`] or [`value`], which
//! catch panics (nothing unwinds into C, nothing aborts), turn failures into codes and remember
//! the message for `tailrace_last_error_message`. The argument helpers check NULL and UTF-8 and
//! name the argument at fault.
//!
//! Functions are written out (`#[no_mangle] pub unsafe extern "C" fn ...`) rather than generated
//! by a macro as hyper's `ffi_fn!` does, so cbindgen reads them without expanding macros.

use std::any::Any;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::result::{set_last_error, tailrace_result};

/// A failure on its way to C: the code returned and the message remembered.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) code: tailrace_result,
    pub(crate) message: String,
}

impl Fail {
    pub(crate) fn new(code: tailrace_result, message: impl Into<String>) -> Fail {
        Fail {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn null(arg: &str) -> Fail {
        Fail::new(
            tailrace_result::TAILRACE_E_NULL_ARGUMENT,
            format!("argument `{arg}` is NULL"),
        )
    }

    pub(crate) fn length(arg: &str, why: impl std::fmt::Display) -> Fail {
        Fail::new(
            tailrace_result::TAILRACE_E_INVALID_LENGTH,
            format!("argument `{arg}`: {why}"),
        )
    }
}

impl From<tailrace_core::Error> for Fail {
    fn from(e: tailrace_core::Error) -> Fail {
        Fail::new(tailrace_result::from_kind(e.kind()), e.to_string())
    }
}

/// Run the body of a function returning `tailrace_result`.
pub(crate) fn result(body: impl FnOnce() -> Result<(), Fail>) -> tailrace_result {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => tailrace_result::TAILRACE_OK,
        Ok(Err(fail)) => {
            set_last_error(&fail.message);
            fail.code
        }
        Err(panic) => {
            set_last_error(&panic_message(panic.as_ref()));
            tailrace_result::TAILRACE_E_PANIC
        }
    }
}

/// Run the body of a function returning a value (an accessor); `default` if it panics.
pub(crate) fn value<T>(default: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(panic) => {
            set_last_error(&panic_message(panic.as_ref()));
            default
        }
    }
}

pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    format!("tailrace panicked (a bug, please report it): {what}")
}

/// A shared reference to the handle behind `p`.
pub(crate) unsafe fn arg_ref<'a, T>(p: *const T, arg: &str) -> Result<&'a T, Fail> {
    // SAFETY: the caller promises `p` is NULL or a live handle of this type (the C contract).
    unsafe { p.as_ref() }.ok_or_else(|| Fail::null(arg))
}

/// The handle behind `p`, or `None` for NULL: for accessors that answer a NULL with a neutral
/// value (0, "") rather than an error.
pub(crate) unsafe fn opt_ref<'a, T>(p: *const T) -> Option<&'a T> {
    // SAFETY: the caller promises `p` is NULL or a live handle of this type (the C contract).
    unsafe { p.as_ref() }
}

/// An exclusive reference to the handle behind `p`.
pub(crate) unsafe fn arg_mut<'a, T>(p: *mut T, arg: &str) -> Result<&'a mut T, Fail> {
    // SAFETY: as `arg_ref`; the C contract also says one thread at a time.
    unsafe { p.as_mut() }.ok_or_else(|| Fail::null(arg))
}

/// A NUL-terminated UTF-8 string argument.
pub(crate) unsafe fn arg_str<'a>(p: *const c_char, arg: &str) -> Result<&'a str, Fail> {
    if p.is_null() {
        return Err(Fail::null(arg));
    }
    // SAFETY: the C contract: a NUL-terminated string that lives through the call.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    std::str::from_utf8(bytes).map_err(|e| {
        Fail::new(
            tailrace_result::TAILRACE_E_INVALID_UTF8,
            format!(
                "argument `{arg}` is not valid UTF-8 (bad byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// Check an out-parameter before doing any work, so a NULL one leaks nothing.
pub(crate) fn out_ptr<T>(p: *mut T, arg: &str) -> Result<(), Fail> {
    if p.is_null() {
        Err(Fail::null(arg))
    } else {
        Ok(())
    }
}

/// Write an out-parameter checked by [`out_ptr`] (its old contents are not dropped: C memory).
pub(crate) unsafe fn write_out<T>(p: *mut T, v: T) {
    // SAFETY: checked non-NULL; the C contract says it points to writable memory for a T.
    unsafe { p.write(v) }
}

/// Write an optional out-parameter: NULL means the caller does not want it. Only for values
/// that own nothing (a code, a borrowed pointer): an owning one would leak when not wanted.
pub(crate) unsafe fn write_if_wanted<T: Copy>(p: *mut T, v: T) {
    if !p.is_null() {
        // SAFETY: as `write_out`, for a non-NULL `p`.
        unsafe { p.write(v) }
    }
}

/// Move a value into a new handle for C.
pub(crate) fn into_handle<T>(v: T) -> *mut T {
    Box::into_raw(Box::new(v))
}

/// Take back a handle made by [`into_handle`]; NULL gives `None`.
pub(crate) unsafe fn take_handle<T>(p: *mut T) -> Option<Box<T>> {
    // SAFETY: the C contract: NULL or a handle from `into_handle` that is not used afterwards.
    (!p.is_null()).then(|| unsafe { Box::from_raw(p) })
}
