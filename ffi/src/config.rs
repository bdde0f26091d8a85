//! `tailrace_config`: client options set by name, the same names as every other language.

use std::ffi::{c_char, CString};

use once_cell::sync::Lazy;
use tailrace_core::{Config, OPTIONS};

use crate::boundary::{
    self, arg_mut, arg_str, into_handle, out_ptr, take_handle, write_if_wanted, write_out, Fail,
};
use crate::result::{last_error, tailrace_result, to_cstring};

/// Client options, set one by one by name, then handed to `tailrace_client_new`.
///
/// Methods:
/// - `tailrace_config_new`: a config with every option at its default.
/// - `tailrace_config_set`: set one option by name from its string form.
/// - `tailrace_config_free`: free it.
/// - `tailrace_option_count`, `tailrace_option_at`: the table of every option, its default and doc.
///
/// Threads: one thread at a time per config.
pub struct tailrace_config {
    pub(crate) config: Config,
}

/// Make a config with every option at its default.
///
/// Ownership: on success `*config_out` is a new config; free it with `tailrace_config_free`
/// (`tailrace_client_new` copies it, so it may be freed right after). Threads: any.
///
/// Returns `TAILRACE_OK`, or `TAILRACE_E_NULL_ARGUMENT` when `config_out` is NULL.
#[no_mangle]
pub unsafe extern "C" fn tailrace_config_new(
    config_out: *mut *mut tailrace_config,
) -> tailrace_result {
    boundary::result(|| {
        out_ptr(config_out, "config_out")?;
        let handle = into_handle(tailrace_config {
            config: Config::default(),
        });
        unsafe { write_out(config_out, handle) };
        Ok(())
    })
}

/// Set option `name` to `value`, both strings, e.g. `("hosts", "http://a:80,http://b:80")`,
/// `("concurrent_calls", "3")`, `("max_count", "64")`. The names and string forms are the ones
/// every language uses (`tailrace_option_at` lists them). The value is checked now; checks
/// between options (e.g. `max_queue` needs `max_count`) are made by `tailrace_client_new`.
///
/// Errors: when `errbuf` is not NULL and `errlen` > 0, the message (naming the option and the
/// problem) is copied there, truncated to `errlen - 1` bytes and always NUL-terminated; it is
/// also this thread's `tailrace_last_error_message`. On success `errbuf` is left untouched.
///
/// Ownership: nothing is kept from `name` or `value`. Threads: one thread at a time per config.
///
/// Returns `TAILRACE_OK`, `TAILRACE_E_INVALID_OPTION` (unknown name or bad value; the config is
/// unchanged), `TAILRACE_E_NULL_ARGUMENT`, `TAILRACE_E_INVALID_UTF8`.
#[no_mangle]
pub unsafe extern "C" fn tailrace_config_set(
    config: *mut tailrace_config,
    name: *const c_char,
    value: *const c_char,
    errbuf: *mut c_char,
    errlen: usize,
) -> tailrace_result {
    let code = boundary::result(|| {
        let config = unsafe { arg_mut(config, "config") }?;
        let name = unsafe { arg_str(name, "name") }?;
        let value = unsafe { arg_str(value, "value") }?;
        config.config.set(name, value).map_err(Fail::from)
    });
    if code != tailrace_result::TAILRACE_OK {
        unsafe { copy_message(&last_error(), errbuf, errlen) };
    }
    code
}

/// Copy `message` into a caller's buffer, truncated and NUL-terminated.
unsafe fn copy_message(message: &str, buf: *mut c_char, len: usize) {
    if buf.is_null() || len == 0 {
        return;
    }
    let n = message.len().min(len - 1);
    // SAFETY: the C contract: `buf` has room for `len` bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(message.as_ptr().cast::<c_char>(), buf, n);
        *buf.add(n) = 0;
    }
}

/// Free a config. `NULL` does nothing. Clients made from it are not affected.
///
/// Ownership: consumes `config`; do not use it afterwards. Threads: any.
#[no_mangle]
pub unsafe extern "C" fn tailrace_config_free(config: *mut tailrace_config) {
    boundary::value((), || drop(unsafe { take_handle(config) }))
}

/// The option table as C strings, made once.
static OPTION_TABLE: Lazy<Vec<[CString; 3]>> = Lazy::new(|| {
    OPTIONS
        .iter()
        .map(|o| [to_cstring(o.name), to_cstring(o.default), to_cstring(o.doc)])
        .collect()
});

/// How many client options there are (for `tailrace_option_at`). Threads: any.
#[no_mangle]
pub extern "C" fn tailrace_option_count() -> usize {
    boundary::value(0, || OPTION_TABLE.len())
}

/// Option number `index` (0-based, below `tailrace_option_count()`): its name, its default in the
/// string form `tailrace_config_set` takes, and a one-line doc with its unit. Any out-parameter
/// may be NULL when not wanted.
///
/// Ownership: the strings are static; do not free them. Threads: any.
///
/// Returns `TAILRACE_OK` or `TAILRACE_E_INVALID_LENGTH` (index out of range).
#[no_mangle]
pub unsafe extern "C" fn tailrace_option_at(
    index: usize,
    name_out: *mut *const c_char,
    default_out: *mut *const c_char,
    doc_out: *mut *const c_char,
) -> tailrace_result {
    boundary::result(|| {
        let row = OPTION_TABLE.get(index).ok_or_else(|| {
            Fail::length(
                "index",
                format!("{index} is past the last option ({})", OPTION_TABLE.len()),
            )
        })?;
        for (out, s) in [name_out, default_out, doc_out].into_iter().zip(row) {
            unsafe { write_if_wanted(out, s.as_ptr()) };
        }
        Ok(())
    })
}
