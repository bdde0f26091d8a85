//! `tailrace_client`: a client, the calls it has pending (by id, for cancel), and its stats.

use std::collections::HashMap;
use std::ffi::c_char;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::future::AbortHandle;
use tailrace_core::runtime::ForkLocal;
use tailrace_core::Client;

use crate::boundary::{
    self, arg_ref, into_handle, out_ptr, take_handle, write_if_wanted, write_out,
};
use crate::config::tailrace_config;
use crate::result::{tailrace_result, to_cstring};

/// An HTTP client: its connection pools, limits, order keys, hedging state and stats. Every
/// client in the process runs on the library's one background runtime.
///
/// Methods:
/// - `tailrace_client_new`: make a client from a config.
/// - `tailrace_send`, `tailrace_send_cb`, `tailrace_send_blocking`: make a call.
/// - `tailrace_cancel`: cancel a pending call by id.
/// - `tailrace_client_stats_json`, `tailrace_client_stats_prometheus`: a stats snapshot.
/// - `tailrace_client_close`: end pending calls with `TAILRACE_E_CLIENT_CLOSED`, refuse new ones.
/// - `tailrace_client_free`: close and free it.
///
/// Threads: any number of threads may use one client at once.
pub struct tailrace_client {
    pub(crate) shared: Arc<Shared>,
}

/// Shards of the pending-call map: threads submitting at once rarely meet on one lock.
const SHARDS: usize = 16;

/// Calls sent with an id and not yet ended: id → the handle that cancels it.
pub(crate) type Pending = HashMap<u64, AbortHandle, BuildHasherDefault<IdHasher>>;

/// What a client handle and its running calls share.
pub(crate) struct Shared {
    pub(crate) client: Client,
    /// Per fork generation: a forked child has none of the parent's calls, and must never wait
    /// on a shard lock a parent thread held when the process forked.
    pending: ForkLocal<[Mutex<Pending>; SHARDS]>,
}

/// Hashes a call id with murmur3's 64-bit finalizer: every id is looked up three times per call
/// (check, insert, remove), and SipHash's defence against chosen keys buys nothing for ids the
/// caller picks for its own calls. All bits are mixed, so ids in steps of any size spread out.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; this keeps the hasher correct for anything else too.
        for &b in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, id: u64) {
        let mut h = id ^ self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^= h >> 33;
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl Shared {
    /// The pending map that holds `id` (locks poisoned by a panic are used anyway: the map stays
    /// consistent, every update is one insert or remove).
    pub(crate) fn pending(&self, id: u64) -> MutexGuard<'_, Pending> {
        let shards = self.pending.get_or_make(Default::default);
        shards[(id % SHARDS as u64) as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// Make a client from `config` (copied: the config may be freed or changed afterwards). Checks
/// the options against each other (e.g. `max_queue` needs `max_count`) and starts the library's
/// runtime if it is not running yet.
///
/// Ownership: on success `*client_out` is a new client; free it with `tailrace_client_free`.
/// Threads: any.
///
/// Returns `TAILRACE_OK`, `TAILRACE_E_INVALID_OPTION` (the message names the option; also a
/// `ca_file` that is missing or holds no PEM certificate), `TAILRACE_E_NULL_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn tailrace_client_new(
    config: *const tailrace_config,
    client_out: *mut *mut tailrace_client,
) -> tailrace_result {
    boundary::result(|| {
        let config = unsafe { arg_ref(config, "config") }?;
        out_ptr(client_out, "client_out")?;
        // The caller's own threads submit and drain: the runtime leaves them a core.
        tailrace_core::runtime::leave_a_core_to_callers();
        let client = Client::new(config.config.clone())?;
        let handle = into_handle(tailrace_client {
            shared: Arc::new(Shared {
                client,
                pending: ForkLocal::new(Default::default()),
            }),
        });
        unsafe { write_out(client_out, handle) };
        Ok(())
    })
}

/// Close the client: pending calls end with `TAILRACE_E_CLIENT_CLOSED` (their events and
/// callbacks still arrive), and later sends fail with it. Idempotent.
///
/// Threads: any. Returns `TAILRACE_OK` or `TAILRACE_E_NULL_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn tailrace_client_close(client: *const tailrace_client) -> tailrace_result {
    boundary::result(|| {
        unsafe { arg_ref(client, "client") }?.shared.client.close();
        Ok(())
    })
}

/// Close the client (see `tailrace_client_close`) and free the handle. `NULL` does nothing.
/// Calls still pending end with `TAILRACE_E_CLIENT_CLOSED`; their events still go to their queue
/// and their callbacks still run, after this returns.
///
/// Ownership: consumes `client`. Do not free it while another thread uses it.
/// Threads: any, including a callback (it does not wait).
#[no_mangle]
pub unsafe extern "C" fn tailrace_client_free(client: *mut tailrace_client) {
    boundary::value((), || {
        if let Some(c) = unsafe { take_handle(client) } {
            c.shared.client.close();
        }
    })
}

/// A snapshot of the client's numbers as one JSON object: `calls`, `attempts`, `hedges_sent`,
/// `hedges_won`, `errors` (kind → count), `latency_us`, `in_flight`, `queued`, `hosts`, ... (the
/// keys every language uses; see DESIGN.md, "Stats"). `*json_out` is NUL-terminated and
/// `*len_out` (may be NULL) is its length without the NUL.
///
/// Ownership: the caller owns `*json_out`; free it with `tailrace_buf_free`. Threads: any.
///
/// Returns `TAILRACE_OK` or `TAILRACE_E_NULL_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn tailrace_client_stats_json(
    client: *const tailrace_client,
    json_out: *mut *mut c_char,
    len_out: *mut usize,
) -> tailrace_result {
    boundary::result(|| {
        let c = unsafe { arg_ref(client, "client") }?;
        out_ptr(json_out, "json_out")?;
        let text = c.shared.client.stats().to_json();
        unsafe { write_buf(text, json_out, len_out) };
        Ok(())
    })
}

/// The same numbers as `tailrace_client_stats_json` in Prometheus text exposition format.
///
/// Ownership: the caller owns `*text_out`; free it with `tailrace_buf_free`. Threads: any.
///
/// Returns `TAILRACE_OK` or `TAILRACE_E_NULL_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn tailrace_client_stats_prometheus(
    client: *const tailrace_client,
    text_out: *mut *mut c_char,
    len_out: *mut usize,
) -> tailrace_result {
    boundary::result(|| {
        let c = unsafe { arg_ref(client, "client") }?;
        out_ptr(text_out, "text_out")?;
        let text = c.shared.client.stats().to_prometheus();
        unsafe { write_buf(text, text_out, len_out) };
        Ok(())
    })
}

/// Hand a string to C as a NUL-terminated buffer it frees with `tailrace_buf_free`.
unsafe fn write_buf(text: String, buf_out: *mut *mut c_char, len_out: *mut usize) {
    let c = to_cstring(&text);
    let len = c.as_bytes().len();
    unsafe {
        write_out(buf_out, c.into_raw());
        write_if_wanted(len_out, len);
    }
}

/// Free a buffer the library gave out (`tailrace_client_stats_json`,
/// `tailrace_client_stats_prometheus`). `NULL` does nothing.
///
/// Ownership: consumes `buf`. Threads: any.
#[no_mangle]
pub unsafe extern "C" fn tailrace_buf_free(buf: *mut c_char) {
    boundary::value((), || {
        if !buf.is_null() {
            // SAFETY: the C contract: a buffer from `write_buf` (CString::into_raw), freed once.
            drop(unsafe { std::ffi::CString::from_raw(buf) });
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn ids_in_any_step_spread_over_buckets() {
        let hasher = BuildHasherDefault::<IdHasher>::default();
        for step in [1u64, 16, 1 << 20] {
            let buckets: HashSet<u64> = (0..1024u64)
                .map(|i| hasher.hash_one(i * step) & 1023)
                .collect();
            // A random function puts 1024 keys in about 647 of 1024 buckets.
            assert!(
                buckets.len() > 550,
                "step {step}: {} buckets",
                buckets.len()
            );
        }
    }
}
