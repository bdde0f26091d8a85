//! One request: the control endpoints, `/__echo`, and the planned response for everything else.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_TYPE, LOCATION};
use http::{request, Method, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::body::{BoxError, ResponseBody};
use crate::plan::{self, Plan, DEFAULT_CHUNK_BYTES, DEFAULT_CLOSE_MID_BODY_BYTES};
use crate::state::Shared;
use crate::tracker::Tracker;
use crate::Event;

const PROTO: &str = "x-testbed-proto";
const ID: &str = "x-testbed-id";

/// hyper's service function for every connection.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, BoxError> {
    match req.uri().path() {
        "/__stats" => return Ok(stats(&shared, &req)),
        "/__reset" => return Ok(reset(&shared, &req)),
        _ => {}
    }
    let (parts, body) = req.into_parts();
    let mut tracker = Tracker::start(shared.clone(), event_for(&parts));
    shared.counters.count_version(parts.version);
    let echo = parts.uri.path() == "/__echo";

    // Read the request body first: once hyper has it all, it watches the connection for EOF
    // while we sleep, which is how an HTTP/1 client going away becomes a cancel. An error here
    // means the client is gone; returning it drops the tracker (a cancel).
    let received = read_body(body, echo).await?;

    let plan = match Plan::from_query(parts.uri.query().unwrap_or("")) {
        Ok(plan) => plan,
        Err(msg) => {
            tracker.responded(400);
            let head = head(400, parts.version, tracker.id(), "text/plain");
            return Ok(body_for(head, ResponseBody::full(msg + "\n", tracker)));
        }
    };

    let latency = plan.latency.as_ref().unwrap_or(&shared.latency);
    if !latency.is_zero() {
        let delay = latency.sample();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    let status = plan.status.unwrap_or_else(|| {
        let rate = plan.error_rate.unwrap_or(shared.error_rate);
        if rate > 0.0 && fastrand::f64() < rate {
            503
        } else {
            200
        }
    });
    tracker.responded(status);

    let content_type = if echo {
        "application/json"
    } else if plan.body_bytes.is_some() || plan.close_mid_body {
        "application/octet-stream"
    } else {
        "text/plain"
    };
    let mut head = head(status, parts.version, tracker.id(), content_type);
    if let Some(location) = &plan.location {
        if let Ok(value) = HeaderValue::from_str(location) {
            head = head.header(LOCATION, value);
        }
    }
    for i in 0..plan.repeat_header {
        head = head.header("x-repeat", i);
    }
    // HTTP/2 has no connection header (hyper would refuse to send it).
    if plan.close && parts.version < Version::HTTP_2 {
        head = head.header(CONNECTION, HeaderValue::from_static("close"));
    }

    let chunk_bytes = plan.chunk_bytes.unwrap_or(DEFAULT_CHUNK_BYTES);
    let body = if parts.method == Method::HEAD || matches!(status, 204 | 304) {
        // These responses cannot carry a body; hyper would drop a non-empty one unread.
        ResponseBody::full(Bytes::new(), tracker)
    } else if echo {
        ResponseBody::full(echo_json(&parts, &received), tracker)
    } else if plan.close_mid_body {
        let len = plan.body_bytes.unwrap_or(DEFAULT_CLOSE_MID_BODY_BYTES);
        ResponseBody::cut(len, chunk_bytes, plan.chunk_delay, tracker)
    } else if let Some(len) = plan.body_bytes {
        ResponseBody::generated(len, chunk_bytes, plan.chunked, plan.chunk_delay, tracker)
    } else {
        ResponseBody::full(Bytes::from_static(b"ok"), tracker)
    };
    Ok(body_for(head, body))
}

/// The fields of the request's log events.
fn event_for(parts: &request::Parts) -> Event {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
    };
    Event {
        key: header("x-key"),
        seq: header("x-seq").and_then(|s| s.parse().ok()),
        attempt: header("x-tailrace-attempt").and_then(|s| s.parse().ok()),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        ..Event::default()
    }
}

/// Reads the whole request body; keeps it only for `/__echo`.
async fn read_body(mut body: Incoming, keep: bool) -> Result<Bytes, BoxError> {
    let mut kept = BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let (true, Ok(data)) = (keep, frame?.into_data()) {
            kept.extend_from_slice(&data);
        }
    }
    Ok(kept.freeze())
}

fn echo_json(parts: &request::Parts, body: &Bytes) -> Bytes {
    let mut headers: BTreeMap<&str, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        headers
            .entry(name.as_str())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    let json = serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query().unwrap_or(""),
        "version": version_name(parts.version),
        "headers": headers,
        "body_len": body.len(),
        "body": String::from_utf8_lossy(body),
    });
    Bytes::from(json.to_string())
}

/// `GET /__stats[?events=0]`: the counters and the log. Neither counted nor logged.
fn stats(shared: &Shared, req: &Request<Incoming>) -> Response<ResponseBody> {
    if req.method() != Method::GET {
        return not_allowed(req.version(), "GET");
    }
    let with_events = !plan::parse_query(req.uri().query().unwrap_or(""))
        .any(|(name, value)| name == "events" && (value == "0" || value == "false"));
    let json = serde_json::to_vec(&shared.snapshot(with_events)).unwrap_or_default();
    control(200, req.version(), json)
}

/// `POST /__reset`: zero the counters and empty the log. Neither counted nor logged.
fn reset(shared: &Shared, req: &Request<Incoming>) -> Response<ResponseBody> {
    if req.method() != Method::POST {
        return not_allowed(req.version(), "POST");
    }
    shared.reset();
    control(200, req.version(), &b"{\"ok\":true}"[..])
}

fn not_allowed(version: Version, allow: &'static str) -> Response<ResponseBody> {
    let mut res = control(405, version, format!("use {allow}\n"));
    res.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    res
}

fn control(status: u16, version: Version, body: impl Into<Bytes>) -> Response<ResponseBody> {
    let content_type = if status == 200 {
        "application/json"
    } else {
        "text/plain"
    };
    let head = Response::builder()
        .status(status)
        .header(PROTO, version_name(version))
        .header(CONTENT_TYPE, content_type);
    body_for(head, ResponseBody::untracked(body))
}

fn head(
    status: u16,
    version: Version,
    id: u64,
    content_type: &'static str,
) -> http::response::Builder {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(PROTO, version_name(version))
        .header(ID, id)
        .header(CONTENT_TYPE, content_type)
}

fn body_for(head: http::response::Builder, body: ResponseBody) -> Response<ResponseBody> {
    // Every header above is valid by construction, so building cannot fail.
    head.body(body).expect("valid response head")
}

/// `HTTP/1.1`, `HTTP/2.0`, ...: the names `x-testbed-proto` and the stats use.
pub(crate) fn version_name(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "unknown",
    }
}
