//! Read a response body under `max_response_bytes`, checking the cap as each frame arrives, so an
//! oversized (or endless) body fails as soon as it crosses the cap instead of after buffering it.

use bytes::{Bytes, BytesMut};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::error::{Error, ErrorKind, Sent};

fn too_large(limit: u64, what: String) -> Error {
    Error::new(
        ErrorKind::ResponseTooLarge,
        format!("response body {what} exceeds max_response_bytes = {limit} (raise the option if this size is expected)"),
    )
}

/// Read the whole body, failing once it passes `limit` bytes.
pub(crate) async fn read_limited(mut body: Incoming, limit: u64) -> Result<Bytes, Error> {
    if let Some(declared) = body.size_hint().exact() {
        if declared > limit {
            return Err(too_large(
                limit,
                format!("of {declared} bytes (content-length)"),
            ));
        }
    }
    let mut first: Option<Bytes> = None;
    let mut buf: Option<BytesMut> = None;
    let mut total: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            Error::new(
                ErrorKind::Protocol,
                format!("the connection failed while reading the response body after {total} bytes: {e}"),
            )
            .with_sent(Sent::Yes)
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len() as u64;
        if total > limit {
            return Err(too_large(limit, format!("of more than {limit} bytes")));
        }
        // The common single-frame body is returned without a copy.
        match (&mut first, &mut buf) {
            (None, None) => first = Some(data),
            (Some(f), None) => {
                let mut b = BytesMut::with_capacity(f.len() + data.len());
                b.extend_from_slice(f);
                b.extend_from_slice(&data);
                first = None;
                buf = Some(b);
            }
            (_, Some(b)) => b.extend_from_slice(&data),
        }
    }
    Ok(match (first, buf) {
        (_, Some(b)) => b.freeze(),
        (Some(f), None) => f,
        (None, None) => Bytes::new(),
    })
}
