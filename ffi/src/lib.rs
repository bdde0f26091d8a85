//! The C ABI of tailrace: `libtailrace.so`, `libtailrace.a` and `include/tailrace.h`.
//!
//! The header is generated from these files by `ffi/gen-header.sh` (cbindgen); the doc comments
//! here are the C manual. Conventions, the same in every function (after rustls-ffi and hyper):
//!
//! - **Handles** are opaque pointers. Every `tailrace_<object>_new` has a `tailrace_<object>_free`;
//!   `_free(NULL)` does nothing. Out-parameters come last and end in `_out`.
//! - **Results**: every function that can fail returns a `tailrace_result` (`TAILRACE_OK` = 0) and
//!   writes what it makes through its out-parameters, which are left untouched on failure.
//!   `tailrace_strerror(code)` says what a code means; `tailrace_last_error_message()` says what
//!   went wrong in the last failed call on this thread, naming the argument, option or header.
//! - **Bad input** never crashes: a NULL pointer gives `TAILRACE_E_NULL_ARGUMENT`, a string that is
//!   not UTF-8 `TAILRACE_E_INVALID_UTF8`, a length or index out of range
//!   `TAILRACE_E_INVALID_LENGTH`. A panic inside the library is caught at the boundary and
//!   returned as `TAILRACE_E_PANIC` (or NULL / 0 from functions that return a value): nothing
//!   unwinds into C and nothing aborts the process.
//! - **Threads**: one background runtime per loaded library runs every call; the caller never
//!   drives I/O. It has `TAILRACE_WORKER_THREADS` workers, default cores - 1 (at least 1): the
//!   caller's own threads submit and drain on the remaining core. Clients and queues may be used from any number of threads at once; a request is
//!   used by one thread at a time until it is sent; a response or error, once received, may be
//!   read from any thread and is freed once.
//! - **Three ways to get results**: a completion queue (`tailrace_send` + `tailrace_queue_wait`,
//!   with an eventfd for event loops), a callback (`tailrace_send_cb`, run on a runtime thread:
//!   it must not block), or a blocking call (`tailrace_send_blocking`). `tailrace_cancel` drops a
//!   call inside the runtime, releasing its limiter slot, order-key turn and connections.
//! - **Memory**: the library allocates with mimalloc (see core's `alloc.rs`); `TAILRACE_ALLOCATOR=system`
//!   makes it use the process's `malloc`, for valgrind, sanitizers and heap profilers.
#![allow(non_camel_case_types)] // C type names: tailrace_client, tailrace_result, ...
#![allow(clippy::missing_safety_doc)] // the safety contract of each function is its C doc
#![warn(missing_docs)]

mod boundary;
mod client;
mod config;
mod driver;
mod error;
mod queue;
mod request;
mod response;
mod result;
mod send;
mod version;

/// mimalloc, or malloc with `TAILRACE_ALLOCATOR=system` (`tailrace::alloc`).
#[global_allocator]
static ALLOCATOR: tailrace_core::alloc::Allocator = tailrace_core::alloc::Allocator;

#[cfg(test)]
mod allocator {
    #[test]
    fn the_allocator_is_chosen_by_the_environment_at_the_first_allocation() {
        let v: Vec<u64> = (0..10_000).collect();
        let expected = match std::env::var("TAILRACE_ALLOCATOR").as_deref() {
            Ok("system") => "system",
            _ => "mimalloc",
        };
        assert_eq!(tailrace_core::alloc::Allocator::chosen(), Some(expected));
        assert_eq!(v.iter().sum::<u64>(), 49_995_000);
    }
}

pub use client::*;
pub use config::*;
pub use error::*;
pub use queue::*;
pub use request::*;
pub use response::*;
pub use result::*;
pub use send::*;
pub use version::*;

#[cfg(test)]
mod tests;
