//! The completion queue: calls sent with `tailrace_send` post their outcome here; the caller
//! drains it in batches with `tailrace_queue_wait`, or watches its eventfd from an event loop.

use std::ffi::c_int;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use tailrace_core::runtime::{self, ForkLocal};

use crate::boundary::{self, arg_ref, into_handle, out_ptr, take_handle, write_out, Fail};
use crate::error::tailrace_error;
use crate::response::tailrace_response;
use crate::result::tailrace_result;
use crate::send::Outcome;

/// The outcome of one call.
///
/// `result` is `TAILRACE_OK` and `response` is set, or `result` is an error code and `error` is
/// set; the other pointer is NULL. Ownership: the receiver of the event owns `response` / `error`
/// and frees it with `tailrace_response_free` / `tailrace_error_free`.
#[repr(C)]
#[derive(Debug)]
pub struct tailrace_event {
    /// The id the call was sent with.
    pub id: u64,
    /// `TAILRACE_OK`, or why the call failed (also `tailrace_error_code(error)`).
    pub result: tailrace_result,
    /// The answer when `result` is `TAILRACE_OK`, else NULL.
    pub response: *mut tailrace_response,
    /// Why the call failed when `result` is not `TAILRACE_OK`, else NULL.
    pub error: *mut tailrace_error,
}

impl tailrace_event {
    /// Hand a call's outcome to C: the response or error becomes a handle the receiver owns.
    pub(crate) fn new(id: u64, outcome: Outcome) -> tailrace_event {
        let error = match outcome {
            Outcome::Done(Ok(r)) => {
                return tailrace_event {
                    id,
                    result: tailrace_result::TAILRACE_OK,
                    response: into_handle(tailrace_response::new(r)),
                    error: std::ptr::null_mut(),
                }
            }
            Outcome::Done(Err(e)) => tailrace_error::new(&e),
            Outcome::Cancelled => tailrace_error::cancelled(),
            Outcome::Panicked => tailrace_error::panicked(),
        };
        tailrace_event {
            id,
            result: error.code(),
            response: std::ptr::null_mut(),
            error: into_handle(error),
        }
    }
}

/// A completion queue: calls sent to it with `tailrace_send` post a `tailrace_event` here when
/// they end (succeed, fail, time out or are cancelled), in the order they end.
///
/// Methods:
/// - `tailrace_queue_new`: make a queue.
/// - `tailrace_queue_wait`: wait for events and take up to a batch of them.
/// - `tailrace_queue_wake`: make a waiting (or the next) `tailrace_queue_wait` return at once.
/// - `tailrace_queue_notify_fd`: an eventfd that is readable while events wait, for epoll/libuv.
/// - `tailrace_queue_free`: free it.
///
/// One queue may serve any number of clients. Threads: any; several threads may send to it and
/// wait on it at once (each event goes to one waiter).
///
/// After `fork()`, a queue made before the fork works in the child for calls sent in the child;
/// events of calls sent before the fork never come there (those calls run in the parent only).
/// The child has its own notify fd: see `tailrace_queue_notify_fd`.
pub struct tailrace_queue {
    pub(crate) shared: Arc<Queue>,
}

/// What a queue handle and every call sent to it share: the queue lives until the last is gone.
pub(crate) struct Queue {
    /// Per fork generation. A forked child posts to and waits on a channel and an eventfd of its
    /// own: an eventfd inherited across `fork()` is one kernel object, and a child reading it
    /// would swallow the parent's signals (and the parent the child's).
    channel: ForkLocal<Channel>,
}

/// The events of one fork generation, and its eventfd once asked for.
struct Channel {
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    notify: OnceLock<Notify>,
    /// Held while the eventfd is made, so a failure is not remembered: a later call tries again.
    making_notify: Mutex<()>,
}

enum Msg {
    Done(Posted),
    Wake,
}

/// An event made on the runtime thread that ended the call, so the waiter only copies 32 bytes
/// out of the channel. Frees its response or error if nobody takes it (the queue was freed).
struct Posted(tailrace_event);

// SAFETY: the event's handles are owned by this value alone until it is taken.
unsafe impl Send for Posted {}

impl Posted {
    fn take(self) -> tailrace_event {
        let posted = std::mem::ManuallyDrop::new(self);
        // SAFETY: read once from a value that is never dropped.
        unsafe { std::ptr::read(&posted.0) }
    }
}

impl Drop for Posted {
    fn drop(&mut self) {
        // SAFETY: handles made by `tailrace_event::new`, owned by nobody else.
        unsafe {
            drop(take_handle(self.0.response));
            drop(take_handle(self.0.error));
        }
    }
}

/// The eventfd, made on first `tailrace_queue_notify_fd`. `signalled` saves a write per event
/// while the fd is already readable.
struct Notify {
    fd: c_int,
    signalled: AtomicBool,
}

impl Queue {
    fn new() -> Queue {
        Queue {
            channel: ForkLocal::new(Channel::new()),
        }
    }

    /// This fork generation's channel (a fresh, empty one in a forked child).
    fn channel(&self) -> &Channel {
        self.channel.get_or_make(Channel::new)
    }

    /// Post the outcome of call `id` (from the runtime).
    pub(crate) fn post(&self, id: u64, outcome: Outcome) {
        let channel = self.channel();
        // The channel owns a receiver, so sending cannot fail.
        let _ = channel
            .tx
            .send(Msg::Done(Posted(tailrace_event::new(id, outcome))));
        channel.signal();
    }
}

impl Channel {
    fn new() -> Channel {
        let (tx, rx) = crossbeam_channel::unbounded();
        Channel {
            tx,
            rx,
            notify: OnceLock::new(),
            making_notify: Mutex::new(()),
        }
    }

    /// The eventfd, made on the first call.
    fn notify(&self) -> std::io::Result<&Notify> {
        if let Some(n) = self.notify.get() {
            return Ok(n);
        }
        let _making = self.making_notify.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = self.notify.get() {
            return Ok(n);
        }
        // SAFETY: plain eventfd creation.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let notify = self.notify.get_or_init(|| Notify {
            fd,
            signalled: AtomicBool::new(false),
        });
        // Events posted before the fd existed did not signal it.
        if !self.rx.is_empty() {
            self.signal();
        }
        Ok(notify)
    }

    fn signal(&self) {
        if let Some(n) = self.notify.get() {
            if !n.signalled.swap(true, SeqCst) {
                let one: u64 = 1;
                // SAFETY: writing 8 bytes to our own eventfd; a full counter (EAGAIN) is still readable.
                unsafe { libc::write(n.fd, (&one as *const u64).cast(), 8) };
            }
        }
    }

    /// Make the fd unreadable before draining, so an event posted after the drain signals again.
    /// Read first, then clear the flag: the other order lets a post that lands in between have
    /// its write swallowed by our read while the flag stays set, and every later post would then
    /// skip its write — events waiting behind an unreadable fd. In this order such a post finds
    /// the flag still set and skips its write, but its event is already queued for the drain.
    fn reset_signal(&self) {
        if let Some(n) = self.notify.get() {
            let mut buf: u64 = 0;
            // SAFETY: a non-blocking read of 8 bytes from our own eventfd.
            unsafe { libc::read(n.fd, (&mut buf as *mut u64).cast(), 8) };
            n.signalled.store(false, SeqCst);
        }
    }

    /// Wait up to `timeout` (None = forever) for the first message, then take what is ready
    /// into `events` without waiting more; a wake ends the batch. Returns how many were taken.
    fn take(&self, timeout: Option<Duration>, events: &mut [MaybeUninit<tailrace_event>]) -> usize {
        self.reset_signal();
        let first = match timeout {
            None => self.rx.recv().ok(),
            // The channel holds a sender itself, so "disconnected" never happens: only timeouts.
            Some(t) if t.is_zero() => self.rx.try_recv().ok(),
            Some(t) => self.rx.recv_timeout(t).ok(),
        };
        let mut n = 0;
        let mut next = first;
        while let Some(Msg::Done(posted)) = next {
            events[n].write(posted.take());
            n += 1;
            if n == events.len() {
                break;
            }
            next = self.rx.try_recv().ok();
        }
        if !self.rx.is_empty() {
            self.signal();
        }
        n
    }

    fn wake(&self) {
        // The channel owns a receiver, so sending cannot fail.
        let _ = self.tx.send(Msg::Wake);
        self.signal();
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        if let Some(n) = self.notify.get() {
            // SAFETY: our own fd; nothing can signal it any more (this is the last reference).
            unsafe { libc::close(n.fd) };
        }
    }
}

/// Make a completion queue.
///
/// Ownership: on success `*queue_out` is a new queue; free it with `tailrace_queue_free`.
/// Threads: any.
///
/// Returns `TAILRACE_OK` or `TAILRACE_E_NULL_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn tailrace_queue_new(
    queue_out: *mut *mut tailrace_queue,
) -> tailrace_result {
    boundary::result(|| {
        out_ptr(queue_out, "queue_out")?;
        let handle = into_handle(tailrace_queue {
            shared: Arc::new(Queue::new()),
        });
        unsafe { write_out(queue_out, handle) };
        Ok(())
    })
}

/// Wait for events and take up to `capacity` of them into `events[0 .. *count_out]`.
///
/// Waits until at least one event is ready, `timeout_ms` passes (`-1` = no limit, `0` = do not
/// wait), or `tailrace_queue_wake` is called; then takes every ready event up to `capacity`
/// without waiting more. A wake ends the wait at once: with the events taken before it, or with
/// `*count_out` 0. `*count_out` is 0 after a timeout. The queue stays usable after a wake.
///
/// Ownership: each event's `response` or `error` now belongs to the caller (free it with
/// `tailrace_response_free` / `tailrace_error_free`). `events` must have room for `capacity`.
///
/// Threads: any, several at once (each event goes to one waiter). Not from a callback (a runtime
/// thread) unless `timeout_ms` is 0: waiting there returns `TAILRACE_E_WOULD_DEADLOCK`.
///
/// Returns `TAILRACE_OK` (also on timeout and wake: look at `*count_out`),
/// `TAILRACE_E_NULL_ARGUMENT`, `TAILRACE_E_INVALID_LENGTH` (`capacity` 0 or absurd, `timeout_ms`
/// below -1), `TAILRACE_E_WOULD_DEADLOCK`.
#[no_mangle]
pub unsafe extern "C" fn tailrace_queue_wait(
    queue: *const tailrace_queue,
    timeout_ms: c_int,
    events: *mut tailrace_event,
    capacity: usize,
    count_out: *mut usize,
) -> tailrace_result {
    boundary::result(|| {
        let queue = unsafe { arg_ref(queue, "queue") }?;
        out_ptr(events, "events")?;
        out_ptr(count_out, "count_out")?;
        if capacity == 0 || capacity > isize::MAX as usize / std::mem::size_of::<tailrace_event>() {
            return Err(Fail::length(
                "capacity",
                format!("{capacity} events do not fit an array"),
            ));
        }
        let timeout = match timeout_ms {
            -1 => None,
            t if t >= 0 => Some(Duration::from_millis(t as u64)),
            t => {
                return Err(Fail::length(
                    "timeout_ms",
                    format!("{t} (use -1 to wait without a limit)"),
                ))
            }
        };
        if timeout != Some(Duration::ZERO) && runtime::on_runtime_thread() {
            return Err(Fail::new(
                tailrace_result::TAILRACE_E_WOULD_DEADLOCK,
                "tailrace_queue_wait with a timeout was called on a tailrace runtime thread \
                 (in a callback?); waiting there would deadlock: use timeout_ms 0",
            ));
        }
        // SAFETY: the C contract: `events` has room for `capacity` events (written, not read).
        let slots = unsafe {
            std::slice::from_raw_parts_mut(events.cast::<MaybeUninit<tailrace_event>>(), capacity)
        };
        let n = queue.shared.channel().take(timeout, slots);
        unsafe { write_out(count_out, n) };
        Ok(())
    })
}

/// Make one `tailrace_queue_wait` return at once with no events: the one waiting now, or else
/// the next one. Also makes the notify fd readable. Use it to stop a thread that waits on the
/// queue (set your own "stop" flag first). The queue stays usable afterwards.
///
/// Threads: any, including callbacks. Returns `TAILRACE_OK` or `TAILRACE_E_NULL_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn tailrace_queue_wake(queue: *const tailrace_queue) -> tailrace_result {
    boundary::result(|| {
        let queue = unsafe { arg_ref(queue, "queue") }?;
        queue.shared.channel().wake();
        Ok(())
    })
}

/// An eventfd that is readable while events (or a wake) wait in the queue, for epoll, poll,
/// libuv and the like: when it is readable, call `tailrace_queue_wait` with `timeout_ms` 0 (which
/// also resets it). It may be readable with no event waiting (a spurious wake-up is harmless);
/// it is never unreadable while one waits. Made on the first call; later calls return the same fd.
///
/// Ownership: the fd belongs to the queue: do not read, write or close it. Remove it from your
/// poller before `tailrace_queue_free`: calls still pending keep signalling it, and it is closed
/// only when the queue has been freed and every call sent to it has ended. Threads: any.
///
/// After `fork()`: the child gets a new fd for the same queue (an inherited eventfd is shared
/// with the parent). Call this again in the child, and watch that fd, not the inherited one.
///
/// Returns `TAILRACE_OK`, `TAILRACE_E_NULL_ARGUMENT`, `TAILRACE_E_INTERNAL` (eventfd failed;
/// the message has errno's text).
#[no_mangle]
pub unsafe extern "C" fn tailrace_queue_notify_fd(
    queue: *const tailrace_queue,
    fd_out: *mut c_int,
) -> tailrace_result {
    boundary::result(|| {
        let queue = unsafe { arg_ref(queue, "queue") }?;
        out_ptr(fd_out, "fd_out")?;
        let notify = queue.shared.channel().notify().map_err(|e| {
            Fail::new(
                tailrace_result::TAILRACE_E_INTERNAL,
                format!("eventfd failed: {e}"),
            )
        })?;
        unsafe { write_out(fd_out, notify.fd) };
        Ok(())
    })
}

/// Free a queue handle. `NULL` does nothing. Calls still pending that were sent to it run to the
/// end; their outcomes are then dropped (responses freed), since nobody can take them.
///
/// Ownership: consumes `queue`. Do not free it while another thread waits on it.
/// Threads: any.
#[no_mangle]
pub unsafe extern "C" fn tailrace_queue_free(queue: *mut tailrace_queue) {
    boundary::value((), || drop(unsafe { take_handle(queue) }))
}
