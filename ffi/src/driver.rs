//! The tasks that run calls sent through the C ABI. A call is not a tokio task of its own: a few
//! long-lived driver tasks (one per runtime worker) each poll many calls.
//!
//! Why: a task per call costs a 128-byte-aligned allocation of the whole call (glibc's slow
//! path), the runtime's task bookkeeping, and the future copied in and out of the task cell;
//! measured against the same calls run inline, 2 to 6 µs of CPU per call. A driver takes a call
//! through a channel; calls sent in a burst wake it once.
//!
//! A call is cancelled with its abort handle (`futures_util::future::AbortHandle`): the driver
//! then drops it at once, inside the runtime, as an aborted task would be. After `fork()` the child gets drivers of its own on its
//! own runtime (the parent's tasks do not exist there).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::OnceLock;
use std::task::{Context, Poll};

use futures_util::future::{AbortRegistration, Abortable};
use futures_util::stream::{FuturesUnordered, StreamExt};
use tailrace_core::runtime::{self, ForkLocal};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// A call and the delivery of its outcome, ready to be driven to its end.
pub(crate) type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The drivers of one fork generation.
struct Drivers {
    inboxes: Vec<UnboundedSender<Abortable<Job>>>,
    next: AtomicUsize,
}

/// The drivers, per fork generation: a forked child starts its own and leaves the parent's
/// (tasks of a runtime that does not exist there) untouched.
static DRIVERS: OnceLock<ForkLocal<Drivers>> = OnceLock::new();

/// Hand `job` to a driver; `registration`'s handle cancels it. If no driver can take it (the
/// runtime is gone), the job is dropped here, which delivers it as cancelled: so the caller must
/// not hold a lock that the job's delivery takes.
pub(crate) fn run(job: Job, registration: AbortRegistration) {
    let drivers = DRIVERS
        .get_or_init(|| ForkLocal::new(Drivers::start()))
        .get_or_make(Drivers::start);
    // Round robin: the runtime's work stealing moves drivers, not calls, between workers.
    let i = drivers.next.fetch_add(1, Relaxed) % drivers.inboxes.len();
    // An unsent job is dropped with the error, which delivers it as cancelled.
    let _ = drivers.inboxes[i].send(Abortable::new(job, registration));
}

impl Drivers {
    fn start() -> Drivers {
        let handle = runtime::handle();
        let inboxes = (0..runtime::worker_threads().max(1))
            .map(|_| {
                let (tx, rx) = unbounded_channel();
                handle.spawn(Driver {
                    inbox: rx,
                    calls: FuturesUnordered::new(),
                    open: true,
                });
                tx
            })
            .collect();
        Drivers {
            inboxes,
            next: AtomicUsize::new(0),
        }
    }
}

/// One driver task: takes new calls from its inbox and polls those that are ready.
struct Driver {
    inbox: UnboundedReceiver<Abortable<Job>>,
    calls: FuturesUnordered<Abortable<Job>>,
    open: bool,
}

impl Future for Driver {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        while this.open {
            match this.inbox.poll_recv(cx) {
                Poll::Ready(Some(job)) => this.calls.push(job),
                Poll::Ready(None) => this.open = false,
                Poll::Pending => break,
            }
        }
        // Every call that is ready runs now; an aborted one ends here too (and is dropped).
        // FuturesUnordered gives the runtime back its thread after a round over all calls.
        while let Poll::Ready(Some(_)) = this.calls.poll_next_unpin(cx) {}
        if !this.open && this.calls.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
