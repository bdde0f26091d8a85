//! The answer to a call, with where it came from: which host, which attempt, how many attempts.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode, Version};

/// A complete response: the whole body has been read (within `max_response_bytes`).
#[derive(Clone, Debug)]
pub struct Response {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) host: Arc<str>,
    pub(crate) attempts: u32,
    pub(crate) winner: u32,
    pub(crate) elapsed: Duration,
}

impl Response {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The HTTP version the answer came over.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body, consuming the response.
    pub fn into_body(self) -> Bytes {
        self.body
    }

    /// Base URL of the host that answered (`scheme://authority`, plus any path prefix from `hosts`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// How many attempts were sent for this call (1 without hedging).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Index of the attempt whose answer this is (0 = the first).
    pub fn winner(&self) -> u32 {
        self.winner
    }

    /// Time from submitting the call to the last byte of this answer, waits included.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }
}
