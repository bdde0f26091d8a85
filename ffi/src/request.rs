//! `tailrace_request`: one call to make, built up and then consumed by a send function.

use std::ffi::c_char;

use tailrace_core::Request;

use crate::boundary::{self, arg_mut, arg_str, into_handle, out_ptr, take_handle, write_out, Fail};
use crate::result::tailrace_result;

/// One HTTP call to make: method, full URL or path (joined to one of the client's `hosts`),
/// headers, body, and the per-call fields (`order_key`, `flush`, `limit_key`, `idempotent`,
/// `timeout_ms`).
///
/// Methods:
/// - `tailrace_request_new`: a request with a method and a URL or path.
/// - `tailrace_request_header_add`: add a header.
/// - `tailrace_request_body_set`: set the body (copied).
/// - `tailrace_request_set`: set a per-call field by name.
/// - `tailrace_request_free`: free a request that was not sent.
///
/// A send function (`tailrace_send`, `tailrace_send_cb`, `tailrace_send_blocking`) consumes it.
/// Threads: one thread at a time per request.
pub struct tailrace_request {
    pub(crate) request: Request,
}

/// Make a request: `method` such as `"GET"` or `"POST"`, and `url_or_path`: a full URL
/// (`"http://10.0.0.1:8080/items/1"`) or a path (`"/items/1"`) joined to one of the client's
/// `hosts` when it is sent.
///
/// Ownership: on success `*request_out` is a new request; a send function consumes it, or free it
/// with `tailrace_request_free`. Nothing is kept from the string arguments. Threads: any.
///
/// Returns `TAILRACE_OK`, `TAILRACE_E_INVALID_REQUEST` (not a valid method; a bad URL is reported
/// when the request is sent), `TAILRACE_E_NULL_ARGUMENT`, `TAILRACE_E_INVALID_UTF8`.
#[no_mangle]
pub unsafe extern "C" fn tailrace_request_new(
    method: *const c_char,
    url_or_path: *const c_char,
    request_out: *mut *mut tailrace_request,
) -> tailrace_result {
    boundary::result(|| {
        let method = unsafe { arg_str(method, "method") }?;
        let target = unsafe { arg_str(url_or_path, "url_or_path") }?;
        out_ptr(request_out, "request_out")?;
        let request = Request::new(method, target);
        if let Some(e) = request.error() {
            // A bad method: the only thing a new request can be wrong about.
            return Err(Fail::new(
                tailrace_result::TAILRACE_E_INVALID_REQUEST,
                e.message().to_owned(),
            ));
        }
        let handle = into_handle(tailrace_request { request });
        unsafe { write_out(request_out, handle) };
        Ok(())
    })
}

/// Add a header; a name given more than once is sent once per value, in order.
///
/// `name` must be a valid HTTP header name (UTF-8, no spaces or separators); `value` may hold
/// any bytes but CR, LF and other control characters. Nothing is kept from the arguments.
/// Threads: one thread at a time per request.
///
/// Returns `TAILRACE_OK`, `TAILRACE_E_INVALID_REQUEST` (bad name or value; the message names the
/// header; the request is unchanged), `TAILRACE_E_NULL_ARGUMENT`, `TAILRACE_E_INVALID_UTF8` (name).
#[no_mangle]
pub unsafe extern "C" fn tailrace_request_header_add(
    request: *mut tailrace_request,
    name: *const c_char,
    value: *const c_char,
) -> tailrace_result {
    boundary::result(|| {
        let request = unsafe { arg_mut(request, "request") }?;
        let name = unsafe { arg_str(name, "name") }?;
        if value.is_null() {
            return Err(Fail::null("value"));
        }
        // SAFETY: the C contract: a NUL-terminated string. Header values are bytes, not UTF-8.
        let value = unsafe { std::ffi::CStr::from_ptr(value) }.to_bytes();
        request.request.try_header(name, value).map_err(Fail::from)
    })
}

/// Set the body to a copy of `len` bytes at `data` (replacing any earlier body). `data` may be
/// NULL only when `len` is 0. Every attempt of a hedged call sends the same bytes.
///
/// Ownership: the bytes are copied; `data` may be freed when this returns.
/// Threads: one thread at a time per request.
///
/// Returns `TAILRACE_OK`, `TAILRACE_E_NULL_ARGUMENT` (`request`, or `data` with `len` > 0),
/// `TAILRACE_E_INVALID_LENGTH` (`len` larger than any buffer can be).
#[no_mangle]
pub unsafe extern "C" fn tailrace_request_body_set(
    request: *mut tailrace_request,
    data: *const u8,
    len: usize,
) -> tailrace_result {
    boundary::result(|| {
        let request = unsafe { arg_mut(request, "request") }?;
        let body = unsafe { copy_body(data, len) }?;
        let req = std::mem::replace(&mut request.request, Request::get(""));
        request.request = req.body(body);
        Ok(())
    })
}

/// Set a per-call field by name, from its string form:
/// - `order_key`: calls with the same key run one at a time, in submission order (`""` = none);
/// - `flush`: `"true"` makes this call a flush barrier: it starts after every earlier call ended;
/// - `limit_key`: the limiter key it counts against (`""` = the client-wide key);
/// - `idempotent`: `"true"`/`"false"`: whether it may be sent more than once (hedged);
/// - `timeout_ms`: deadline for this call, overriding the client's `timeout_ms`.
///
/// Nothing is kept from the arguments. Threads: one thread at a time per request.
///
/// Returns `TAILRACE_OK`, `TAILRACE_E_INVALID_REQUEST` (unknown field or bad value; the message
/// names it), `TAILRACE_E_NULL_ARGUMENT`, `TAILRACE_E_INVALID_UTF8`.
#[no_mangle]
pub unsafe extern "C" fn tailrace_request_set(
    request: *mut tailrace_request,
    name: *const c_char,
    value: *const c_char,
) -> tailrace_result {
    boundary::result(|| {
        let request = unsafe { arg_mut(request, "request") }?;
        let name = unsafe { arg_str(name, "name") }?;
        let value = unsafe { arg_str(value, "value") }?;
        request.request.set(name, value).map_err(Fail::from)
    })
}

/// Free a request that was not sent. `NULL` does nothing. Do not free a request that was passed
/// to a send function: those consume it.
///
/// Ownership: consumes `request`. Threads: any.
#[no_mangle]
pub unsafe extern "C" fn tailrace_request_free(request: *mut tailrace_request) {
    boundary::value((), || drop(unsafe { take_handle(request) }))
}

/// Take a request handle for sending (send functions consume it whatever they return).
pub(crate) unsafe fn take_request(request: *mut tailrace_request) -> Result<Request, Fail> {
    unsafe { take_handle(request) }
        .map(|r| r.request)
        .ok_or_else(|| Fail::null("request"))
}

/// Copy a C buffer into an owned one, checking the pointer and the length.
pub(crate) unsafe fn copy_body(data: *const u8, len: usize) -> Result<Vec<u8>, Fail> {
    if len == 0 {
        return Ok(Vec::new());
    }
    if data.is_null() {
        return Err(Fail::null("data"));
    }
    if len > isize::MAX as usize {
        return Err(Fail::length(
            "len",
            format!("{len} bytes is more than any buffer"),
        ));
    }
    // SAFETY: the C contract: `data` points to `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(data, len) }.to_vec())
}
