//! Flush barriers over the submission sequence, kept as epochs.
//!
//! The *open* epoch holds every call that is free to start as far as flushes go. Each flush that
//! has not started yet begins a *closed* epoch: itself plus every call submitted after it (until
//! the next flush). So:
//! - the flush heading the first closed epoch may start once the open epoch has no incomplete
//!   call left (every earlier call completed);
//! - when it starts (or is cancelled before starting), its epoch merges into the open one and the
//!   calls in it may start beside it (same-key calls still wait on their key chain);
//! - calls in later closed epochs wait for their own flush, which waits for everything before it.
//!
//! Epoch ids increase by one per flush; the closed epochs are the ids after `open_id`, in order.

use std::collections::VecDeque;
use std::sync::Arc;

use super::Wake;

#[derive(Debug)]
struct Closed {
    id: u64,
    /// The flush heading this epoch; `None` once it started or was cancelled before starting.
    flush: Option<Arc<Wake>>,
    /// The flush has been told it may start.
    signalled: bool,
    /// Calls in this epoch (the flush included) not yet completed.
    incomplete: u64,
    /// Calls in this epoch that wait only for the flush to start (heads of their key chain, or
    /// without a key).
    waiters: Vec<Arc<Wake>>,
}

/// The open epoch and the closed ones after it.
#[derive(Debug, Default)]
pub(super) struct Epochs {
    open_id: u64,
    open_incomplete: u64,
    closed: VecDeque<Closed>,
}

impl Epochs {
    /// The epoch a call submitted now (not a flush) belongs to.
    fn newest(&self) -> u64 {
        self.closed.back().map_or(self.open_id, |c| c.id)
    }

    /// Count a new call (not a flush) in the newest epoch; returns that epoch.
    pub(super) fn join(&mut self) -> u64 {
        let id = self.newest();
        *self.incomplete_mut(id) += 1;
        id
    }

    /// A new flush begins a closed epoch; returns its id. Call [`Epochs::settle`] after.
    pub(super) fn begin_flush(&mut self, wake: Arc<Wake>) -> u64 {
        let id = self.newest() + 1;
        self.closed.push_back(Closed {
            id,
            flush: Some(wake),
            signalled: false,
            incomplete: 1,
            waiters: Vec::new(),
        });
        id
    }

    /// Whether calls of epoch `id` are free to start as far as flushes go.
    pub(super) fn is_open(&self, id: u64) -> bool {
        id <= self.open_id
    }

    /// A call of closed epoch `id` waits for the epoch's flush to start.
    pub(super) fn park(&mut self, id: u64, wake: Arc<Wake>) {
        if let Some(c) = self.closed_mut(id) {
            c.waiters.push(wake);
        }
    }

    /// A call of epoch `id` (not an unstarted flush) completed. Call [`Epochs::settle`] after.
    pub(super) fn complete(&mut self, id: u64) {
        *self.incomplete_mut(id) -= 1;
    }

    /// The flush heading epoch `id` started: calls after it may start beside it. Call
    /// [`Epochs::settle`] after.
    pub(super) fn flush_started(&mut self, id: u64) {
        if let Some(c) = self.closed_mut(id) {
            c.flush = None;
        }
    }

    /// The flush heading epoch `id` was dropped before it started (cancelled, timed out, or
    /// rejected): it gives up its place, and calls after it wait only for earlier flushes. Call
    /// [`Epochs::settle`] after.
    pub(super) fn flush_gone(&mut self, id: u64) {
        if let Some(c) = self.closed_mut(id) {
            c.flush = None;
            c.incomplete -= 1;
        }
    }

    /// Whether a flush has not started yet (calls submitted now must take the locked path).
    pub(super) fn flush_pending(&self) -> bool {
        !self.closed.is_empty()
    }

    /// Merge every front epoch whose flush is gone into the open one (waking its waiters), and
    /// tell the front flush it may start once nothing before it is incomplete. `fast` is the
    /// open epoch's calls counted outside these books (the gate's fast path).
    pub(super) fn settle(&mut self, fast: u64, woken: &mut Vec<Arc<Wake>>) {
        while let Some(front) = self.closed.front_mut() {
            match &front.flush {
                None => {
                    let c = self.closed.pop_front().expect("front exists");
                    self.open_id = c.id;
                    self.open_incomplete += c.incomplete;
                    woken.extend(c.waiters);
                }
                Some(flush) => {
                    if self.open_incomplete + fast == 0 && !front.signalled {
                        front.signalled = true;
                        woken.push(flush.clone());
                    }
                    break;
                }
            }
        }
    }

    fn closed_mut(&mut self, id: u64) -> Option<&mut Closed> {
        let index = id.checked_sub(self.open_id + 1)?;
        self.closed.get_mut(index as usize)
    }

    fn incomplete_mut(&mut self, id: u64) -> &mut u64 {
        if self.is_open(id) {
            return &mut self.open_incomplete;
        }
        let index = (id - self.open_id - 1) as usize;
        &mut self.closed[index].incomplete
    }
}
