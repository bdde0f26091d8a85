//! A call after validation: where it goes, what it carries, and how each attempt's HTTP request is
//! built from it. Everything that can be wrong with a request is found here, before anything is
//! queued or sent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderValue, USER_AGENT};
use http::uri::PathAndQuery;
use http::{HeaderMap, Method, Uri};
use http_body_util::Full;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::fnv::with_host_key;
use crate::limit::Admission;
use crate::order::{Gate, Ticket};
use crate::request::{Request, RequestTarget};
use crate::stats::{HostStats, Recorder};

/// Header carrying the attempt index, so servers can tell hedges apart.
pub(crate) const ATTEMPT_HEADER: &str = "x-tailrace-attempt";

static DEFAULT_USER_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("tailrace/", env!("CARGO_PKG_VERSION")));

/// Where a call goes.
#[derive(Debug)]
pub(crate) enum Target {
    /// A full URL: every attempt goes to its host.
    Url {
        uri: Uri,
        /// The numbers of `scheme://authority` (also what `Response::host` reports), looked up
        /// once at submission rather than per attempt.
        host: Arc<HostStats>,
    },
    /// A path (and query), parsed at submission, joined to a host the balancer picks for each
    /// attempt.
    Path(PathAndQuery),
}

/// A validated call.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) method: Method,
    pub(crate) target: Target,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) timeout: Option<Duration>,
    /// May this call be sent more than once?
    pub(crate) idempotent: bool,
    pub(crate) limit_key: Option<String>,
    pub(crate) submitted: Instant,
    /// The call's place at the limiter when it was taken at submission (its order turn had
    /// already come): a slot, a place in the queue, or the queue-full rejection. Declared before
    /// `ticket`, so a call dropped before it ran frees its slot before the next call in its
    /// order key (fields drop in order) is woken to take one.
    pub(crate) admission: Option<Result<Admission>>,
    /// The call's place in submission order, taken when it was validated.
    pub(crate) ticket: Ticket,
}

impl Prepared {
    /// Validate `req` and, only if it is valid, take its place in submission order at `gate`.
    pub(crate) fn new(
        req: Request,
        config: &Config,
        gate: &Gate,
        recorder: &Recorder,
    ) -> Result<Prepared> {
        if let Some(e) = req.error {
            return Err(e);
        }
        let target = match req.target {
            RequestTarget::Text(text) => parse_target(&text, config, recorder)?,
            RequestTarget::Uri(uri) => {
                let host = url_host(&uri, &uri, recorder)?;
                Target::Url { uri, host }
            }
        };
        let idempotent = req.idempotent.unwrap_or(matches!(
            req.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
        ));
        let ticket = gate.submit(req.order_key, req.flush);
        Ok(Prepared {
            method: req.method,
            target,
            headers: req.headers,
            body: req.body,
            timeout: req.timeout.or(config.timeout).filter(|t| !t.is_zero()),
            idempotent,
            limit_key: req.limit_key,
            submitted: Instant::now(),
            ticket,
            admission: None,
        })
    }

    /// The HTTP request for attempt number `attempt` to `base` (a configured host; ignored for
    /// full URLs). The body is shared, not copied; the headers are copied, since other attempts
    /// may need them.
    pub(crate) fn http_request(
        &self,
        base: &HostStats,
        attempt: u32,
        attempt_header: bool,
    ) -> Result<http::Request<Full<Bytes>>> {
        let uri = match &self.target {
            Target::Url { uri, .. } => uri.clone(),
            Target::Path(path) => join(base, path.clone())?,
        };
        Ok(self.build(uri, self.headers.clone(), attempt, attempt_header))
    }

    /// The HTTP request of a call's only attempt (number 0): the URL and headers are moved into
    /// it, not copied. Later calls to `http_request` would see them gone, so a call that may
    /// send a second attempt must not use this.
    pub(crate) fn take_http_request(
        &mut self,
        base: &HostStats,
        attempt_header: bool,
    ) -> Result<http::Request<Full<Bytes>>> {
        let uri = match &mut self.target {
            Target::Url { uri, .. } => std::mem::take(uri),
            Target::Path(path) => join(
                base,
                std::mem::replace(path, PathAndQuery::from_static("/")),
            )?,
        };
        let headers = std::mem::take(&mut self.headers);
        Ok(self.build(uri, headers, 0, attempt_header))
    }

    fn build(
        &self,
        uri: Uri,
        mut headers: HeaderMap,
        attempt: u32,
        attempt_header: bool,
    ) -> http::Request<Full<Bytes>> {
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, DEFAULT_USER_AGENT.clone());
        }
        if attempt_header {
            headers.insert(ATTEMPT_HEADER, HeaderValue::from(attempt));
        }
        let mut req = http::Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        req
    }
}

/// The numbers of a full URL's host, `scheme://authority`; an error for a URL tailrace cannot
/// send to. `shown` is the URL as the caller wrote it, for messages.
fn url_host(
    uri: &Uri,
    shown: &dyn std::fmt::Display,
    recorder: &Recorder,
) -> Result<Arc<HostStats>> {
    let scheme = match uri.scheme_str() {
        Some(s @ ("http" | "https")) => s,
        Some(_) => {
            return Err(Error::invalid_request(format!(
                "`{shown}`: only http:// and https:// URLs are supported"
            )))
        }
        None => {
            return Err(Error::invalid_request(format!(
                "`{shown}` is not a full URL (http:// or https://)"
            )))
        }
    };
    let Some(authority) = uri.authority() else {
        return Err(Error::invalid_request(format!("`{shown}` has no host")));
    };
    Ok(with_host_key(scheme, authority.as_str(), |key| {
        recorder.host(key)
    }))
}

/// `base` (a configured host, maybe with a path prefix) joined with `path`. A host without a
/// prefix (the usual case) has its scheme and authority parsed already: the URL is assembled from
/// the parsed parts, with no string built and nothing parsed again per attempt.
fn join(base: &HostStats, path: PathAndQuery) -> Result<Uri> {
    if let Some(origin) = &base.origin {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(origin.scheme.clone());
        parts.authority = Some(origin.authority.clone());
        parts.path_and_query = Some(path);
        return Uri::from_parts(parts).map_err(|e| {
            Error::invalid_request(format!("`{}` is not a valid URL: {e}", base.url))
        });
    }
    let full = format!("{}{path}", base.url);
    Uri::try_from(full.as_str())
        .map_err(|e| Error::invalid_request(format!("`{full}` is not a valid URL: {e}")))
}

fn parse_target(target: &str, config: &Config, recorder: &Recorder) -> Result<Target> {
    if target.contains("://") {
        let uri: Uri = target
            .parse()
            .map_err(|e| Error::invalid_request(format!("`{target}` is not a valid URL: {e}")))?;
        let host = url_host(&uri, &target, recorder)?;
        return Ok(Target::Url { uri, host });
    }
    if target.is_empty() {
        return Err(Error::invalid_request("the URL is empty"));
    }
    if config.hosts.is_empty() {
        return Err(Error::invalid_request(format!(
            "`{target}` is a path, not a URL, and the client has no `hosts` to send it to \
             (set the `hosts` option or pass a full http:// URL)"
        )));
    }
    let path = if target.starts_with('/') {
        target.to_string()
    } else {
        format!("/{target}")
    };
    // Parsed once, so a bad path fails before anything waits.
    let path = PathAndQuery::try_from(path)
        .map_err(|e| Error::invalid_request(format!("`{target}` is not a valid path: {e}")))?;
    Ok(Target::Path(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn config(hosts: &str) -> Config {
        let mut c = Config::default();
        c.set("hosts", hosts).unwrap();
        c
    }

    #[test]
    fn malformed_urls_are_invalid_requests() {
        let c = config("");
        for bad in [
            "http://",
            "ftp://x/y",
            "http://exa mple.com/",
            "",
            "/path-without-hosts",
        ] {
            let err =
                Prepared::new(Request::get(bad), &c, &Gate::new(), &Recorder::new()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{bad}");
        }
    }

    #[test]
    fn parsed_uris_need_an_http_scheme_and_a_host() {
        let c = config("http://a:1");
        for bad in ["/relative", "ftp://x/y", "a:1"] {
            let uri: Uri = bad.parse().unwrap();
            let err =
                Prepared::new(Request::get(uri), &c, &Gate::new(), &Recorder::new()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{bad}");
            assert!(err.to_string().contains(bad), "{err}");
        }
        let uri: Uri = "https://b:2/x?y=1".parse().unwrap();
        let p = Prepared::new(Request::get(&uri), &c, &Gate::new(), &Recorder::new()).unwrap();
        let Target::Url { uri: got, host } = &p.target else {
            panic!("a full URL")
        };
        assert_eq!((got, &*host.url), (&uri, "https://b:2"));
    }

    #[test]
    fn paths_join_hosts_and_keep_prefixes() {
        let c = config("http://a:1/api/");
        let p = Prepared::new(Request::get("v1?x=1"), &c, &Gate::new(), &Recorder::new()).unwrap();
        let r = p
            .http_request(&HostStats::new("http://a:1/api"), 2, true)
            .unwrap();
        assert_eq!(r.uri(), "http://a:1/api/v1?x=1");
        assert_eq!(r.headers()[ATTEMPT_HEADER], "2");
        assert!(r.headers().contains_key(USER_AGENT));
    }

    #[test]
    fn paths_join_a_host_without_prefix_from_its_parsed_parts() {
        let c = config("http://a:1");
        let host = HostStats::new("http://a:1");
        assert!(host.origin.is_some());
        assert!(HostStats::new("http://a:1/api").origin.is_none());
        let mut p =
            Prepared::new(Request::get("v1?x=1"), &c, &Gate::new(), &Recorder::new()).unwrap();
        let r = p.http_request(&host, 1, false).unwrap();
        assert_eq!(r.uri(), "http://a:1/v1?x=1");
        let r = p.take_http_request(&host, false).unwrap();
        assert_eq!(r.uri(), "http://a:1/v1?x=1");
    }

    #[test]
    fn idempotency_follows_the_method_unless_declared() {
        let c = config("http://a:1");
        assert!(
            Prepared::new(Request::get("/"), &c, &Gate::new(), &Recorder::new())
                .unwrap()
                .idempotent
        );
        for method in ["DELETE", "HEAD", "OPTIONS", "PUT"] {
            assert!(
                Prepared::new(
                    Request::new(method, "/"),
                    &c,
                    &Gate::new(),
                    &Recorder::new()
                )
                .unwrap()
                .idempotent,
                "{method}"
            );
        }
        assert!(
            !Prepared::new(Request::post("/"), &c, &Gate::new(), &Recorder::new())
                .unwrap()
                .idempotent
        );
        assert!(
            Prepared::new(
                Request::post("/").idempotent(true),
                &c,
                &Gate::new(),
                &Recorder::new()
            )
            .unwrap()
            .idempotent
        );
    }
}
