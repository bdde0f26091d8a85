//! What one request asks for, read from its query string.

use std::time::Duration;

use crate::Latency;

/// Chunk size of generated bodies unless `chunk_bytes` says otherwise.
pub(crate) const DEFAULT_CHUNK_BYTES: usize = 16 * 1024;
/// `close_mid_body=1` without `body_bytes` announces this many bytes.
pub(crate) const DEFAULT_CLOSE_MID_BODY_BYTES: u64 = 1000;
const MAX_CHUNK_BYTES: usize = 16 * 1024 * 1024;

/// The per-request overrides; `None` means "use the server's flag".
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Plan {
    pub(crate) latency: Option<Latency>,
    pub(crate) status: Option<u16>,
    pub(crate) error_rate: Option<f64>,
    pub(crate) body_bytes: Option<u64>,
    pub(crate) chunk_bytes: Option<usize>,
    pub(crate) chunked: bool,
    pub(crate) chunk_delay: Duration,
    pub(crate) close_mid_body: bool,
    /// HTTP/1: answer with `connection: close`, so the connection ends after this response.
    pub(crate) close: bool,
    pub(crate) location: Option<String>,
    /// Send the `x-repeat` header this many times, with values `0`, `1`, ...: many headers, and
    /// one name with several values, for clients' header decoding.
    pub(crate) repeat_header: u16,
}

/// At most this many `x-repeat` headers (hyper's clients accept 100 headers by default).
pub(crate) const MAX_REPEAT_HEADER: u16 = 64;

impl Plan {
    /// Reads the known parameters; unknown ones are ignored so tests can add their own (for
    /// example to tell requests apart). A bad value is an error naming the parameter.
    pub(crate) fn from_query(query: &str) -> Result<Plan, String> {
        let mut plan = Plan::default();
        for (name, value) in parse_query(query) {
            let bad =
                |why: &dyn std::fmt::Display| format!("bad query parameter {name}={value}: {why}");
            let int = || value.parse::<u64>().map_err(|_| bad(&"not a whole number"));
            let flag = || match value.as_str() {
                "1" | "true" => Ok(true),
                "0" | "false" => Ok(false),
                _ => Err(bad(&"expected 1 or 0")),
            };
            // When several delay parameters are given, the last one wins.
            match name.as_str() {
                "latency" => plan.latency = Some(value.parse().map_err(|e| bad(&e))?),
                "delay_us" => plan.latency = Some(Latency::Fixed(Duration::from_micros(int()?))),
                "delay_ms" => plan.latency = Some(Latency::Fixed(Duration::from_millis(int()?))),
                "status" => match value.parse::<u16>() {
                    Ok(s @ 200..=999) => plan.status = Some(s),
                    _ => return Err(bad(&"expected a status code from 200 to 999")),
                },
                "error_rate" => match value.parse::<f64>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => plan.error_rate = Some(r),
                    _ => return Err(bad(&"expected a fraction in [0, 1]")),
                },
                "body_bytes" => plan.body_bytes = Some(int()?),
                "chunk_bytes" => match int()? {
                    n @ 1.. if n <= MAX_CHUNK_BYTES as u64 => plan.chunk_bytes = Some(n as usize),
                    _ => return Err(bad(&format!("expected 1 to {MAX_CHUNK_BYTES}"))),
                },
                "chunked" => plan.chunked = flag()?,
                "chunk_delay_us" => plan.chunk_delay = Duration::from_micros(int()?),
                "close_mid_body" => plan.close_mid_body = flag()?,
                "close" => plan.close = flag()?,
                "repeat_header" => match int()? {
                    n if n <= u64::from(MAX_REPEAT_HEADER) => plan.repeat_header = n as u16,
                    _ => return Err(bad(&format!("expected 0 to {MAX_REPEAT_HEADER}"))),
                },
                "location" => {
                    if http::HeaderValue::from_str(&value).is_err() {
                        return Err(bad(&"not a valid header value"));
                    }
                    plan.location = Some(value.clone());
                }
                _ => {}
            }
        }
        Ok(plan)
    }
}

/// Splits `a=1&b=2` into decoded pairs (`+` is a space, as Python's and Go's encoders write it).
pub(crate) fn parse_query(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(name), decode(value))
    })
}

/// Percent-decoding; malformed escapes are kept as written.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_and_plus() {
        let pairs: Vec<_> = parse_query("a=x%3Ay+z&b&&c=%zz%4").collect();
        assert_eq!(
            pairs,
            vec![
                ("a".into(), "x:y z".into()),
                ("b".into(), "".into()),
                ("c".into(), "%zz%4".into())
            ]
        );
    }

    #[test]
    fn reads_every_parameter() {
        let plan = Plan::from_query(
            "latency=tail%3A0.5%3A1%3A2&status=302&error_rate=0.5&body_bytes=10&chunk_bytes=3\
             &chunked=1&chunk_delay_us=7&close_mid_body=true&close=1&location=http%3A%2F%2Fx%2F\
             &repeat_header=3&other=9",
        )
        .unwrap();
        assert_eq!(
            plan,
            Plan {
                latency: Some("tail:0.5:1:2".parse().unwrap()),
                status: Some(302),
                error_rate: Some(0.5),
                body_bytes: Some(10),
                chunk_bytes: Some(3),
                chunked: true,
                chunk_delay: Duration::from_micros(7),
                close_mid_body: true,
                close: true,
                location: Some("http://x/".into()),
                repeat_header: 3,
            }
        );
    }

    #[test]
    fn last_delay_wins() {
        let plan = Plan::from_query("delay_us=5&delay_ms=3").unwrap();
        assert_eq!(plan.latency, Some(Latency::Fixed(Duration::from_millis(3))));
    }

    #[test]
    fn bad_values_name_the_parameter() {
        for (q, name) in [
            ("delay_ms=soon", "delay_ms=soon"),
            ("status=99", "status=99"),
            ("status=abc", "status=abc"),
            ("error_rate=2", "error_rate=2"),
            ("chunk_bytes=0", "chunk_bytes=0"),
            ("chunked=yes", "chunked=yes"),
            ("latency=fixed", "latency=fixed"),
        ] {
            let err = Plan::from_query(q).unwrap_err();
            assert!(err.contains(name), "{err}");
        }
    }
}
