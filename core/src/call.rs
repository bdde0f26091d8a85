//! A call after validation: where it goes, what it carries, and how each attempt's HTTP request is
//! built from it. Everything that can be wrong with a request is found here, before anything is
//! queued or sent.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderValue, USER_AGENT};
use http::{HeaderMap, Method, Uri};
use http_body_util::Full;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::limit::Admission;
use crate::order::{Gate, Ticket};
use crate::request::Request;

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
        /// `scheme://authority`, as reported in `Response::host` and per-host stats.
        host: String,
    },
    /// A path (and query) joined to a host the balancer picks for each attempt.
    Path(String),
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
    /// The call's place in submission order, taken when it was validated.
    pub(crate) ticket: Ticket,
    /// The call's place at the limiter when it was taken at submission (its order turn had
    /// already come): a slot, a place in the queue, or the queue-full rejection.
    pub(crate) admission: Option<Result<Admission>>,
}

impl Prepared {
    /// Validate `req` and, only if it is valid, take its place in submission order at `gate`.
    pub(crate) fn new(req: Request, config: &Config, gate: &Gate) -> Result<Prepared> {
        if let Some(e) = req.error {
            return Err(e);
        }
        let target = parse_target(&req.target, config)?;
        let idempotent = req.idempotent.unwrap_or(matches!(
            req.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
        ));
        let mut headers = req.headers;
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, DEFAULT_USER_AGENT.clone());
        }
        let ticket = gate.submit(req.order_key.as_deref(), req.flush);
        Ok(Prepared {
            method: req.method,
            target,
            headers,
            body: req.body,
            timeout: req.timeout.or(config.timeout).filter(|t| !t.is_zero()),
            idempotent,
            limit_key: req.limit_key,
            submitted: Instant::now(),
            ticket,
            admission: None,
        })
    }

    /// The HTTP request for one attempt to `base` (a configured host; ignored for full URLs).
    /// The body is shared, not copied.
    pub(crate) fn http_request(
        &self,
        base: &str,
        attempt: u32,
        attempt_header: bool,
    ) -> Result<http::Request<Full<Bytes>>> {
        let uri = match &self.target {
            Target::Url { uri, .. } => uri.clone(),
            Target::Path(path) => {
                let full = format!("{base}{path}");
                full.parse::<Uri>().map_err(|e| {
                    Error::invalid_request(format!("`{full}` is not a valid URL: {e}"))
                })?
            }
        };
        let mut req = http::Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = uri;
        *req.headers_mut() = self.headers.clone();
        if attempt_header {
            req.headers_mut()
                .insert(ATTEMPT_HEADER, HeaderValue::from(attempt));
        }
        Ok(req)
    }
}

fn parse_target(target: &str, config: &Config) -> Result<Target> {
    if target.contains("://") {
        let uri: Uri = target
            .parse()
            .map_err(|e| Error::invalid_request(format!("`{target}` is not a valid URL: {e}")))?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            _ => {
                return Err(Error::invalid_request(format!(
                    "`{target}`: only http:// and https:// URLs are supported"
                )))
            }
        }
        let Some(authority) = uri.authority() else {
            return Err(Error::invalid_request(format!("`{target}` has no host")));
        };
        let host = format!("{}://{}", uri.scheme_str().unwrap_or("http"), authority);
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
    // Check the path once with a placeholder host, so a bad path fails before anything waits.
    format!("http://h{path}")
        .parse::<Uri>()
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
            let err = Prepared::new(Request::get(bad), &c, &Gate::new()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{bad}");
        }
    }

    #[test]
    fn paths_join_hosts_and_keep_prefixes() {
        let c = config("http://a:1/api/");
        let p = Prepared::new(Request::get("v1?x=1"), &c, &Gate::new()).unwrap();
        let r = p.http_request("http://a:1/api", 2, true).unwrap();
        assert_eq!(r.uri(), "http://a:1/api/v1?x=1");
        assert_eq!(r.headers()[ATTEMPT_HEADER], "2");
        assert!(r.headers().contains_key(USER_AGENT));
    }

    #[test]
    fn idempotency_follows_the_method_unless_declared() {
        let c = config("http://a:1");
        assert!(
            Prepared::new(Request::get("/"), &c, &Gate::new())
                .unwrap()
                .idempotent
        );
        assert!(
            Prepared::new(Request::delete("/"), &c, &Gate::new())
                .unwrap()
                .idempotent
        );
        assert!(
            !Prepared::new(Request::post("/"), &c, &Gate::new())
                .unwrap()
                .idempotent
        );
        assert!(
            Prepared::new(Request::post("/").idempotent(true), &c, &Gate::new())
                .unwrap()
                .idempotent
        );
    }
}
