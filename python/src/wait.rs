//! Blocking waits for the synchronous `Client`: the calling thread polls the call's future itself
//! (no extra task, no thread per call) with the GIL released, waking at least every
//! [`SIGNAL_CHECK`] to run Python's signal handlers, so Ctrl-C interrupts a long call. An
//! interrupted wait drops the future, and dropping a `Call` aborts it inside the runtime.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

/// How often a waiting thread checks for signals. DESIGN asks for Ctrl-C within 100 ms.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// Wakes the waiting thread when the future can make progress.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Wait for `fut` on this thread with the GIL released. Returns the signal handler's error
/// (`KeyboardInterrupt`, say) if one raises; the future is dropped then, cancelling its calls.
pub(crate) fn wait<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut fut = pin!(fut);
    loop {
        let fut = fut.as_mut();
        let waker = &waker;
        let ready = py.detach(move || {
            let mut cx = Context::from_waker(waker);
            let mut fut = fut;
            let until = Instant::now() + SIGNAL_CHECK;
            loop {
                if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                    return Some(v);
                }
                let now = Instant::now();
                if now >= until {
                    return None;
                }
                // A wake that came before this park makes it return at once (unpark token).
                std::thread::park_timeout(until - now);
            }
        });
        match ready {
            Some(v) => return Ok(v),
            None => py.check_signals()?,
        }
    }
}
