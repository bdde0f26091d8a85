//! Making calls: to a completion queue, to a callback, or blocking; and cancelling them.
//!
//! `tailrace_send` and `tailrace_send_cb` submit on the caller's thread (validation and the
//! call's place in submission order, which order keys and flush follow) through the core's
//! `Client::submit`, then hand the call to a driver on the runtime ([`crate::driver`]) that runs
//! it and delivers its outcome, and keep its abort handle under the call's id for
//! `tailrace_cancel`. A call the limiter turns away at submission never reaches the runtime when
//! its outcome goes to a queue: the error is posted from the submitting thread.

use std::ffi::c_void;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::AbortHandle;

use tailrace_core::{Error, Request, Response, Submitted};

use crate::boundary::{self, arg_ref, into_handle, out_ptr, write_if_wanted, write_out, Fail};
use crate::client::{tailrace_client, Shared};
use crate::driver;
use crate::error::tailrace_error;
use crate::queue::{tailrace_event, tailrace_queue, Queue};
use crate::request::{tailrace_request, take_request};
use crate::response::tailrace_response;
use crate::result::tailrace_result;

/// A function `tailrace_send_cb` calls once with the call's outcome, on one of tailrace's
/// runtime threads.
///
/// `event` is valid during the callback only; `event->response` / `event->error` belong to the
/// callback, which frees them (now or later, from any thread). The callback must return quickly
/// and must not block: it runs on a thread that drives other calls. Blocking tailrace functions
/// (`tailrace_send_blocking`, `tailrace_queue_wait` with a timeout) return
/// `TAILRACE_E_WOULD_DEADLOCK` there; non-blocking ones (`tailrace_send`, `tailrace_cancel`,
/// `tailrace_queue_wake`, accessors, frees) are fine. It must not throw a C++ exception.
pub type tailrace_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const tailrace_event)>;

/// Where a call's outcome goes.
enum Sink {
    Queue(Arc<Queue>),
    Callback(
        unsafe extern "C" fn(*mut c_void, *const tailrace_event),
        UserData,
    ),
}

/// The caller's pointer, passed back untouched on a runtime thread (the C contract allows it).
struct UserData(*mut c_void);
// SAFETY: tailrace never dereferences it; the callback's contract is to accept any thread.
unsafe impl Send for UserData {}

/// How a call ended, as the binding sees it.
pub(crate) enum Outcome {
    /// The call ran to its end: a response or the core's error.
    Done(Result<Response, Error>),
    /// `tailrace_cancel` dropped it.
    Cancelled,
    /// The call's code panicked (a bug).
    Panicked,
}

impl Sink {
    fn deliver(self, id: u64, outcome: Outcome) {
        match self {
            Sink::Queue(q) => q.post(id, outcome),
            Sink::Callback(cb, data) => {
                let event = tailrace_event::new(id, outcome);
                // SAFETY: the C contract of `tailrace_send_cb`.
                unsafe { cb(data.0, &event) };
            }
        }
    }
}

/// Submit `request` as call `id` of `client` and arrange for its outcome to reach `sink`.
///
/// One job both runs the call and delivers its outcome (a separate waiter would cost a second
/// cross-thread wake-up per call). Cancel aborts that job: the driver drops the call, which
/// releases what it held, and its [`Delivery`] guard reports the cancellation.
fn submit(shared: &Arc<Shared>, request: Request, id: u64, sink: Sink) -> Result<(), Fail> {
    let (abort, registration) = AbortHandle::new_pair();
    let job = {
        let mut pending = shared.pending(id);
        if pending.contains_key(&id) {
            return Err(Fail::new(
                tailrace_result::TAILRACE_E_DUPLICATE_ID,
                format!("id {id} is already used by a pending call of this client"),
            ));
        }
        let delivery = |sink| {
            Some(Delivery {
                id,
                shared: shared.clone(),
                sink: Some(sink),
            })
        };
        // The submission proper: on this thread, so submission order is the order sends return.
        let job: driver::Job = match shared.client.submit(request)? {
            Submitted::Running(call) => Box::pin(Delivered {
                call: Running::Call { call },
                delivery: delivery(sink),
            }),
            // Turned away by the limiter at submission. To a queue the error is posted from this
            // thread: under overload, when rejections are many, each costs no trip through the
            // runtime. A callback still runs on a runtime thread, as its contract says (the
            // caller may hold a lock its callback takes).
            Submitted::Ended(outcome) => match sink {
                Sink::Queue(queue) => {
                    drop(pending);
                    queue.post(id, Outcome::Done(outcome));
                    return Ok(());
                }
                sink => Box::pin(Delivered {
                    call: Running::Call {
                        call: std::future::ready(outcome),
                    },
                    delivery: delivery(sink),
                }),
            },
        };
        // Known before the call can end: its delivery forgets the id under this same lock.
        pending.insert(id, abort);
        job
    };
    // Outside the lock: a job no driver takes is dropped here, and its delivery takes the lock.
    driver::run(job, registration);
    Ok(())
}

pin_project_lite::pin_project! {
    /// The job of one call, run by a driver: runs the call, then delivers its outcome. A struct,
    /// not an `async` block: the block would keep the call's future twice (as its capture and as
    /// what it awaits), 1.5 KB more per call to allocate and copy.
    struct Delivered<F> {
        #[pin]
        call: Running<F>,
        delivery: Option<Delivery>,
    }

    impl<F> PinnedDrop for Delivered<F> {
        // A cancelled (aborted) call is dropped here, before its delivery reports it.
        fn drop(this: Pin<&mut Self>) {
            this.project().call.end();
        }
    }
}

pin_project_lite::pin_project! {
    /// A call's future, until the job is dropped (the call ended, or its job was aborted).
    #[project = RunningProj]
    enum Running<F> {
        Call { #[pin] call: F },
        Ended,
    }
}

impl<F> Running<F> {
    /// Drop the call's future now. The call's stages release what they held as it drops; a
    /// panic there (a bug) is caught, so it never takes down the driver and the other calls it
    /// runs.
    fn end(mut self: Pin<&mut Self>) {
        let _ = catch_unwind(AssertUnwindSafe(|| self.set(Running::Ended)));
    }
}

impl<F: Future<Output = Result<Response, Error>>> Future for Delivered<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let RunningProj::Call { call } = this.call.project() else {
            return Poll::Ready(());
        };
        // A panic in the call (a bug) ends this call only, not the driver running it.
        let outcome = match catch_unwind(AssertUnwindSafe(|| call.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(outcome)) => Outcome::Done(outcome),
            Err(_) => Outcome::Panicked,
        };
        if let Some(mut delivery) = this.delivery.take() {
            delivery.finish(outcome);
        }
        Poll::Ready(())
    }
}

/// Delivers a call's outcome exactly once: from its job when the call ends or panics, or from
/// `drop` when the job is aborted (`tailrace_cancel`) or dropped unsent.
struct Delivery {
    id: u64,
    shared: Arc<Shared>,
    sink: Option<Sink>,
}

impl Delivery {
    fn finish(&mut self, outcome: Outcome) {
        if let Some(sink) = self.sink.take() {
            // Forget the id first: once the event is out, the id may be used again.
            self.shared.pending(self.id).remove(&self.id);
            sink.deliver(self.id, outcome);
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        let outcome = if std::thread::panicking() {
            Outcome::Panicked
        } else {
            Outcome::Cancelled
        };
        self.finish(outcome);
    }
}

/// Send a call; its outcome is posted to `queue` as a `tailrace_event` with this `id`.
///
/// Submission happens now, on this thread: the call's place in submission order (for order keys
/// and flush) is the order `tailrace_send` calls return, whichever threads they come from. The
/// call then runs on the background runtime, whether or not anyone waits on the queue.
///
/// `id` is yours: any value not used by another pending call of this client (`tailrace_cancel`
/// takes it). It is free again once the call's event is posted.
///
/// Ownership: consumes `request` in every case, also when an error is returned: do not use or
/// free it afterwards. `client` and `queue` are not consumed; both may be freed while the call is
/// pending (see their `_free`). Threads: any, including callbacks.
///
/// Returns `TAILRACE_OK` (an event will come), or an error and no event will come:
/// `TAILRACE_E_INVALID_REQUEST` (bad URL, header, ...), `TAILRACE_E_CLIENT_CLOSED`,
/// `TAILRACE_E_DUPLICATE_ID`, `TAILRACE_E_NULL_ARGUMENT`. Failures after submission (connect,
/// timeout, limiter, cancel, ...) come as the event's `result`. A call the limiter turns away at
/// once (`TAILRACE_E_LIMIT_QUEUE_FULL`) has its event posted before `tailrace_send` returns.
#[no_mangle]
pub unsafe extern "C" fn tailrace_send(
    client: *const tailrace_client,
    request: *mut tailrace_request,
    queue: *const tailrace_queue,
    id: u64,
) -> tailrace_result {
    boundary::result(|| {
        let request = unsafe { take_request(request) }?;
        let client = unsafe { arg_ref(client, "client") }?;
        let queue = unsafe { arg_ref(queue, "queue") }?;
        submit(
            &client.shared,
            request,
            id,
            Sink::Queue(queue.shared.clone()),
        )
    })
}

/// Send a call; `callback(userdata, event)` runs once with its outcome, on one of tailrace's
/// runtime threads (see `tailrace_callback` for what it may do). `id` is as for `tailrace_send`
/// (for `tailrace_cancel`), shared with the queue calls of this client.
///
/// Ownership: consumes `request` in every case. `userdata` is passed back untouched; it must
/// stay valid until the callback has run. Threads: any, including callbacks.
///
/// Returns `TAILRACE_OK` (the callback will run), or an error and the callback will not run:
/// `TAILRACE_E_INVALID_REQUEST`, `TAILRACE_E_CLIENT_CLOSED`, `TAILRACE_E_DUPLICATE_ID`,
/// `TAILRACE_E_NULL_ARGUMENT` (also for a NULL `callback`).
#[no_mangle]
pub unsafe extern "C" fn tailrace_send_cb(
    client: *const tailrace_client,
    request: *mut tailrace_request,
    id: u64,
    callback: tailrace_callback,
    userdata: *mut c_void,
) -> tailrace_result {
    boundary::result(|| {
        let request = unsafe { take_request(request) }?;
        let client = unsafe { arg_ref(client, "client") }?;
        let callback = callback.ok_or_else(|| Fail::null("callback"))?;
        submit(
            &client.shared,
            request,
            id,
            Sink::Callback(callback, UserData(userdata)),
        )
    })
}

/// Send a call and wait for its outcome on this thread (the runtime does the I/O).
///
/// On success `*response_out` is the answer. On failure, when `error_out` is not NULL,
/// `*error_out` is the error (code, message, attempts) for any failure of the call itself
/// (codes 1 to 15), and NULL for a bad argument (codes from 100: see
/// `tailrace_last_error_message`). Both out-parameters are set to NULL first.
///
/// Ownership: consumes `request` in every case. The caller owns `*response_out` (free with
/// `tailrace_response_free`) and `*error_out` (free with `tailrace_error_free`).
///
/// Threads: any thread but tailrace's own: in a callback it returns
/// `TAILRACE_E_WOULD_DEADLOCK` at once instead of hanging.
///
/// Returns `TAILRACE_OK` or why the call failed (any code from 1 to 15),
/// `TAILRACE_E_NULL_ARGUMENT`, `TAILRACE_E_PANIC` (a bug).
#[no_mangle]
pub unsafe extern "C" fn tailrace_send_blocking(
    client: *const tailrace_client,
    request: *mut tailrace_request,
    response_out: *mut *mut tailrace_response,
    error_out: *mut *mut tailrace_error,
) -> tailrace_result {
    boundary::result(|| {
        // Before anything can fail, so a caller that frees `*error_out` on failure frees NULL.
        unsafe {
            write_if_wanted(response_out, std::ptr::null_mut());
            write_if_wanted(error_out, std::ptr::null_mut());
        }
        let request = unsafe { take_request(request) }?;
        out_ptr(response_out, "response_out")?;
        let client = unsafe { arg_ref(client, "client") }?;
        match client.shared.client.send_blocking(request) {
            Ok(r) => {
                unsafe { write_out(response_out, into_handle(tailrace_response::new(r))) };
                Ok(())
            }
            Err(e) => {
                if !error_out.is_null() {
                    unsafe { write_out(error_out, into_handle(tailrace_error::new(&e))) };
                }
                Err(Fail::from(e))
            }
        }
    })
}

/// Cancel pending call `id` of `client`: it is dropped inside the runtime, so its limiter slot,
/// its turn in its order key and its connections are released at once, and its event (or
/// callback) reports `TAILRACE_E_CANCELLED` — unless it completed first, in which case its real
/// outcome is delivered. Cancelling twice, or an id that is not pending, is harmless.
///
/// Threads: any, including callbacks.
///
/// Returns `TAILRACE_OK` (the call was pending; its event will come), `TAILRACE_E_UNKNOWN_CALL`
/// (no pending call has this id: it already ended, or was never sent), `TAILRACE_E_NULL_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn tailrace_cancel(
    client: *const tailrace_client,
    id: u64,
) -> tailrace_result {
    boundary::result(|| {
        let client = unsafe { arg_ref(client, "client") }?;
        // Abort outside the lock: the call's delivery takes the same lock to forget its id.
        let abort = client.shared.pending(id).get(&id).cloned();
        match abort {
            Some(abort) => {
                abort.abort();
                Ok(())
            }
            None => Err(Fail::new(
                tailrace_result::TAILRACE_E_UNKNOWN_CALL,
                format!("no pending call of this client has id {id} (it ended, or was never sent)"),
            )),
        }
    })
}

#[cfg(test)]
mod tests {
    use std::ptr::null_mut;

    use tailrace_testbed::{Config as TestbedConfig, Testbed};

    use super::*;
    use crate::queue::tailrace_queue_new;
    use crate::result::tailrace_result::*;
    use crate::tests::{client_for, request, wait_one};
    use crate::{tailrace_client_free, tailrace_queue_free, tailrace_response_free};

    /// A call that never ends and panics when dropped (a bug in some stage's `Drop`).
    struct PanicsOnDrop;

    impl Future for PanicsOnDrop {
        type Output = Result<Response, Error>;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            Poll::Pending
        }
    }

    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("a stage's Drop panicked");
        }
    }

    #[test]
    fn a_call_that_panics_as_it_drops_is_delivered_and_its_driver_runs_on() {
        let tb = Testbed::start(TestbedConfig::default()).unwrap();
        let client = client_for(&tb, &[]);
        unsafe {
            let mut q = null_mut();
            assert_eq!(tailrace_queue_new(&mut q), TAILRACE_OK);
            let shared = &(*client).shared;
            // More jobs than drivers: every driver drops one such call.
            for id in 0..16 {
                let (abort, registration) = AbortHandle::new_pair();
                shared.pending(id).insert(id, abort.clone());
                driver::run(
                    Box::pin(Delivered {
                        call: Running::Call { call: PanicsOnDrop },
                        delivery: Some(Delivery {
                            id,
                            shared: shared.clone(),
                            sink: Some(Sink::Queue((*q).shared.clone())),
                        }),
                    }),
                    registration,
                );
                abort.abort();
                let ev = wait_one(q);
                assert_eq!((ev.id, ev.result), (id, TAILRACE_E_CANCELLED));
                crate::tailrace_error_free(ev.error);
            }
            // Every driver still runs calls: none was taken down by the panic.
            for id in 100..116 {
                assert_eq!(tailrace_send(client, request("/x"), q, id), TAILRACE_OK);
                let ev = wait_one(q);
                assert_eq!((ev.id, ev.result), (id, TAILRACE_OK));
                tailrace_response_free(ev.response);
            }
            tailrace_queue_free(q);
            tailrace_client_free(client);
        }
    }
}
