package tailrace

import (
	"fmt"
	"strings"
)

// Code is a tailrace result code: the numbers of the C API's tailrace_result, fixed forever.
// Codes 1 to 15 are the error kinds every language shares (DESIGN.md, "Errors").
type Code int

// The error kinds. Their numbers equal the C API's TAILRACE_E_* codes.
const (
	CodeInvalidOption     Code = 1
	CodeInvalidRequest    Code = 2
	CodeConnect           Code = 3
	CodeTLS               Code = 4
	CodeTimeout           Code = 5
	CodeProtocol          Code = 6
	CodeResponseTooLarge  Code = 7
	CodeLimitQueueFull    Code = 8
	CodeLimitTimeout      Code = 9
	CodeAllAttemptsFailed Code = 10
	CodeHTTPStatus        Code = 11
	CodeCancelled         Code = 12
	CodeClientClosed      Code = 13
	CodeWouldDeadlock     Code = 14
	CodeInternal          Code = 15
	// Codes from 100 are about how the C API was used; the Go package checks its inputs itself,
	// so they only show up (as an *Error) if the two disagree.
	CodeNullArgument  Code = 100
	CodeInvalidUTF8   Code = 101
	CodeInvalidLength Code = 102
	CodeNotFound      Code = 103
	CodeUnknownCall   Code = 104
	CodeDuplicateID   Code = 105
	CodePanic         Code = 106
)

var codeNames = map[Code]string{
	CodeInvalidOption:     "invalid_option",
	CodeInvalidRequest:    "invalid_request",
	CodeConnect:           "connect",
	CodeTLS:               "tls",
	CodeTimeout:           "timeout",
	CodeProtocol:          "protocol",
	CodeResponseTooLarge:  "response_too_large",
	CodeLimitQueueFull:    "limit_queue_full",
	CodeLimitTimeout:      "limit_timeout",
	CodeAllAttemptsFailed: "all_attempts_failed",
	CodeHTTPStatus:        "http_status",
	CodeCancelled:         "cancelled",
	CodeClientClosed:      "client_closed",
	CodeWouldDeadlock:     "would_deadlock",
	CodeInternal:          "internal",
	CodeNullArgument:      "null_argument",
	CodeInvalidUTF8:       "invalid_utf8",
	CodeInvalidLength:     "invalid_length",
	CodeNotFound:          "not_found",
	CodeUnknownCall:       "unknown_call",
	CodeDuplicateID:       "duplicate_id",
	CodePanic:             "panic",
}

// String is the code's snake_case name, the same in every language ("limit_queue_full"); it is
// the key of the stats "errors" map and of scenario files' outcomes.
func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("unknown(%d)", int(c))
}

// Sentinel errors, one per error kind, for errors.Is. Every error this package returns for a
// failed call is an *Error (or an *AllAttemptsFailedError wrapping one) that matches exactly one
// of them.
var (
	ErrInvalidOption     = &sentinel{CodeInvalidOption}     // unknown option name or bad value; nothing sent
	ErrInvalidRequest    = &sentinel{CodeInvalidRequest}    // bad URL, method, header, field; nothing sent
	ErrConnect           = &sentinel{CodeConnect}           // TCP connect failed; nothing sent
	ErrTLS               = &sentinel{CodeTLS}               // TLS handshake or certificate failed; nothing sent
	ErrTimeout           = &sentinel{CodeTimeout}           // a deadline passed (Error.Timeout says which)
	ErrProtocol          = &sentinel{CodeProtocol}          // the connection broke after it was made
	ErrResponseTooLarge  = &sentinel{CodeResponseTooLarge}  // body over MaxResponseBytes
	ErrLimitQueueFull    = &sentinel{CodeLimitQueueFull}    // limiter queue full; nothing sent
	ErrLimitTimeout      = &sentinel{CodeLimitTimeout}      // waited in the limiter queue too long; nothing sent
	ErrAllAttemptsFailed = &sentinel{CodeAllAttemptsFailed} // every attempt failed (*AllAttemptsFailedError)
	ErrHTTPStatus        = &sentinel{CodeHTTPStatus}        // an answer in the failure set (an attempt's cause)
	ErrCancelled         = &sentinel{CodeCancelled}         // cancelled (by the call's context)
	ErrClosed            = &sentinel{CodeClientClosed}      // the client was closed
	ErrWouldDeadlock     = &sentinel{CodeWouldDeadlock}     // a blocking call on a runtime thread
	ErrInternal          = &sentinel{CodeInternal}          // a bug inside tailrace
)

type sentinel struct{ code Code }

func (s *sentinel) Error() string { return "tailrace: " + s.code.String() }

func sentinelFor(c Code) error {
	switch c {
	case CodeInvalidOption:
		return ErrInvalidOption
	case CodeInvalidRequest, CodeInvalidUTF8, CodeNullArgument, CodeInvalidLength:
		// Bad input that reached the C API: still a bad request from the caller's view.
		return ErrInvalidRequest
	case CodeConnect:
		return ErrConnect
	case CodeTLS:
		return ErrTLS
	case CodeTimeout:
		return ErrTimeout
	case CodeProtocol:
		return ErrProtocol
	case CodeResponseTooLarge:
		return ErrResponseTooLarge
	case CodeLimitQueueFull:
		return ErrLimitQueueFull
	case CodeLimitTimeout:
		return ErrLimitTimeout
	case CodeAllAttemptsFailed:
		return ErrAllAttemptsFailed
	case CodeHTTPStatus:
		return ErrHTTPStatus
	case CodeCancelled:
		return ErrCancelled
	case CodeClientClosed:
		return ErrClosed
	case CodeWouldDeadlock:
		return ErrWouldDeadlock
	default:
		return ErrInternal
	}
}

// TimeoutKind says which deadline passed, for CodeTimeout.
type TimeoutKind int

const (
	TimeoutNone    TimeoutKind = 0 // not a timeout
	TimeoutConnect TimeoutKind = 1 // ConnectTimeout: TCP connect plus TLS handshake
	TimeoutAttempt TimeoutKind = 2 // AttemptTimeout: one attempt
	TimeoutCall    TimeoutKind = 3 // Timeout: the whole call, waits included
)

func (t TimeoutKind) String() string {
	switch t {
	case TimeoutConnect:
		return "connect"
	case TimeoutAttempt:
		return "attempt"
	case TimeoutCall:
		return "call"
	default:
		return "none"
	}
}

// Sent says whether the backend may have seen a failed call's request. SentNo means a retry
// cannot duplicate work at the backend.
type Sent int

const (
	SentNo    Sent = 0 // nothing reached the backend
	SentMaybe Sent = 1 // the request may have reached the backend
	SentYes   Sent = 2 // the backend answered
)

func (s Sent) String() string {
	switch s {
	case SentNo:
		return "no"
	case SentYes:
		return "yes"
	default:
		return "maybe"
	}
}

// Error is why a call (or a setting) failed: its code, a message naming the cause, and what the
// C API knows about it. errors.Is(err, ErrX) matches the sentinel of its code; a call ended by
// its context also matches ctx.Err() (context.Canceled or context.DeadlineExceeded).
type Error struct {
	Code    Code
	Message string      // names the option, header, host or deadline at fault
	Timeout TimeoutKind // which deadline passed, for CodeTimeout
	Sent    Sent        // whether the backend may have seen the request
	Status  int         // the HTTP status, when an answer's status was the failure
	ctxErr  error       // the context's error when the context ended the call
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "tailrace: " + e.Code.String()
	}
	return "tailrace: " + e.Code.String() + ": " + e.Message
}

// Is matches the sentinel of the error's code.
func (e *Error) Is(target error) bool { return target == sentinelFor(e.Code) }

// Unwrap gives the context's error when the context ended the call.
func (e *Error) Unwrap() error { return e.ctxErr }

// AttemptError is one failed attempt of a call: where it went and why it failed. Err is an
// *Error, so errors.Is(a.Err, ErrTimeout) and the like work on it.
type AttemptError struct {
	Attempt int    // which attempt: 0 is the first one sent
	Host    string // base URL the attempt went to
	Err     *Error // its cause, with Code, Message, Timeout, Sent and Status
}

// AllAttemptsFailedError is returned when every attempt of a call failed. It wraps the call's
// *Error (code CodeAllAttemptsFailed: errors.Is(err, ErrAllAttemptsFailed) holds, and errors.As
// finds the *Error) and lists each attempt's number, host and cause, in the order they failed.
type AllAttemptsFailedError struct {
	Call     *Error
	Attempts []AttemptError
}

// Error is the call's message, which already names each attempt's host and cause.
func (e *AllAttemptsFailedError) Error() string { return e.Call.Error() }

// Unwrap gives the call's *Error.
func (e *AllAttemptsFailedError) Unwrap() error { return e.Call }

// newError is the package's own *Error for bad input caught before anything crosses into C.
func newError(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Sent: SentNo}
}

// optionFields maps each option the library's messages may name (in backquotes, e.g. "raise
// `timeout_ms`") to what a Go program sets instead.
var optionFields = map[string]string{
	"hosts":                  "Config.Hosts",
	"balance":                "Config.Balance",
	"concurrent_calls":       "Config.ConcurrentCalls",
	"hedge_delay_ms":         "Config.HedgeDelay",
	"hedge_percentile":       "Config.HedgePercentile",
	"hedge_max_extra_load":   "Config.HedgeMaxExtraLoad",
	"retry_on_status":        "Config.RetryOnStatus",
	"attempt_header":         "Config.AttemptHeader",
	"eject_after":            "Config.EjectAfter",
	"eject_ms":               "Config.Eject",
	"max_count":              "Config.MaxCount",
	"max_queue":              "Config.MaxQueue",
	"queue_timeout_ms":       "Config.QueueTimeout",
	"timeout_ms":             "Config.Timeout or Request.Timeout",
	"attempt_timeout_ms":     "Config.AttemptTimeout",
	"connect_timeout_ms":     "Config.ConnectTimeout",
	"max_response_bytes":     "Config.MaxResponseBytes",
	"ca_file":                "Config.CAFile",
	"http2":                  "Config.HTTP2",
	"http2_prior_knowledge":  "Config.HTTP2PriorKnowledge",
	"pool_max_idle_per_host": "Config.PoolMaxIdlePerHost",
	"pool_idle_timeout_ms":   "Config.PoolIdleTimeout",
}

// withGoNames adds the Go name after each option a library message names: "raise `timeout_ms`"
// becomes "raise `timeout_ms` (Config.Timeout or Request.Timeout)".
func withGoNames(msg string) string {
	if !strings.Contains(msg, "`") {
		return msg
	}
	for option, field := range optionFields {
		quoted := "`" + option + "`"
		msg = strings.ReplaceAll(msg, quoted, quoted+" ("+field+")")
	}
	return msg
}
