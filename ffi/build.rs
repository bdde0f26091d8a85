//! Link flags of libtailrace.so: a SONAME carrying the major version (`libtailrace.so.0`), so a
//! program linked against this version refuses an incompatible one.
//!
//! rustc already exports only the `#[no_mangle]` functions from a cdylib (CI checks with `nm -D`
//! that every exported symbol starts with `tailrace_`), so no version script is needed.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libtailrace.so.{major}");
    println!("cargo:rerun-if-changed=build.rs");
}
