//! One error type for every stage of a call.
//!
//! [`Error::kind`] says what went wrong in a way code can match on (every binding maps the same
//! kinds), [`Error::sent_anything`] says whether the backend may have seen the request, and the
//! message names the option, header, host or deadline at fault.

use std::fmt;
use std::time::Duration;

/// What went wrong, in the vocabulary every language shares (DESIGN.md, "Errors").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Unknown option name or bad option value.
    InvalidOption,
    /// Bad URL, method, header name or value, or a relative path without `hosts`.
    InvalidRequest,
    /// The TCP connection could not be made: refused, unreachable, DNS.
    Connect,
    /// TLS failed: in the handshake or certificate verification (nothing was sent), or on a
    /// connection already in use (the request may have been sent).
    Tls,
    /// A deadline passed; [`Error::timeout_kind`] says which one.
    Timeout,
    /// The connection broke after it was made: closed mid-response, malformed response, stream reset.
    Protocol,
    /// The response body is larger than `max_response_bytes`.
    ResponseTooLarge,
    /// The limiter's queue for this limit key is full.
    LimitQueueFull,
    /// The call waited in the limiter's queue for longer than `queue_timeout_ms`.
    LimitTimeout,
    /// Every attempt of a hedged call failed; [`Error::attempts`] has each one's cause.
    AllAttemptsFailed,
    /// An attempt was answered with a status in the failure set (`retry_on_status`); appears as
    /// an attempt's cause inside `AllAttemptsFailed`.
    HttpStatus,
    /// The caller cancelled the call.
    Cancelled,
    /// The client was closed while the call was pending.
    ClientClosed,
    /// A blocking call was made from one of tailrace's own runtime threads, where it would deadlock.
    WouldDeadlock,
    /// A bug inside tailrace (for example a caught panic).
    Internal,
}

impl ErrorKind {
    /// Every kind, in a fixed order (stats count errors per kind in this order).
    pub const ALL: [ErrorKind; 15] = [
        ErrorKind::InvalidOption,
        ErrorKind::InvalidRequest,
        ErrorKind::Connect,
        ErrorKind::Tls,
        ErrorKind::Timeout,
        ErrorKind::Protocol,
        ErrorKind::ResponseTooLarge,
        ErrorKind::LimitQueueFull,
        ErrorKind::LimitTimeout,
        ErrorKind::AllAttemptsFailed,
        ErrorKind::HttpStatus,
        ErrorKind::Cancelled,
        ErrorKind::ClientClosed,
        ErrorKind::WouldDeadlock,
        ErrorKind::Internal,
    ];

    /// The snake_case name used as a stats key and in every binding's docs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidOption => "invalid_option",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
            ErrorKind::ResponseTooLarge => "response_too_large",
            ErrorKind::LimitQueueFull => "limit_queue_full",
            ErrorKind::LimitTimeout => "limit_timeout",
            ErrorKind::AllAttemptsFailed => "all_attempts_failed",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::ClientClosed => "client_closed",
            ErrorKind::WouldDeadlock => "would_deadlock",
            ErrorKind::Internal => "internal",
        }
    }

    /// Position in [`ErrorKind::ALL`].
    pub(crate) fn index(self) -> usize {
        ErrorKind::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which deadline passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutKind {
    /// `connect_timeout_ms`: TCP connect plus TLS handshake.
    Connect,
    /// `attempt_timeout_ms`: one attempt, from sending to the last body byte.
    Attempt,
    /// `timeout_ms`: the whole call, waits included.
    Call,
}

impl TimeoutKind {
    /// The option that sets this deadline.
    pub fn option_name(self) -> &'static str {
        match self {
            TimeoutKind::Connect => "connect_timeout_ms",
            TimeoutKind::Attempt => "attempt_timeout_ms",
            TimeoutKind::Call => "timeout_ms",
        }
    }
}

/// Whether the backend may have seen the request (DESIGN.md's "sent anything?" column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Nothing reached the backend: retrying cannot duplicate work.
    No,
    /// The request may have reached the backend.
    Maybe,
    /// The backend answered (at least the response head arrived).
    Yes,
}

/// One failed attempt of a call: where it went and why it failed.
#[derive(Clone, Debug)]
pub struct AttemptError {
    /// Attempt index, 0 for the first.
    pub attempt: u32,
    /// Base URL of the host the attempt went to.
    pub host: String,
    /// Why it failed.
    pub error: Box<Error>,
}

/// The error of a call, of a configuration step or of a request builder.
#[derive(Clone, Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    timeout: Option<TimeoutKind>,
    sent: Sent,
    status: Option<u16>,
    attempts: Vec<AttemptError>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        let sent = match kind {
            ErrorKind::Connect
            | ErrorKind::Tls
            | ErrorKind::InvalidOption
            | ErrorKind::InvalidRequest
            | ErrorKind::LimitQueueFull
            | ErrorKind::LimitTimeout
            | ErrorKind::WouldDeadlock => Sent::No,
            ErrorKind::ResponseTooLarge => Sent::Yes,
            _ => Sent::Maybe,
        };
        Error {
            kind,
            message: message.into(),
            timeout: None,
            sent,
            status: None,
            attempts: Vec::new(),
        }
    }

    pub(crate) fn invalid_option(name: &str, why: impl fmt::Display) -> Error {
        Error::new(ErrorKind::InvalidOption, format!("option `{name}`: {why}"))
    }

    pub(crate) fn invalid_request(why: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidRequest, why)
    }

    pub(crate) fn timeout(which: TimeoutKind, after: Duration, sent: Sent) -> Error {
        let mut e = Error::new(
            ErrorKind::Timeout,
            format!(
                "{} timeout: no answer within {} ms (raise `{}` if the backend is this slow)",
                match which {
                    TimeoutKind::Connect => "connect",
                    TimeoutKind::Attempt => "attempt",
                    TimeoutKind::Call => "call",
                },
                after.as_millis(),
                which.option_name()
            ),
        );
        e.timeout = Some(which);
        e.sent = sent;
        e
    }

    pub(crate) fn cancelled() -> Error {
        Error::new(ErrorKind::Cancelled, "the call was cancelled by its caller")
    }

    pub(crate) fn internal(why: impl Into<String>) -> Error {
        Error::new(
            ErrorKind::Internal,
            format!(
                "internal error in tailrace (a bug, please report it): {}",
                why.into()
            ),
        )
    }

    pub(crate) fn with_sent(mut self, sent: Sent) -> Error {
        self.sent = sent;
        self
    }

    pub(crate) fn with_status(mut self, status: u16) -> Error {
        self.status = Some(status);
        self
    }

    pub(crate) fn all_attempts_failed(attempts: Vec<AttemptError>) -> Error {
        let mut msg = format!("all {} attempts failed:", attempts.len());
        for a in &attempts {
            msg.push_str(&format!(
                " [attempt {} to {}: {}]",
                a.attempt, a.host, a.error
            ));
        }
        // The most any attempt sent: an attempt that got an answer (a status in the failure
        // set) means the backend did see the call.
        let sent = attempts
            .iter()
            .map(|a| a.error.sent)
            .max_by_key(|s| match s {
                Sent::No => 0,
                Sent::Maybe => 1,
                Sent::Yes => 2,
            })
            .unwrap_or(Sent::No);
        Error {
            kind: ErrorKind::AllAttemptsFailed,
            message: msg,
            timeout: None,
            sent,
            status: None,
            attempts,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// For [`ErrorKind::Timeout`], which deadline passed.
    pub fn timeout_kind(&self) -> Option<TimeoutKind> {
        self.timeout
    }

    /// Whether the backend may have seen the request.
    pub fn sent_anything(&self) -> Sent {
        self.sent
    }

    /// The HTTP status, when the failure was an answer whose status is in the failure set.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// For [`ErrorKind::AllAttemptsFailed`]: each attempt's host and cause, in attempt order.
    pub fn attempts(&self) -> &[AttemptError] {
        &self.attempts
    }

    /// The message alone, without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(sent: Sent) -> AttemptError {
        AttemptError {
            attempt: 0,
            host: "http://h".into(),
            error: Box::new(Error::new(ErrorKind::Connect, "x").with_sent(sent)),
        }
    }

    #[test]
    fn all_attempts_failed_sent_the_most_any_attempt_sent() {
        let sent = |s: &[Sent]| {
            Error::all_attempts_failed(s.iter().map(|s| failed(*s)).collect()).sent_anything()
        };
        assert_eq!(sent(&[Sent::No, Sent::No]), Sent::No);
        assert_eq!(sent(&[Sent::No, Sent::Maybe]), Sent::Maybe);
        assert_eq!(sent(&[Sent::Maybe, Sent::Yes, Sent::No]), Sent::Yes);
    }
}
