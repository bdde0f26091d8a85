//! The order gate (DESIGN.md, "Ordering"): calls with the same `order_key` run one at a time in
//! submission order; a `flush` call waits for every earlier call; everything else never waits.
//!
//! Stage before: submission (the ticket is taken synchronously in `Client::send`). Stage after:
//! the limiter — a call never holds a limiter slot while it waits for its turn here.
//!
//! NOTE: placeholder until the "limits" issue lands: every ticket's turn comes at once.

use crate::stats::Stats;

/// Hands out tickets in submission order.
#[derive(Debug, Default)]
pub(crate) struct Gate {}

/// A call's place in submission order. Dropping it (completion, error or cancel) passes the turn.
#[derive(Debug)]
pub(crate) struct Ticket {}

impl Gate {
    pub(crate) fn new() -> Gate {
        Gate {}
    }

    /// Take a place in submission order; called synchronously by `Client::send`.
    pub(crate) fn submit(&self, _order_key: Option<&str>, _flush: bool) -> Ticket {
        Ticket {}
    }

    /// Fill the gate's numbers into a snapshot.
    pub(crate) fn fill(&self, _stats: &mut Stats) {}
}

impl Ticket {
    /// Wait until this call may start.
    pub(crate) async fn wait(&mut self) {}
}
