package tailrace

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Config holds a client's options. Each field is one of the options every language shares
// (DESIGN.md), named in CamelCase: HedgePercentile is hedge_percentile. Options named *_ms drop
// the suffix and take a time.Duration (HedgeDelay is hedge_delay_ms).
//
// The zero value of every field means the option's default, so only the fields you set reach
// the library. Where the library gives 0 a meaning of its own that differs from the default
// (no deadline, reject at once, never, a zero hedge budget), ask for it with a negative value:
// Timeout: -1 means timeout_ms 0, "no deadline"; MaxQueue: -1 means max_queue 0, "reject at once
// when every slot is busy"; HedgeMaxExtraLoad: -1 means hedge_max_extra_load 0. Any option can
// also be set by name with Set, which is applied after the fields.
type Config struct {
	// Hosts are base URLs ("http://10.0.0.1:8080") a request with a relative path is sent to.
	Hosts []string
	// Balance chooses the host for each attempt: "round_robin" (default), "random" or "p2c".
	Balance string

	// ConcurrentCalls is the most attempts per call, 1 to 10 (default 1: no hedging).
	ConcurrentCalls int
	// HedgeDelay is the delay before the next attempt (default 0: all attempts start at once).
	// It is sent in whole microseconds, rounded up: a positive delay never becomes 0.
	HedgeDelay time.Duration
	// HedgePercentile adapts the hedge delay to this percentile of recent latency, e.g. 95.
	HedgePercentile float64
	// HedgeMaxExtraLoad caps extra attempts as a fraction of calls, e.g. 0.05 (default 1: one
	// extra attempt per call; -1: hedge_max_extra_load 0, no extra load beyond the budget's small
	// floor of hedges per second; cfg.Set("hedge_max_extra_load", "") for no cap, as KrakenD).
	HedgeMaxExtraLoad float64
	// RetryOnStatus is the statuses that count as a failed attempt, e.g. "502,503,504"
	// (default "5xx").
	RetryOnStatus string
	// AttemptHeader sends x-tailrace-attempt: i with each attempt when hedging (ConcurrentCalls
	// > 1; default true; set it to a pointer to false to turn the header off).
	AttemptHeader *bool
	// EjectAfter ejects a host after this many consecutive failed attempts (default 5; -1: never).
	EjectAfter int
	// Eject is how long an ejected host is left out (eject_ms, default 10 s).
	Eject time.Duration

	// MaxCount is the most attempts in flight per limit key: a call's first attempt and each
	// hedge take a slot (default 0: unlimited).
	MaxCount int
	// MaxQueue is the most calls waiting for a slot per limit key (default: unlimited; -1: none,
	// reject at once when every slot is busy). Needs MaxCount.
	MaxQueue int
	// QueueTimeout is how long a call may wait for a limiter slot (default: until Timeout).
	QueueTimeout time.Duration

	// Timeout is the deadline of the whole call, waits included (default 30 s; -1: none).
	Timeout time.Duration
	// AttemptTimeout is the deadline of one attempt (default: none).
	AttemptTimeout time.Duration
	// ConnectTimeout is the deadline of TCP connect plus TLS handshake (default 5 s; -1: none).
	ConnectTimeout time.Duration
	// MaxResponseBytes: larger response bodies fail with ErrResponseTooLarge (default 64 MiB).
	MaxResponseBytes int64

	// CAFile is a PEM file of CA certificates trusted in addition to the system's.
	CAFile string
	// HTTP2 is "auto" (default: HTTP/2 when TLS ALPN agrees) or "never".
	HTTP2 string
	// HTTP2PriorKnowledge speaks HTTP/2 without negotiation, also over plain TCP (h2c).
	HTTP2PriorKnowledge bool
	// PoolMaxIdlePerHost is the most idle keep-alive connections per host (default 1024; -1: 0).
	PoolMaxIdlePerHost int
	// PoolIdleTimeout closes keep-alive connections idle longer than this (default 90 s; -1:
	// never).
	PoolIdleTimeout time.Duration

	// extra holds Set's options, in the order they were set.
	extra []option
}

type option struct{ name, value string }

// Set sets any option by its name ("max_count") from its string form ("64"), the same names
// and forms as C's tailrace_config_set and the Rust builder's set. The option is checked now:
// an unknown name or a bad value returns an *Error matching ErrInvalidOption that names it.
// Options set this way are applied after the typed fields, so they win over them.
func (c *Config) Set(name, value string) error {
	if err := checkOptionString(name, value); err != nil {
		return err
	}
	if err := capiCheckOption(name, value); err != nil {
		return err
	}
	// A full slice expression: copies of one Config must not share where their next option goes.
	c.extra = append(c.extra[:len(c.extra):len(c.extra)], option{name, value})
	return nil
}

// options is the config as the library's (name, value) strings: the fields that are not zero,
// then Set's options.
func (c *Config) options() []option {
	var out []option
	add := func(name, value string) { out = append(out, option{name, value}) }
	if len(c.Hosts) > 0 {
		add("hosts", strings.Join(c.Hosts, ","))
	}
	if c.Balance != "" {
		add("balance", c.Balance)
	}
	if c.ConcurrentCalls != 0 {
		add("concurrent_calls", strconv.Itoa(c.ConcurrentCalls))
	}
	if c.HedgeDelay != 0 {
		add("hedge_delay_ms", fractionalMs(c.HedgeDelay))
	}
	if c.HedgePercentile != 0 {
		add("hedge_percentile", formatFloat(c.HedgePercentile))
	}
	if c.HedgeMaxExtraLoad != 0 {
		add("hedge_max_extra_load", floatOrOff(c.HedgeMaxExtraLoad))
	}
	if c.RetryOnStatus != "" {
		add("retry_on_status", c.RetryOnStatus)
	}
	if c.AttemptHeader != nil {
		add("attempt_header", strconv.FormatBool(*c.AttemptHeader))
	}
	if c.EjectAfter != 0 {
		add("eject_after", intOrOff(c.EjectAfter))
	}
	if c.Eject != 0 {
		add("eject_ms", wholeMs(c.Eject))
	}
	if c.MaxCount != 0 {
		add("max_count", intOrOff(c.MaxCount))
	}
	if c.MaxQueue != 0 {
		add("max_queue", intOrOff(c.MaxQueue))
	}
	if c.QueueTimeout != 0 {
		add("queue_timeout_ms", wholeMs(c.QueueTimeout))
	}
	if c.Timeout != 0 {
		add("timeout_ms", wholeMs(c.Timeout))
	}
	if c.AttemptTimeout != 0 {
		add("attempt_timeout_ms", wholeMs(c.AttemptTimeout))
	}
	if c.ConnectTimeout != 0 {
		add("connect_timeout_ms", wholeMs(c.ConnectTimeout))
	}
	if c.MaxResponseBytes != 0 {
		add("max_response_bytes", strconv.FormatInt(c.MaxResponseBytes, 10))
	}
	if c.CAFile != "" {
		add("ca_file", c.CAFile)
	}
	if c.HTTP2 != "" {
		add("http2", c.HTTP2)
	}
	if c.HTTP2PriorKnowledge {
		add("http2_prior_knowledge", "true")
	}
	if c.PoolMaxIdlePerHost != 0 {
		add("pool_max_idle_per_host", intOrOff(c.PoolMaxIdlePerHost))
	}
	if c.PoolIdleTimeout != 0 {
		add("pool_idle_timeout_ms", wholeMs(c.PoolIdleTimeout))
	}
	return append(out, c.extra...)
}

// intOrOff: a negative value asks for the option's own 0.
func intOrOff(n int) string {
	if n < 0 {
		return "0"
	}
	return strconv.Itoa(n)
}

// wholeMs rounds a positive duration up to whole milliseconds (a 1 µs deadline must not become
// "none"); a negative one asks for the option's own 0.
func wholeMs(d time.Duration) string {
	if d < 0 {
		return "0"
	}
	return strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10)
}

// fractionalMs is d in milliseconds with microsecond precision (hedge_delay_ms takes fractions),
// rounded up to whole microseconds so that a positive delay never becomes "0" (all attempts at
// once); a negative one asks for the option's own 0.
func fractionalMs(d time.Duration) string {
	if d < 0 {
		return "0"
	}
	us := int64(d / time.Microsecond)
	if d%time.Microsecond != 0 {
		us++
	}
	return strconv.FormatFloat(float64(us)/1000, 'f', -1, 64)
}

// floatOrOff: a negative value asks for the option's own 0.
func floatOrOff(f float64) string {
	if f < 0 {
		return "0"
	}
	return formatFloat(f)
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// checkOptionString catches what cannot cross into C as a string, naming the option.
func checkOptionString(name, value string) error {
	if !utf8.ValidString(name) || strings.IndexByte(name, 0) >= 0 {
		return newError(CodeInvalidOption, "option name %q is not valid UTF-8 text without NUL bytes", name)
	}
	if !utf8.ValidString(value) {
		return newError(CodeInvalidOption, "option `%s`: value %q is not valid UTF-8", name, value)
	}
	if strings.IndexByte(value, 0) >= 0 {
		return newError(CodeInvalidOption, "option `%s`: value %q contains a NUL byte", name, value)
	}
	return nil
}
