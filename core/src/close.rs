//! Closing a client: new calls are refused and every call still pending ends with `ClientClosed`
//! at once, even one waiting on a slow server.
//!
//! A pending call registers its task's waker once, in one of a few shards, and polls only an
//! atomic flag after that; `close` sets the flag and wakes every registered call. (A broadcast
//! channel would lock its waiter list on every poll of every call, and closing is rare.)

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use crate::shard;

/// One client's closed flag and the wakers of its pending calls.
#[derive(Debug, Default)]
pub(crate) struct Closer {
    closed: AtomicBool,
    shards: [Mutex<Wakers>; shard::SHARDS],
}

/// Registered wakers; a removed one leaves a hole reused by the next registration, so a steady
/// stream of calls allocates nothing here.
#[derive(Debug, Default)]
struct Wakers {
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Closer {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Close; true the first time. Every call registered now is woken to see it.
    pub(crate) fn close(&self) -> bool {
        if self.closed.swap(true, Ordering::AcqRel) {
            return false;
        }
        for shard in &self.shards {
            let wakers = shard.lock().unwrap_or_else(|p| p.into_inner());
            for w in wakers.slots.iter().flatten() {
                w.wake_by_ref();
            }
        }
        true
    }

    /// Run `inner` until it finishes or the client closes (`None`).
    pub(crate) fn until_closed<F: Future>(&self, inner: F) -> UntilClosed<'_, F> {
        UntilClosed {
            closer: self,
            registered: None,
            inner,
        }
    }

    fn register(&self, waker: &Waker) -> (usize, usize) {
        let shard = shard::index();
        let mut w = self.shards[shard].lock().unwrap_or_else(|p| p.into_inner());
        let slot = match w.free.pop() {
            Some(i) => {
                w.slots[i] = Some(waker.clone());
                i
            }
            None => {
                w.slots.push(Some(waker.clone()));
                w.slots.len() - 1
            }
        };
        (shard, slot)
    }

    fn update(&self, (shard, slot): (usize, usize), waker: &Waker) {
        let mut w = self.shards[shard].lock().unwrap_or_else(|p| p.into_inner());
        w.slots[slot] = Some(waker.clone());
    }

    fn unregister(&self, (shard, slot): (usize, usize)) {
        let mut w = self.shards[shard].lock().unwrap_or_else(|p| p.into_inner());
        w.slots[slot] = None;
        w.free.push(slot);
    }
}

pin_project_lite::pin_project! {
    /// A call that ends early (`None`) when its client closes. See [`Closer::until_closed`].
    pub(crate) struct UntilClosed<'a, F> {
        closer: &'a Closer,
        // Where this call's waker is registered, and the waker itself (to tell when it changed).
        registered: Option<((usize, usize), Waker)>,
        #[pin]
        inner: F,
    }

    impl<F> PinnedDrop for UntilClosed<'_, F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some((at, _)) = this.registered.take() {
                this.closer.unregister(at);
            }
        }
    }
}

impl<F: Future> Future for UntilClosed<'_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if this.closer.is_closed() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(out) = this.inner.poll(cx) {
            return Poll::Ready(Some(out));
        }
        match this.registered {
            Some((at, w)) => {
                if !w.will_wake(cx.waker()) {
                    this.closer.update(*at, cx.waker());
                    *w = cx.waker().clone();
                }
            }
            None => {
                let at = this.closer.register(cx.waker());
                *this.registered = Some((at, cx.waker().clone()));
                // A close that swept the shards before this registration did not wake this
                // call; the flag, set before the sweep, says so.
                if this.closer.is_closed() {
                    return Poll::Ready(None);
                }
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pending_call_ends_when_closed_and_frees_its_slot() {
        let closer = std::sync::Arc::new(Closer::default());
        let c = closer.clone();
        let waiting =
            tokio::spawn(async move { c.until_closed(std::future::pending::<()>()).await });
        tokio::task::yield_now().await;
        while !waiting.is_finished()
            && closer
                .shards
                .iter()
                .all(|s| s.lock().unwrap().slots.is_empty())
        {
            tokio::task::yield_now().await;
        }
        assert!(closer.close());
        assert!(
            !closer.close(),
            "closing twice reports the first close only"
        );
        assert_eq!(waiting.await.unwrap(), None);
        for s in &closer.shards {
            let w = s.lock().unwrap();
            assert!(w.slots.iter().all(Option::is_none));
        }
    }

    #[tokio::test]
    async fn a_finished_call_returns_its_output() {
        let closer = Closer::default();
        assert_eq!(closer.until_closed(async { 7 }).await, Some(7));
        closer.close();
        assert_eq!(closer.until_closed(async { 7 }).await, None);
    }
}
