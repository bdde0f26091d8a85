//! The hedger (DESIGN.md, "Hedging"): the same idempotent call sent up to `concurrent_calls`
//! times across hosts; the first success wins and every other attempt is cancelled at once.
//!
//! Rules it keeps:
//! - `hedge_delay_ms` 0 starts all attempts at once, as far as the budget allows (KrakenD's
//!   `concurrent_calls` with `hedge_max_extra_load` empty; the default 1 pays for one extra
//!   attempt per call). With a delay,
//!   attempt i+1 starts when no attempt has succeeded after the delay, or at once when an attempt
//!   fails. With `hedge_percentile` the delay is that percentile of recent attempt latency
//!   (raised when the budget could not pay for hedging at it: see [`delay`]). An attempt
//!   cancelled unfinished — a loser, or any attempt of a call dropped whole by its `timeout_ms`,
//!   its caller or its client's close — or timed out counts its time so far as a lower bound.
//! - Success is an answer whose status is not in the failure set (`retry_on_status`, default
//!   5xx); connection errors and timeouts are failures; 4xx is an answer and wins.
//! - `hedge_max_extra_load` caps extra attempts ÷ calls; past it no hedge is sent, and attempts
//!   in flight are never touched.
//! - A hedge needs a limiter slot free at once: hedging only uses spare capacity.
//! - With a delay, a hedge turned down (no budget, no free slot) is asked for again later, each
//!   wait twice the last: the budget refills as calls come, and the calls still waiting then are
//!   the slow ones it is for.
//! - Only idempotent calls are hedged. When every attempt fails, the error lists each attempt's
//!   host and cause; a call that sent one attempt returns that attempt's own outcome.
//!
//! The parts, one job each: [`policy`] (who may hedge, what fails), [`delay`] with [`latency`],
//! [`rotating_histogram`] and [`survival`] (when), [`budget`] (how much), [`timer`]
//! (sub-millisecond sleeps), [`race`] (first success wins, losers cancelled).
//!
//! Stage before: the limiter (the first attempt's slot comes with the call). Stage after: each
//! attempt goes through the balancer and the transport ([`crate::attempt`]).

mod budget;
mod delay;
mod latency;
mod policy;
mod race;
mod rotating_histogram;
mod survival;
pub(crate) mod timer;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crate::attempt;
use crate::balance::Balancer;
use crate::call::{Prepared, Target};
use crate::config::Config;
use crate::error::{AttemptError, Error, ErrorKind, Result, Sent};
use crate::limit::Permit;
use crate::response::Response;
use crate::stats::{HostStats, Recorder, Stats};
use crate::transport::{Answer, Transport};

use budget::Budget;
use delay::Delay;
use latency::{Outcome, Stopwatch};
use policy::Policy;
use race::{Event, Race};

/// What attempts need from the client: the pool, the counters, the hosts.
#[derive(Debug)]
pub(crate) struct Env<'a> {
    pub(crate) transport: &'a Transport,
    pub(crate) recorder: &'a Recorder,
    pub(crate) balancer: &'a Balancer,
    pub(crate) config: &'a Config,
}

/// Decides how many attempts a call gets, when, and which answer wins.
#[derive(Debug)]
pub(crate) struct Hedger {
    policy: Policy,
    delay: Delay,
    budget: Budget,
    hedges_sent: AtomicU64,
    hedges_won: AtomicU64,
    skipped_budget: AtomicU64,
    skipped_no_slot: AtomicU64,
}

impl Hedger {
    pub(crate) fn new(config: &Config) -> Hedger {
        Hedger {
            policy: Policy::new(config),
            delay: Delay::new(
                config.hedge_delay,
                config.hedge_percentile,
                config.hedge_max_extra_load,
            ),
            budget: Budget::new(config.hedge_max_extra_load),
            hedges_sent: AtomicU64::new(0),
            hedges_won: AtomicU64::new(0),
            skipped_budget: AtomicU64::new(0),
            skipped_no_slot: AtomicU64::new(0),
        }
    }

    /// Run a call's attempts. `first` is the limiter slot of the first attempt; `spare` asks the
    /// limiter for a slot for a hedge, free at once or not at all.
    pub(crate) async fn run(
        &self,
        env: &Env<'_>,
        call: &mut Prepared,
        first: Permit,
        spare: &(dyn Fn() -> Option<Permit> + Sync),
    ) -> Result<Response> {
        let max = self.policy.attempts_for(call);
        if max <= 1 {
            return self.run_single(env, call, first).await;
        }
        // Boxed so the future of every call (hedged or not) is not as large as a race's.
        Box::pin(self.run_race(env, call, first, spare, max)).await
    }

    /// A call that may send up to `max` attempts.
    async fn run_race(
        &self,
        env: &Env<'_>,
        call: &Prepared,
        first: Permit,
        spare: &(dyn Fn() -> Option<Permit> + Sync),
        max: u32,
    ) -> Result<Response> {
        self.budget.record_call();
        // Attempts still running when the race is dropped (a winner cancels them, or the whole
        // call is dropped) count their time so far as lower bounds.
        let mut race = Race::new(self.delay.latency());
        let mut causes: Vec<AttemptError> = Vec::new();
        // The outcome of the only attempt, returned as is when no hedge was ever sent.
        let mut only_outcome: Option<(Arc<HostStats>, Result<Answer>)> = None;
        self.start(&mut race, env, call, 0, first)?;
        let mut started = 1;
        // Delay 0: every attempt the budget pays for starts now (KrakenD). Otherwise one timer
        // for the next attempt.
        let delay = self.delay.current();
        // The last hedge turned down (no budget, or no free slot) and how long the call then
        // waited to ask again; each wait is twice the last, so a slow call still gets its hedge
        // once the budget refills, without every waiting call asking at every delay while it
        // stays dry.
        let mut turned_down: Option<(u32, Duration)> = None;
        if delay.is_zero() {
            while started < max {
                match self.try_hedge(&mut race, env, call, started, spare)? {
                    Hedge::Sent => started += 1,
                    Hedge::Refused(why) => {
                        self.count_refusal(why);
                        break;
                    }
                }
            }
        } else {
            race.set_timer(Some(timer::sleep(delay)));
        }
        while race.in_flight() > 0 {
            let hedge_now = match race.next().await {
                Event::TimerFired => true,
                Event::Finished(done, result) => {
                    if let Some(l) = self.delay.latency() {
                        l.record_outcome(done.started.elapsed(), latency_outcome(&result));
                    }
                    let failed = self.policy.failed(&result);
                    if let Some(i) = done.host_index {
                        env.balancer.report(i, !failed);
                    }
                    if !failed {
                        // The winner. Cancel the losers (dropping them closes their
                        // connections or resets their streams) and count their time so far.
                        race.cancel_all();
                        if done.index > 0 {
                            self.hedges_won.fetch_add(1, Relaxed);
                        }
                        let answer = result.expect("not failed");
                        return Ok(response(answer, &done.host, started, done.index, call));
                    }
                    causes.push(AttemptError {
                        attempt: done.index,
                        host: done.host.url.to_string(),
                        error: Box::new(cause(&result)),
                    });
                    only_outcome = Some((done.host.clone(), result));
                    // A failure starts the next attempt at once, without waiting for the delay.
                    true
                }
            };
            if hedge_now && started < max {
                match self.try_hedge(&mut race, env, call, started, spare)? {
                    Hedge::Sent => {
                        started += 1;
                        let more = started < max && !delay.is_zero();
                        race.set_timer(more.then(|| timer::sleep(self.delay.current())));
                    }
                    // All at once: what the budget did not pay for at the start is not sent.
                    Hedge::Refused(why) if delay.is_zero() => {
                        self.count_refusal(why);
                        race.set_timer(None);
                    }
                    Hedge::Refused(why) => {
                        let wait = match turned_down {
                            Some((index, wait)) if index == started => wait.saturating_mul(2),
                            _ => {
                                // Counted once per hedge, however often it is asked for again.
                                self.count_refusal(why);
                                self.delay.current()
                            }
                        };
                        turned_down = Some((started, wait));
                        race.set_timer(Some(timer::sleep(wait)));
                    }
                }
            }
        }
        // Every attempt failed.
        match (started, only_outcome) {
            (1, Some((host, Ok(answer)))) => Ok(response(answer, &host, 1, 0, call)),
            (1, Some((_, Err(e)))) => Err(e),
            _ => Err(Error::all_attempts_failed(causes)),
        }
    }

    /// A call with one attempt: no race, no boxing, and its URL and headers are moved into the
    /// request rather than copied.
    async fn run_single(
        &self,
        env: &Env<'_>,
        call: &mut Prepared,
        first: Permit,
    ) -> Result<Response> {
        let _slot = first;
        let (host_index, host) = pick_host(env, call, &[])?;
        // Attempt numbers tell a server hedges apart; a client that never hedges has none.
        let numbered = env.config.attempt_header && self.policy.hedging();
        let req = env
            .transport
            .start(call.take_http_request(&host, numbered)?)?;
        // The clock is read only when an adaptive delay wants the attempt's latency. Dropped
        // unfinished (the call was dropped while the attempt ran), the stopwatch records the
        // time the attempt had run, a lower bound.
        let stopwatch = self.delay.latency().map(Stopwatch::start);
        let result = attempt::run(env, req, &host).await;
        if let Some(w) = stopwatch {
            w.finish(latency_outcome(&result));
        }
        if let Some(i) = host_index {
            env.balancer.report(i, !self.policy.failed(&result));
        }
        Ok(response(result?, &host, 1, 0, call))
    }

    /// Start attempt `index` with `slot`, on a host the call's other attempts are not using.
    fn start<'a>(
        &self,
        race: &mut Race<'a>,
        env: &'a Env<'a>,
        call: &'a Prepared,
        index: u32,
        slot: Permit,
    ) -> Result<()> {
        let (host_index, host) = pick_host(env, call, &race.hosts_in_use())?;
        let req = call.http_request(&host, index, env.config.attempt_header)?;
        let started = env.transport.start(req)?;
        let owned = host.clone();
        let future = Box::pin(async move { attempt::run(env, started, &owned).await });
        race.start(index, host_index, host, slot, future);
        Ok(())
    }

    /// Start a hedge if the budget and a free limiter slot allow.
    fn try_hedge<'a>(
        &self,
        race: &mut Race<'a>,
        env: &'a Env<'a>,
        call: &'a Prepared,
        index: u32,
        spare: &(dyn Fn() -> Option<Permit> + Sync),
    ) -> Result<Hedge> {
        // The budget first: a slot taken only to be given back would, meanwhile, turn away a
        // first attempt of another call (queue full) or make it queue for nothing.
        if !self.budget.try_spend() {
            return Ok(Hedge::Refused(Refusal::NoBudget));
        }
        let Some(slot) = spare() else {
            self.budget.refund();
            return Ok(Hedge::Refused(Refusal::NoSlot));
        };
        self.start(race, env, call, index, slot)?;
        self.hedges_sent.fetch_add(1, Relaxed);
        Ok(Hedge::Sent)
    }

    fn count_refusal(&self, why: Refusal) {
        match why {
            Refusal::NoBudget => &self.skipped_budget,
            Refusal::NoSlot => &self.skipped_no_slot,
        }
        .fetch_add(1, Relaxed);
    }

    /// Fill the hedger's numbers into a snapshot.
    pub(crate) fn fill(&self, stats: &mut Stats) {
        stats.hedges_sent = self.hedges_sent.load(Relaxed);
        stats.hedges_won = self.hedges_won.load(Relaxed);
        stats.hedges_skipped_budget = self.skipped_budget.load(Relaxed);
        stats.hedges_skipped_no_slot = self.skipped_no_slot.load(Relaxed);
        stats.hedge_delay_us = if self.policy.hedging() {
            self.delay.current().as_micros() as u64
        } else {
            0
        };
    }
}

/// What became of a hedge that was due.
#[derive(Debug, Clone, Copy)]
enum Hedge {
    Sent,
    Refused(Refusal),
}

/// Why a hedge that was due was not sent.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// Out of budget (`hedge_max_extra_load`).
    NoBudget,
    /// No limiter slot free at once.
    NoSlot,
}

/// What an attempt's outcome tells of how long the backend takes (for the adaptive delay): an
/// answer its latency, a timeout a lower bound; a connection error nothing.
fn latency_outcome(result: &Result<Answer>) -> Outcome {
    match result {
        Ok(_) => Outcome::Answered,
        Err(e) if e.kind() == ErrorKind::Timeout => Outcome::TimedOut,
        Err(_) => Outcome::Silent,
    }
}

/// Why an attempt failed: its error, or its answer's status.
fn cause(result: &Result<Answer>) -> Error {
    match result {
        Err(e) => e.clone(),
        Ok(answer) => Error::new(
            ErrorKind::HttpStatus,
            format!("answered {} (in retry_on_status)", answer.status),
        )
        .with_status(answer.status.as_u16())
        .with_sent(Sent::Yes),
    }
}

fn response(
    answer: Answer,
    host: &HostStats,
    attempts: u32,
    winner: u32,
    call: &Prepared,
) -> Response {
    Response {
        status: answer.status,
        version: answer.version,
        headers: answer.headers,
        body: answer.body,
        host: host.url.clone(),
        attempts,
        winner,
        elapsed: call.submitted.elapsed(),
    }
}

/// The host for an attempt: the URL's own for full URLs, else the balancer's pick.
fn pick_host(
    env: &Env<'_>,
    call: &Prepared,
    in_use: &[usize],
) -> Result<(Option<usize>, Arc<HostStats>)> {
    match &call.target {
        Target::Url { host, .. } => Ok((None, host.clone())),
        Target::Path(_) => {
            let i = env
                .balancer
                .pick(in_use)
                .ok_or_else(|| Error::internal("a path call reached the balancer with no hosts"))?;
            Ok((Some(i), env.balancer.host(i).clone()))
        }
    }
}
