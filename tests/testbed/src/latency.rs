//! Latency distributions: how long the testbed waits before it sends a response head.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Samples above this are clamped, so a wide lognormal cannot put a request to sleep for days.
const MAX_SAMPLE: Duration = Duration::from_secs(3600);

/// A latency distribution, written on the command line and in `latency=` as a spec string:
/// `fixed:US`, `tail:P_SLOW:FAST_US:SLOW_US` or `lognormal:MEDIAN_US:SIGMA` (times in µs).
#[derive(Debug, Clone, PartialEq)]
pub enum Latency {
    /// Always the same delay (`fixed:US`).
    Fixed(Duration),
    /// A long tail: `slow` with probability `p_slow`, otherwise `fast`
    /// (`tail:P_SLOW:FAST_US:SLOW_US`).
    Tail {
        /// Probability in `[0, 1]` that a request is slow.
        p_slow: f64,
        /// Delay of a fast request.
        fast: Duration,
        /// Delay of a slow request.
        slow: Duration,
    },
    /// `median · exp(sigma · z)` with `z` standard normal (`lognormal:MEDIAN_US:SIGMA`).
    LogNormal {
        /// The median delay.
        median: Duration,
        /// Spread of the underlying normal distribution, `>= 0`.
        sigma: f64,
    },
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Fixed(Duration::ZERO)
    }
}

impl Latency {
    /// Draws one delay.
    pub fn sample(&self) -> Duration {
        match *self {
            Latency::Fixed(d) => d,
            Latency::Tail { p_slow, fast, slow } => {
                if fastrand::f64() < p_slow {
                    slow
                } else {
                    fast
                }
            }
            Latency::LogNormal { median, sigma } => {
                let secs = median.as_secs_f64() * (sigma * standard_normal()).exp();
                Duration::try_from_secs_f64(secs).map_or(MAX_SAMPLE, |d| d.min(MAX_SAMPLE))
            }
        }
    }

    /// True when every sample is zero, so the server can skip the sleep (and the yield) entirely.
    pub fn is_zero(&self) -> bool {
        match *self {
            Latency::Fixed(d) => d.is_zero(),
            Latency::Tail { p_slow, fast, slow } => {
                fast.is_zero() && (slow.is_zero() || p_slow <= 0.0)
            }
            Latency::LogNormal { median, .. } => median.is_zero(),
        }
    }
}

/// Box–Muller; `1 - f64()` keeps the logarithm's argument in `(0, 1]`.
fn standard_normal() -> f64 {
    let u1 = 1.0 - fastrand::f64();
    let u2 = fastrand::f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Why a latency spec was rejected; the message names the part at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencySpecError {
    message: String,
}

impl fmt::Display for LatencySpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LatencySpecError {}

const FORMS: &str = "expected fixed:US, tail:P_SLOW:FAST_US:SLOW_US or lognormal:MEDIAN_US:SIGMA";

impl FromStr for Latency {
    type Err = LatencySpecError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let err = |what: String| LatencySpecError {
            message: format!("latency spec {spec:?}: {what}"),
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let want = |n: usize, form: &str| {
            if parts.len() == n {
                Ok(())
            } else {
                Err(err(format!(
                    "{} takes {} field(s) ({form}), got {}",
                    parts[0],
                    n - 1,
                    parts.len() - 1
                )))
            }
        };
        let micros = |name: &str, s: &str| {
            s.parse::<u64>().map(Duration::from_micros).map_err(|_| {
                err(format!(
                    "{name} {s:?} is not a whole number of microseconds"
                ))
            })
        };
        let number = |name: &str, s: &str| match s.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(err(format!("{name} {s:?} is not a number"))),
        };
        match parts[0] {
            "fixed" => {
                want(2, "fixed:US")?;
                Ok(Latency::Fixed(micros("US", parts[1])?))
            }
            "tail" => {
                want(4, "tail:P_SLOW:FAST_US:SLOW_US")?;
                let p_slow = number("P_SLOW", parts[1])?;
                if !(0.0..=1.0).contains(&p_slow) {
                    return Err(err(format!("P_SLOW {p_slow} is not in [0, 1]")));
                }
                Ok(Latency::Tail {
                    p_slow,
                    fast: micros("FAST_US", parts[2])?,
                    slow: micros("SLOW_US", parts[3])?,
                })
            }
            "lognormal" => {
                want(3, "lognormal:MEDIAN_US:SIGMA")?;
                let median = micros("MEDIAN_US", parts[1])?;
                let sigma = number("SIGMA", parts[2])?;
                if sigma < 0.0 {
                    return Err(err(format!("SIGMA {sigma} is negative")));
                }
                Ok(Latency::LogNormal { median, sigma })
            }
            kind => Err(err(format!("unknown kind {kind:?}; {FORMS}"))),
        }
    }
}

/// Writes the spec form back, so `to_string().parse()` round-trips.
impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Latency::Fixed(d) => write!(f, "fixed:{}", d.as_micros()),
            Latency::Tail { p_slow, fast, slow } => {
                write!(f, "tail:{p_slow}:{}:{}", fast.as_micros(), slow.as_micros())
            }
            Latency::LogNormal { median, sigma } => {
                write!(f, "lognormal:{}:{sigma}", median.as_micros())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn parses_each_form() {
        assert_eq!("fixed:250".parse(), Ok(Latency::Fixed(us(250))));
        assert_eq!(
            "tail:0.01:100:50000".parse(),
            Ok(Latency::Tail {
                p_slow: 0.01,
                fast: us(100),
                slow: us(50_000)
            })
        );
        assert_eq!(
            "lognormal:1000:0.5".parse(),
            Ok(Latency::LogNormal {
                median: us(1000),
                sigma: 0.5
            })
        );
    }

    #[test]
    fn display_round_trips() {
        for spec in ["fixed:0", "tail:0.25:10:20", "lognormal:1000:0.5"] {
            let parsed: Latency = spec.parse().unwrap();
            assert_eq!(parsed.to_string(), spec);
        }
    }

    #[test]
    fn errors_name_the_bad_part() {
        let msg = |s: &str| s.parse::<Latency>().unwrap_err().to_string();
        assert!(msg("gauss:1").contains("unknown kind \"gauss\""));
        assert!(msg("fixed:abc").contains("US \"abc\""));
        assert!(msg("fixed:-5").contains("US \"-5\""));
        assert!(msg("fixed").contains("takes 1 field(s)"));
        assert!(msg("tail:1.5:1:2").contains("P_SLOW 1.5"));
        assert!(msg("tail:x:1:2").contains("P_SLOW \"x\""));
        assert!(msg("tail:0.1:1").contains("takes 3 field(s)"));
        assert!(msg("tail:0.1:1:y").contains("SLOW_US \"y\""));
        assert!(msg("lognormal:100:-1").contains("SIGMA -1"));
        assert!(msg("lognormal:100:nan").contains("SIGMA \"nan\""));
        assert!(msg("").contains("unknown kind"));
    }

    #[test]
    fn samples_stay_in_their_distribution() {
        let tail = Latency::Tail {
            p_slow: 0.5,
            fast: us(1),
            slow: us(2),
        };
        let draws: Vec<Duration> = (0..1000).map(|_| tail.sample()).collect();
        assert!(draws.iter().all(|d| *d == us(1) || *d == us(2)));
        assert!(draws.contains(&us(1)) && draws.contains(&us(2)));

        let ln = Latency::LogNormal {
            median: us(1000),
            sigma: 0.5,
        };
        let mut draws: Vec<Duration> = (0..4001).map(|_| ln.sample()).collect();
        draws.sort();
        let median = draws[2000].as_micros() as f64;
        assert!((800.0..1250.0).contains(&median), "median {median}");
    }

    #[test]
    fn zero_latency_is_detected() {
        assert!(Latency::default().is_zero());
        assert!("tail:0:0:500".parse::<Latency>().unwrap().is_zero());
        assert!(!"tail:0.1:0:500".parse::<Latency>().unwrap().is_zero());
        assert!(!"fixed:1".parse::<Latency>().unwrap().is_zero());
    }
}
