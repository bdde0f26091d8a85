//! Which calls may be sent more than once, and which answers count as failures.

use crate::call::Prepared;
use crate::config::Config;
use crate::error::Result;
use crate::transport::Answer;

/// `concurrent_calls` and the failure set.
#[derive(Debug)]
pub(crate) struct Policy {
    max_attempts: u32,
    /// Indexed by status code; true = a failed attempt (`retry_on_status`).
    failure_status: Box<[bool; 600]>,
}

impl Policy {
    pub(crate) fn new(config: &Config) -> Policy {
        let mut failure_status = Box::new([false; 600]);
        for &code in &config.retry_on_status {
            failure_status[code as usize] = true;
        }
        Policy {
            max_attempts: config.concurrent_calls,
            failure_status,
        }
    }

    /// Attempts this call may get: `concurrent_calls` for idempotent calls (GET, HEAD, OPTIONS,
    /// PUT, DELETE, or declared so), 1 for the rest.
    pub(crate) fn attempts_for(&self, call: &Prepared) -> u32 {
        if call.idempotent {
            self.max_attempts
        } else {
            1
        }
    }

    /// Whether hedging is configured at all.
    pub(crate) fn hedging(&self) -> bool {
        self.max_attempts > 1
    }

    /// Whether an attempt failed: an error, or an answer whose status is in the failure set.
    pub(crate) fn failed(&self, result: &Result<Answer>) -> bool {
        match result {
            Ok(answer) => self.is_failure(answer.status.as_u16()),
            Err(_) => true,
        }
    }

    /// An answer with this status is a failed attempt (by default 5xx; 4xx is an answer).
    pub(crate) fn is_failure(&self, status: u16) -> bool {
        self.failure_status
            .get(status as usize)
            .copied()
            .unwrap_or(false)
    }
}
