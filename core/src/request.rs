//! A request as the caller describes it: method, URL or path, headers, body, and the per-call
//! fields later stages act on (`order_key`, `flush`, `limit_key`, `idempotent`, `timeout_ms`).
//!
//! The body is held as [`Bytes`]: buffered once, so every attempt of a hedged call replays the
//! same bytes without copying. Builder mistakes (a bad header, an unknown method) are kept and
//! reported when the request is sent, so a chain of builder calls stays a chain; the `try_*` and
//! [`Request::set`] forms report them at once, for bindings.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri};

use crate::error::{Error, Result};

/// One HTTP call to make. Build with [`Request::new`] or [`Request::get`] and friends.
#[derive(Clone, Debug)]
pub struct Request {
    pub(crate) method: Method,
    pub(crate) target: RequestTarget,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) timeout: Option<Duration>,
    pub(crate) idempotent: Option<bool>,
    pub(crate) order_key: Option<String>,
    pub(crate) flush: bool,
    pub(crate) limit_key: Option<String>,
    /// The first builder mistake, reported by `send`.
    pub(crate) error: Option<Error>,
}

impl Request {
    /// A request with this method (e.g. `"GET"`) to a full URL (`http://host/path`) or to a path
    /// (`/path`) joined to one of the client's `hosts`; see [`RequestTarget`] for what may be
    /// passed. The method is upper-cased, as httpx and requests do, in every language: `"get"`
    /// is sent (and hedged) as GET.
    pub fn new(method: &str, target: impl Into<RequestTarget>) -> Request {
        let mut req = Request {
            method: Method::GET,
            target: target.into(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            timeout: None,
            idempotent: None,
            order_key: None,
            flush: false,
            limit_key: None,
            error: None,
        };
        // Standard methods are upper case already: no allocation for them.
        let upper;
        let token = if method.bytes().any(|b| b.is_ascii_lowercase()) {
            upper = method.to_ascii_uppercase();
            upper.as_str()
        } else {
            method
        };
        match Method::from_bytes(token.as_bytes()) {
            Ok(m) => req.method = m,
            Err(_) => {
                req.error = Some(Error::invalid_request(format!(
                    "`{method}` is not a valid HTTP method"
                )))
            }
        }
        req
    }

    /// A GET request.
    pub fn get(target: impl Into<RequestTarget>) -> Request {
        Request::new("GET", target)
    }

    /// A POST request.
    pub fn post(target: impl Into<RequestTarget>) -> Request {
        Request::new("POST", target)
    }

    /// A PUT request.
    pub fn put(target: impl Into<RequestTarget>) -> Request {
        Request::new("PUT", target)
    }

    /// A DELETE request.
    pub fn delete(target: impl Into<RequestTarget>) -> Request {
        Request::new("DELETE", target)
    }

    /// A HEAD request.
    pub fn head(target: impl Into<RequestTarget>) -> Request {
        Request::new("HEAD", target)
    }

    /// Add a header (repeated names are all sent). A bad name or value (CR, LF, NUL) is reported
    /// by `send`.
    pub fn header(mut self, name: &str, value: &str) -> Request {
        if let Err(e) = self.try_header(name, value.as_bytes()) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// Add a header already parsed: a name and value built once and sent with many requests
    /// cost no parsing or copying per request (`HeaderValue::clone` shares its bytes).
    pub fn typed_header(mut self, name: HeaderName, value: HeaderValue) -> Request {
        self.headers.append(name, value);
        self
    }

    /// Add a header now, failing at once on a bad name or value.
    pub fn try_header(&mut self, name: &str, value: &[u8]) -> Result<()> {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::invalid_request(format!("`{name}` is not a valid header name")))?;
        let v = HeaderValue::from_bytes(value).map_err(|_| {
            Error::invalid_request(format!(
                "the value of header `{name}` has a character not allowed in HTTP headers \
                 (CR, LF or another control character)"
            ))
        })?;
        self.headers.append(n, v);
        Ok(())
    }

    /// The body, sent as is with every attempt.
    pub fn body(mut self, body: impl Into<Bytes>) -> Request {
        self.body = body.into();
        self
    }

    /// Deadline for this call, overriding the client's `timeout_ms`.
    pub fn timeout(mut self, timeout: Duration) -> Request {
        self.timeout = Some(timeout);
        self
    }

    /// Declare whether this call may be sent more than once (hedged). Without it, only GET, HEAD,
    /// OPTIONS, PUT and DELETE are.
    pub fn idempotent(mut self, idempotent: bool) -> Request {
        self.idempotent = Some(idempotent);
        self
    }

    /// Calls with the same order key run one at a time, in submission order. Empty = no key.
    pub fn order_key(mut self, key: impl Into<String>) -> Request {
        let key = key.into();
        self.order_key = (!key.is_empty()).then_some(key);
        self
    }

    /// A flush call starts only after every earlier call has completed.
    pub fn flush(mut self, flush: bool) -> Request {
        self.flush = flush;
        self
    }

    /// The limiter key this call counts against. Empty = the client-wide key.
    pub fn limit_key(mut self, key: impl Into<String>) -> Request {
        let key = key.into();
        self.limit_key = (!key.is_empty()).then_some(key);
        self
    }

    /// Set a per-call field by name: `order_key`, `flush`, `limit_key`, `idempotent`,
    /// `timeout_ms`. The string path C, Python and Go use.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let bad = |why: &str| Error::invalid_request(format!("request field `{name}`: {why}"));
        match name {
            "order_key" => self.order_key = (!value.is_empty()).then(|| value.to_string()),
            "limit_key" => self.limit_key = (!value.is_empty()).then(|| value.to_string()),
            "flush" => self.flush = parse_bool(value).ok_or_else(|| bad("not true or false"))?,
            "idempotent" => {
                self.idempotent = Some(parse_bool(value).ok_or_else(|| bad("not true or false"))?)
            }
            "timeout_ms" => {
                let ms: u64 = value
                    .trim()
                    .parse()
                    .map_err(|_| bad("not a whole number of milliseconds"))?;
                self.timeout = Some(Duration::from_millis(ms));
            }
            _ => {
                return Err(Error::invalid_request(format!(
                    "unknown request field `{name}` (known: order_key, flush, limit_key, \
                     idempotent, timeout_ms)"
                )))
            }
        }
        Ok(())
    }

    /// What is wrong with this request, if anything (a bad method, header or field): the error
    /// sending it would end with, for callers that want to fail before sending.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URL or path as given.
    pub fn target(&self) -> Cow<'_, str> {
        match &self.target {
            RequestTarget::Text(t) => Cow::Borrowed(t),
            RequestTarget::Uri(u) => Cow::Owned(u.to_string()),
        }
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The order key, if any.
    pub fn get_order_key(&self) -> Option<&str> {
        self.order_key.as_deref()
    }

    /// The limit key, if any.
    pub fn get_limit_key(&self) -> Option<&str> {
        self.limit_key.as_deref()
    }

    /// Whether this is a flush call.
    pub fn is_flush(&self) -> bool {
        self.flush
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn crlf_in_header_value_is_an_invalid_request() {
        let r = Request::get("/x").header("x-a", "b\r\nx-evil: 1");
        let e = r.error.unwrap();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        assert!(e.to_string().contains("x-a"), "{e}");
    }

    #[test]
    fn methods_are_upper_cased() {
        assert_eq!(Request::new("get", "/").method(), Method::GET);
        assert_eq!(Request::new("Delete", "/").method(), Method::DELETE);
        assert_eq!(Request::new("purge", "/").method().as_str(), "PURGE");
    }

    #[test]
    fn bad_method_and_header_name() {
        let r = Request::new("ge t", "/");
        let e = r.error().expect("a bad method is the request's error");
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        assert!(e.to_string().contains("`ge t`"), "{e}");
        assert!(Request::get("/").header("a b", "c").error().is_some());
        assert!(Request::new("get", "/").error().is_none());
    }

    #[test]
    fn string_fields() {
        let mut r = Request::get("/");
        r.set("order_key", "k").unwrap();
        r.set("flush", "true").unwrap();
        r.set("timeout_ms", "250").unwrap();
        assert_eq!(r.get_order_key(), Some("k"));
        assert!(r.is_flush());
        assert_eq!(r.timeout, Some(Duration::from_millis(250)));
        assert!(r.set("nope", "1").unwrap_err().to_string().contains("nope"));
        assert!(r.set("flush", "perhaps").is_err());
        r.set("order_key", "").unwrap();
        assert_eq!(r.get_order_key(), None);
    }
}

/// Where a [`Request`] goes: a full URL (`http://host/path`) or a path joined to one of the
/// client's `hosts`, as text (`&str`, `String`), or a full URL already parsed as an
/// [`http::Uri`]. Text is parsed when the call is submitted; a `Uri` is not parsed again, so a
/// caller sending many calls to one URL can parse it once and clone it (a cheap, shared clone),
/// as with hyper.
#[derive(Clone, Debug)]
pub enum RequestTarget {
    /// A URL or a path, parsed at submission.
    Text(String),
    /// A parsed URL; it must be absolute (`http://` or `https://` with a host).
    Uri(Uri),
}

impl From<&str> for RequestTarget {
    fn from(t: &str) -> RequestTarget {
        RequestTarget::Text(t.to_string())
    }
}

impl From<String> for RequestTarget {
    fn from(t: String) -> RequestTarget {
        RequestTarget::Text(t)
    }
}

impl From<&String> for RequestTarget {
    fn from(t: &String) -> RequestTarget {
        RequestTarget::Text(t.clone())
    }
}

impl From<Cow<'_, str>> for RequestTarget {
    fn from(t: Cow<'_, str>) -> RequestTarget {
        RequestTarget::Text(t.into_owned())
    }
}

impl From<Uri> for RequestTarget {
    fn from(u: Uri) -> RequestTarget {
        RequestTarget::Uri(u)
    }
}

impl From<&Uri> for RequestTarget {
    fn from(u: &Uri) -> RequestTarget {
        RequestTarget::Uri(u.clone())
    }
}
