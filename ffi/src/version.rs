//! `tailrace_version` and the `TAILRACE_VERSION_*` macros.

use std::ffi::c_char;

/// The major version of this header (`TAILRACE_VERSION_MAJOR`); the library's SONAME carries it.
pub const TAILRACE_VERSION_MAJOR: u32 = 0;
/// The minor version of this header.
pub const TAILRACE_VERSION_MINOR: u32 = 1;
/// The patch version of this header.
pub const TAILRACE_VERSION_PATCH: u32 = 0;

/// The version of the loaded library, e.g. `"0.1.0"` (compare with the `TAILRACE_VERSION_*`
/// macros of the header you compiled against).
///
/// Ownership: static; do not free. Threads: any.
#[no_mangle]
pub extern "C" fn tailrace_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
