//! The allocator of tailrace's C library (feature `mimalloc`): mimalloc, or the process's `malloc`
//! when the environment says `TAILRACE_ALLOCATOR=system` (read once, at the library's first
//! allocation). A crate that builds such a library installs it with
//! `#[global_allocator] static A: tailrace::alloc::Allocator = tailrace::alloc::Allocator;`. Rust
//! programs that use tailrace as a crate keep whatever allocator they chose, and so does the
//! Python extension (tried with it: no change python.sh could measure).
//!
//! Why not `malloc`: most of a call's memory is allocated on one thread and freed on another
//! (the request and the call on the caller's thread, freed on a runtime thread; the response on a
//! runtime thread, freed by the caller), and a call's future is about 1.7 KB, over glibc's
//! per-thread cache limit (1032 bytes). Under glibc every such free takes the arena lock of the
//! thread that allocated, and the futex waits on that lock were three quarters of the futex calls
//! of the C benchmark (perf, syscall tracing). mimalloc frees to a list of the owning page
//! without a lock. Measured in one interleaved run (c_abi.sh's closed loop at concurrency 64,
//! 6 rounds, medians): completion queue 23.4 -> 18.9 µs CPU per call, 46.8k -> 59.6k calls/s;
//! callbacks 18.9 -> 15.7 µs, 51.5k -> 62.1k calls/s.
//!
//! mimalloc is called through its plain entry points (`mi_malloc`, `mi_zalloc`, `mi_realloc`)
//! for every layout of word alignment or less, which is nearly all of them: the `mimalloc`
//! crate's `GlobalAlloc` always calls the aligned ones, whose fast path in mimalloc v3 only
//! covers blocks up to 1 KiB from a page with a free block at hand. Otherwise (a page whose free
//! blocks were freed by other threads and not yet collected, the usual case here) they
//! over-allocate by `align - 1` bytes on a slower path: 4.3 times per call in the C closed loop
//! (callgrind). With the plain entry points, 730 fewer instructions per call there (allocation
//! 1.9K -> 1.15K); `tests/bench/instructions.sh`: completion queue 31.2K -> 30.6K per call.
//!
//! `TAILRACE_ALLOCATOR=system` is for tools that watch `malloc`: valgrind, AddressSanitizer's
//! leak checker, heap profilers. The C suite runs under those with it set. Any other value, or
//! none, means mimalloc. The choice is made before the first allocation and never changes, so
//! every block is freed by the allocator that made it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::CStr;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

use libmimalloc_sys::{mi_malloc, mi_realloc, mi_zalloc};
use mimalloc::MiMalloc;

/// The `#[global_allocator]` of a library built on tailrace (see the module docs).
#[derive(Debug)]
pub struct Allocator;

const UNDECIDED: u8 = 0;
const MIMALLOC: u8 = 1;
const SYSTEM: u8 = 2;

static CHOICE: AtomicU8 = AtomicU8::new(UNDECIDED);

impl Allocator {
    /// `"mimalloc"` or `"system"` once the first allocation has made the choice, else `None`
    /// (also when this allocator is not the global one).
    pub fn chosen() -> Option<&'static str> {
        match CHOICE.load(Relaxed) {
            MIMALLOC => Some("mimalloc"),
            SYSTEM => Some("system"),
            _ => None,
        }
    }
}

/// Whether the process's `malloc` serves this library.
#[inline]
fn system() -> bool {
    match CHOICE.load(Relaxed) {
        MIMALLOC => false,
        SYSTEM => true,
        _ => decide(),
    }
}

/// Read the environment once. Threads that race here read the same environment and store the
/// same answer. `getenv` allocates nothing, so it may run inside the allocator.
#[cold]
fn decide() -> bool {
    // SAFETY: a NUL-terminated name; the value, if any, is a C string owned by the environment,
    // read at once.
    let system = unsafe {
        let value = libc::getenv(c"TAILRACE_ALLOCATOR".as_ptr());
        !value.is_null() && CStr::from_ptr(value).to_bytes() == b"system"
    };
    CHOICE.store(if system { SYSTEM } else { MIMALLOC }, Relaxed);
    system
}

/// Whether mimalloc's plain entry points serve `align`: every mimalloc block is at least
/// word-aligned (its size classes are whole words), so alignments up to a word need nothing
/// more. Larger ones (16-byte atomics, cache-padded types) take the aligned entry points.
#[inline]
fn word_aligned(align: usize) -> bool {
    align <= std::mem::size_of::<usize>()
}

// SAFETY: every method forwards to one of two allocators, always the same one for the life of
// the process (the choice is made before the first allocation), so a block is always freed or
// resized by the allocator that made it.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if system() {
            System.alloc(layout)
        } else if word_aligned(layout.align()) {
            mi_malloc(layout.size()).cast()
        } else {
            MiMalloc.alloc(layout)
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if system() {
            System.alloc_zeroed(layout)
        } else if word_aligned(layout.align()) {
            mi_zalloc(layout.size()).cast()
        } else {
            MiMalloc.alloc_zeroed(layout)
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if system() {
            System.dealloc(ptr, layout)
        } else {
            MiMalloc.dealloc(ptr, layout)
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if system() {
            System.realloc(ptr, layout, new_size)
        } else if word_aligned(layout.align()) {
            mi_realloc(ptr.cast(), new_size).cast()
        } else {
            MiMalloc.realloc(ptr, layout, new_size)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size class and alignment the allocator sees, through each entry point: the block is
    /// aligned as asked, usable over its whole size, kept across a realloc, and freed.
    #[test]
    fn blocks_are_aligned_and_usable_for_every_alignment() {
        let a = Allocator;
        for align in [1, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for size in [1, 7, 8, 24, 48, 224, 320, 1000, 1100, 8192, 70_000, 1 << 21] {
                let size = size.max(align);
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero-sized layout; each block is written within its size and
                // freed once with the layout it was made with.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(
                        !p.is_null() && (p as usize).is_multiple_of(align),
                        "alloc {size}/{align}"
                    );
                    p.write_bytes(0xAB, size);

                    let z = a.alloc_zeroed(layout);
                    assert!(
                        !z.is_null() && (z as usize).is_multiple_of(align),
                        "zeroed {size}/{align}"
                    );
                    assert!(std::slice::from_raw_parts(z, size).iter().all(|b| *b == 0));
                    a.dealloc(z, layout);

                    let grown = a.realloc(p, layout, size * 3);
                    assert!(
                        !grown.is_null() && (grown as usize).is_multiple_of(align),
                        "realloc {size}/{align}"
                    );
                    assert!(std::slice::from_raw_parts(grown, size)
                        .iter()
                        .all(|b| *b == 0xAB));
                    a.dealloc(grown, Layout::from_size_align(size * 3, align).unwrap());
                }
            }
        }
    }
}
