package tailrace

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Request is one HTTP call to make.
type Request struct {
	// Method is "GET", "POST", ...; empty means "GET".
	Method string
	// URL is a full URL ("http://10.0.0.1:8080/items/1") or a path ("/items/1") joined to one of
	// the client's Hosts.
	URL string
	// Header is sent as given; a name with several values is sent once per value, in order.
	Header http.Header
	// Body is copied when the call is submitted; every attempt of a hedged call sends it.
	Body []byte

	// OrderKey: calls with the same key run one at a time, in submission order ("" = none).
	OrderKey string
	// Flush makes the call a barrier: it starts after every earlier call of the client ended.
	Flush bool
	// LimitKey is the limiter key the call counts against ("" = the client-wide key).
	LimitKey string
	// Idempotent says whether the call may be sent more than once (hedged); nil: by method.
	Idempotent *bool
	// Timeout is this call's deadline, overriding the client's Timeout (0: the client's;
	// negative: none). A context deadline works too; it cancels the call instead.
	Timeout time.Duration
}

// encode checks the request and copies it into C memory.
func (r *Request) encode() (encodedRequest, error) {
	method := r.Method
	if method == "" {
		method = "GET"
	}
	if err := checkText("method", method); err != nil {
		return encodedRequest{}, err
	}
	if r.URL == "" {
		return encodedRequest{}, newError(CodeInvalidRequest, "the request has no URL")
	}
	if err := checkText("URL", r.URL); err != nil {
		return encodedRequest{}, err
	}
	for name, values := range r.Header {
		if err := checkText("header name", name); err != nil {
			return encodedRequest{}, err
		}
		for _, v := range values {
			if strings.IndexByte(v, 0) >= 0 {
				return encodedRequest{}, newError(CodeInvalidRequest, "header %q: value contains a NUL byte", name)
			}
		}
	}
	var fields []option
	if r.OrderKey != "" {
		if err := checkText("OrderKey", r.OrderKey); err != nil {
			return encodedRequest{}, err
		}
		fields = append(fields, option{"order_key", r.OrderKey})
	}
	if r.Flush {
		fields = append(fields, option{"flush", "true"})
	}
	if r.LimitKey != "" {
		if err := checkText("LimitKey", r.LimitKey); err != nil {
			return encodedRequest{}, err
		}
		fields = append(fields, option{"limit_key", r.LimitKey})
	}
	if r.Idempotent != nil {
		fields = append(fields, option{"idempotent", strconv.FormatBool(*r.Idempotent)})
	}
	if r.Timeout != 0 {
		fields = append(fields, option{"timeout_ms", wholeMs(r.Timeout)})
	}
	return encodeRequest(method, r.URL, r.Header, fields, r.Body), nil
}

// checkText catches strings that cannot cross into C, naming the field.
func checkText(field, s string) error {
	if !utf8.ValidString(s) {
		return newError(CodeInvalidRequest, "%s %q is not valid UTF-8", field, s)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return newError(CodeInvalidRequest, "%s %q contains a NUL byte", field, s)
	}
	return nil
}

// Response is a complete answer: the whole body has been read.
type Response struct {
	Status int
	// Proto is the HTTP version it came over: "HTTP/1.1", "HTTP/2.0", ...
	Proto string
	// Header has every response header; names are canonical ("Content-Type").
	Header http.Header
	Body   []byte
	// Host is the base URL of the host that answered, e.g. "http://10.0.0.2:8080".
	Host string
	// Attempts is how many attempts were sent for the call (1 without hedging).
	Attempts int
	// Winner is which attempt this answer came from (0 = the first).
	Winner int
	// Elapsed is the time from submitting the call to the answer's last byte, waits included.
	Elapsed time.Duration
}

// Bool returns a pointer to b, for Request.Idempotent and Config.AttemptHeader.
func Bool(b bool) *bool { return &b }
