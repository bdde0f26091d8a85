//! `tailrace_response`: the answer to a call, and where it came from.

use std::ffi::{c_char, CString};
use std::sync::OnceLock;

use tailrace_core::Response;

use crate::boundary::{self, arg_ref, arg_str, out_ptr, take_handle, write_out, Fail};
use crate::result::{tailrace_result, to_cstring};

/// A complete answer (the whole body has been read): status, headers, body, the host that
/// answered, how many attempts were sent and which one won, and the time it took.
///
/// Methods:
/// - `tailrace_response_status`, `tailrace_response_version`.
/// - `tailrace_response_header`: the first value of a header, by name.
/// - `tailrace_response_headers`: every header, in order, in one call (names and values as
///   pointer and length, nothing copied or allocated).
/// - `tailrace_response_header_count`, `tailrace_response_header_at`: every header, one at a
///   time (names NUL-terminated).
/// - `tailrace_response_body`: the body bytes.
/// - `tailrace_response_host`, `tailrace_response_attempts`, `tailrace_response_winner`,
///   `tailrace_response_elapsed_us`: where the answer came from.
/// - `tailrace_response_free`: free it and everything borrowed from it.
///
/// Threads: immutable; read it from any thread, free it once.
pub struct tailrace_response {
    response: Response,
    /// Made on first use: most callers never ask for these.
    host: OnceLock<CString>,
    headers: OnceLock<Vec<(CString, http::HeaderValue)>>,
}

impl tailrace_response {
    pub(crate) fn new(response: Response) -> tailrace_response {
        tailrace_response {
            response,
            host: OnceLock::new(),
            headers: OnceLock::new(),
        }
    }

    /// The header lines in order, names as C strings (values share the response's bytes).
    fn header_rows(&self) -> &[(CString, http::HeaderValue)] {
        self.headers.get_or_init(|| {
            self.response
                .headers()
                .iter()
                .map(|(name, value)| (to_cstring(name.as_str()), value.clone()))
                .collect()
        })
    }
}

/// The HTTP status, e.g. 200 (0 for a NULL `response`). Threads: any.
#[no_mangle]
pub unsafe extern "C" fn tailrace_response_status(response: *const tailrace_response) -> u16 {
    boundary::value(0, || {
        unsafe { boundary::opt_ref(response) }.map_or(0, |r| r.response.status().as_u16())
    })
}

/// The HTTP version the answer came over: 10, 11, 20 or 30 (0 for a NULL `response`).
/// Threads: any.
#[no_mangle]
pub unsafe extern "C" fn tailrace_response_version(response: *const tailrace_response) -> u16 {
    boundary::value(0, || {
        unsafe { boundary::opt_ref(response) }.map_or(0, |r| match r.response.version() {
            http::Version::HTTP_09 => 9,
            http::Version::HTTP_10 => 10,
            http::Version::HTTP_11 => 11,
            http::Version::HTTP_2 => 20,
            http::Version::HTTP_3 => 30,
            _ => 0,
        })
    })
}

/// The body: `*data_out` points to `*len_out` bytes (not NUL-terminated; `*data_out` is not NULL
/// even for an empty body).
///
/// Ownership: the bytes belong to `response` and stay valid until `tailrace_response_free`.
/// Threads: any.
///
/// Returns `TAILRACE_OK` or `TAILRACE_E_NULL_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn tailrace_response_body(
    response: *const tailrace_response,
    data_out: *mut *const u8,
    len_out: *mut usize,
) -> tailrace_result {
    boundary::result(|| {
        let r = unsafe { arg_ref(response, "response") }?;
        out_ptr(data_out, "data_out")?;
        out_ptr(len_out, "len_out")?;
        let body = r.response.body();
        let ptr = if body.is_empty() {
            std::ptr::NonNull::<u8>::dangling().as_ptr().cast_const()
        } else {
            body.as_ptr()
        };
        unsafe {
            write_out(data_out, ptr);
            write_out(len_out, body.len());
        }
        Ok(())
    })
}

/// The first value of header `name` (case-insensitive): `*value_out` points to `*len_out` bytes
/// (not NUL-terminated).
///
/// Ownership: the bytes belong to `response` and stay valid until `tailrace_response_free`.
/// Threads: any.
///
/// Returns `TAILRACE_OK`, `TAILRACE_E_NOT_FOUND` (no such header; outputs untouched),
/// `TAILRACE_E_NULL_ARGUMENT`, `TAILRACE_E_INVALID_UTF8` (`name`).
#[no_mangle]
pub unsafe extern "C" fn tailrace_response_header(
    response: *const tailrace_response,
    name: *const c_char,
    value_out: *mut *const u8,
    len_out: *mut usize,
) -> tailrace_result {
    boundary::result(|| {
        let r = unsafe { arg_ref(response, "response") }?;
        let name = unsafe { arg_str(name, "name") }?;
        out_ptr(value_out, "value_out")?;
        out_ptr(len_out, "len_out")?;
        let value = r.response.headers().get(name).ok_or_else(|| {
            Fail::new(
                tailrace_result::TAILRACE_E_NOT_FOUND,
                format!("the response has no header `{name}`"),
            )
        })?;
        unsafe {
            write_out(value_out, value.as_bytes().as_ptr());
            write_out(len_out, value.len());
        }
        Ok(())
    })
}

/// How many header lines the response has (a name with two values counts twice); 0 for a NULL
/// `response`. Threads: any.
#[no_mangle]
pub unsafe extern "C" fn tailrace_response_header_count(
    response: *const tailrace_response,
) -> usize {
    boundary::value(0, || {
        unsafe { boundary::opt_ref(response) }.map_or(0, |r| r.response.headers().len())
    })
}

/// Header line number `index` (0-based, below `tailrace_response_header_count`):
/// `*name_out` is its lower-case name (NUL-terminated), `*value_out` points to `*value_len_out`
/// bytes of its value (not NUL-terminated).
///
/// Ownership: both belong to `response` and stay valid until `tailrace_response_free`.
/// Threads: any.
///
/// Returns `TAILRACE_OK`, `TAILRACE_E_NULL_ARGUMENT`, `TAILRACE_E_INVALID_LENGTH` (index out
/// of range).
#[no_mangle]
pub unsafe extern "C" fn tailrace_response_header_at(
    response: *const tailrace_response,
    index: usize,
    name_out: *mut *const c_char,
    value_out: *mut *const u8,
    value_len_out: *mut usize,
) -> tailrace_result {
    boundary::result(|| {
        let r = unsafe { arg_ref(response, "response") }?;
        out_ptr(name_out, "name_out")?;
        out_ptr(value_out, "value_out")?;
        out_ptr(value_len_out, "value_len_out")?;
        let rows = r.header_rows();
        let (name, value) = rows.get(index).ok_or_else(|| {
            Fail::length(
                "index",
                format!("{index} is not below the header count {}", rows.len()),
            )
        })?;
        unsafe {
            write_out(name_out, name.as_ptr());
            write_out(value_out, value.as_bytes().as_ptr());
            write_out(value_len_out, value.len());
        }
        Ok(())
    })
}

/// One header line of a response, as `tailrace_response_headers` gives it: the name in lower case
/// and the value, each as a pointer and a length. Neither is NUL-terminated; neither pointer is
/// NULL (an empty value points to 0 bytes).
///
/// Ownership: the bytes belong to the response and stay valid until `tailrace_response_free`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tailrace_header {
    /// The header's name, lower case, `name_len` bytes.
    pub name: *const c_char,
    /// Bytes at `name`.
    pub name_len: usize,
    /// The header's value, `value_len` bytes (not necessarily UTF-8).
    pub value: *const u8,
    /// Bytes at `value`.
    pub value_len: usize,
}

/// Every header line of the response in order, in one call: `headers[i]` is set for each line
/// `i` below both `capacity` and the line count, and `*count_out` is the line count (a name with
/// two values counts twice). A count above `capacity` means lines were left out: call again with
/// room for `*count_out`. `headers` may be NULL when `capacity` is 0, to ask for the count.
///
/// Unlike `tailrace_response_header_at`, nothing is copied or allocated: the views point into
/// the response. Ownership: see `tailrace_header`. Threads: any.
///
/// Returns `TAILRACE_OK` or `TAILRACE_E_NULL_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn tailrace_response_headers(
    response: *const tailrace_response,
    headers: *mut tailrace_header,
    capacity: usize,
    count_out: *mut usize,
) -> tailrace_result {
    boundary::result(|| {
        let r = unsafe { arg_ref(response, "response") }?;
        out_ptr(count_out, "count_out")?;
        if capacity > 0 {
            out_ptr(headers, "headers")?;
        }
        let map = r.response.headers();
        for (i, (name, value)) in map.iter().take(capacity).enumerate() {
            let view = tailrace_header {
                name: name.as_str().as_ptr().cast(),
                name_len: name.as_str().len(),
                value: value.as_bytes().as_ptr(),
                value_len: value.len(),
            };
            // SAFETY: the caller gives room for `capacity` entries; `i` is below it.
            unsafe { headers.add(i).write(view) };
        }
        unsafe { write_out(count_out, map.len()) };
        Ok(())
    })
}

/// The base URL of the host that answered, e.g. `"http://10.0.0.2:8080"` (NUL-terminated).
///
/// Ownership: belongs to `response`, valid until `tailrace_response_free`. Never NULL (an empty
/// string for a NULL `response`). Threads: any.
#[no_mangle]
pub unsafe extern "C" fn tailrace_response_host(
    response: *const tailrace_response,
) -> *const c_char {
    boundary::value(c"".as_ptr(), || {
        unsafe { boundary::opt_ref(response) }.map_or(c"".as_ptr(), |r| {
            r.host
                .get_or_init(|| to_cstring(r.response.host()))
                .as_ptr()
        })
    })
}

/// How many attempts were sent for this call (1 without hedging; 0 for a NULL `response`).
/// Threads: any.
#[no_mangle]
pub unsafe extern "C" fn tailrace_response_attempts(response: *const tailrace_response) -> u32 {
    boundary::value(0, || {
        unsafe { boundary::opt_ref(response) }.map_or(0, |r| r.response.attempts())
    })
}

/// Which attempt this answer came from (0 = the first; 0 for a NULL `response`). Threads: any.
#[no_mangle]
pub unsafe extern "C" fn tailrace_response_winner(response: *const tailrace_response) -> u32 {
    boundary::value(0, || {
        unsafe { boundary::opt_ref(response) }.map_or(0, |r| r.response.winner())
    })
}

/// Microseconds from submitting the call to the last byte of this answer, waits included (0 for
/// a NULL `response`). Threads: any.
#[no_mangle]
pub unsafe extern "C" fn tailrace_response_elapsed_us(response: *const tailrace_response) -> u64 {
    boundary::value(0, || {
        unsafe { boundary::opt_ref(response) }.map_or(0, |r| {
            u64::try_from(r.response.elapsed().as_micros()).unwrap_or(u64::MAX)
        })
    })
}

/// Free a response, its body and every string borrowed from it. `NULL` does nothing.
///
/// Ownership: consumes `response`. Threads: any.
#[no_mangle]
pub unsafe extern "C" fn tailrace_response_free(response: *mut tailrace_response) {
    boundary::value((), || drop(unsafe { take_handle(response) }))
}
