//! A call waiting in a key's queue. It ends one of three ways, each leaving the books right:
//! granted (a release handed it a slot), timed out (it leaves the queue: `LimitTimeout`), or
//! dropped (cancelled: it leaves the queue). When a timeout or a cancel races with a grant, the
//! grant wins the slot and the slot is either used (timeout) or released at once (cancel): it is
//! never lost and never held by a call that is gone.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::oneshot;

use super::key_queue::Key;
use super::{limit_timeout, Permit, Shared};
use crate::error::{Error, Result};

/// A queued call; dropping it before it settles takes it out of the queue. It owns its share of
/// the limiter, so a place taken at submission can travel with the call to its task.
#[derive(Debug)]
pub(crate) struct Waiting {
    shared: Arc<Shared>,
    key: Key,
    id: u64,
    /// `queue_timeout_ms` counts from here, when the call joined the queue.
    enqueued_at: Instant,
    /// Dropped after `Drop::drop` has left the queue: a slot sent in a race is inside it and is
    /// released by dropping it; one sent later comes back to its releaser (the send fails).
    rx: oneshot::Receiver<Permit>,
    settled: bool,
}

impl Waiting {
    pub(super) fn new(
        shared: Arc<Shared>,
        key: Key,
        id: u64,
        rx: oneshot::Receiver<Permit>,
    ) -> Waiting {
        Waiting {
            shared,
            key,
            id,
            enqueued_at: Instant::now(),
            rx,
            settled: false,
        }
    }

    /// Wait for a slot, at most `queue_timeout_ms` (from joining the queue) if one is set.
    pub(super) async fn until_granted(mut self) -> Result<Permit> {
        let timeout = self.shared.bounds.as_ref().and_then(|b| b.queue_timeout);
        let granted = match timeout {
            None => (&mut self.rx).await,
            Some(t) => {
                match tokio::time::timeout_at((self.enqueued_at + t).into(), &mut self.rx).await {
                    Ok(r) => r,
                    Err(_elapsed) => {
                        if self.leave_queue() {
                            self.shared.counters.timed_out.fetch_add(1, Relaxed);
                            return Err(limit_timeout(&self.key, t));
                        }
                        // A release took us out of the queue as the timer fired: the slot is ours and
                        // is being sent.
                        (&mut self.rx).await
                    }
                }
            }
        };
        self.settled = true;
        granted.map_err(|_| Error::internal("the limiter dropped a queued call"))
    }

    /// Take this waiter out of its key's queue; false if a release already handed it a slot.
    fn leave_queue(&mut self) -> bool {
        self.settled = true;
        let left = self.shared.table.with(&self.key, |st| st.leave(self.id));
        if left {
            self.shared.counters.queued.fetch_sub(1, Relaxed);
        }
        left
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if !self.settled {
            // Cancelled while queued. If a release took this waiter out of the queue first, its
            // slot is in `rx` (released when `rx` drops right after this, outside the key's
            // lock) or, not sent yet, goes back to the releaser, whose send fails.
            self.leave_queue();
        }
    }
}
