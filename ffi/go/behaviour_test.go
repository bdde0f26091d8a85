package tailrace

// What each Config field does, seen from the testbed. Races are decided by testbed delays (a
// slow host holds its answer for seconds), never by client sleeps.

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

var bg = context.Background()

// deadHost is a base URL where nothing listens.
func deadHost(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}

func mustDo(t *testing.T, c *Client, req Request) *Response {
	t.Helper()
	resp, err := c.Do(bg, req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return resp
}

func mustStats(t *testing.T, c *Client) Stats {
	t.Helper()
	s, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHostsAndBalanceSpreadCalls(t *testing.T) {
	a, b := startTestbed(t), startTestbed(t)
	c := newClient(t, Config{Hosts: []string{a.URL, b.URL}}) // round_robin
	for i := 0; i < 10; i++ {
		mustDo(t, c, Request{URL: "/rr"})
	}
	if na, nb := a.stats(t).Requests, b.stats(t).Requests; na != 5 || nb != 5 {
		t.Fatalf("round robin sent %d and %d; want 5 and 5", na, nb)
	}
	for _, balance := range []string{"random", "p2c"} {
		a.reset(t)
		b.reset(t)
		c := newClient(t, Config{Hosts: []string{a.URL, b.URL}, Balance: balance})
		for i := 0; i < 40; i++ {
			mustDo(t, c, Request{URL: "/spread"})
		}
		if na, nb := a.stats(t).Requests, b.stats(t).Requests; na+nb != 40 || na == 0 || nb == 0 {
			t.Fatalf("%s sent %d and %d; want both used, 40 in all", balance, na, nb)
		}
	}
}

func TestConcurrentCallsHedgeAndTheFirstSuccessWins(t *testing.T) {
	slow := startTestbed(t, "--latency", "fixed:10000000") // 10 s
	fast := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{slow.URL, fast.URL}, ConcurrentCalls: 2})
	won := 0
	for i := 0; i < 4; i++ {
		resp := mustDo(t, c, Request{URL: "/hedged"})
		if resp.Attempts != 2 || resp.Host != fast.URL {
			t.Fatalf("attempts %d host %s; want 2 attempts, answer from %s", resp.Attempts, resp.Host, fast.URL)
		}
		won += resp.Winner
	}
	// Each losing attempt was cancelled: those that reached the slow testbed went away (an
	// attempt cancelled while it connects never reaches it).
	if s := slow.idle(t); s.Requests != s.Cancelled || s.Finished != 0 {
		t.Fatalf("slow host: %d requests, %d cancelled, %d finished; want every one cancelled",
			s.Requests, s.Cancelled, s.Finished)
	}
	st := mustStats(t, c)
	if st.Calls != 4 || st.Attempts != 8 || st.HedgesSent != 4 || st.HedgesWon != uint64(won) {
		t.Fatalf("stats calls %d attempts %d hedges sent %d won %d; want 4 8 4 %d",
			st.Calls, st.Attempts, st.HedgesSent, st.HedgesWon, won)
	}
}

func TestHedgeDelayHoldsTheNextAttempt(t *testing.T) {
	slow := startTestbed(t, "--latency", "fixed:10000000")
	fast := startTestbed(t)
	const delay = 300 * time.Millisecond
	c := newClient(t, Config{Hosts: []string{slow.URL, fast.URL}, ConcurrentCalls: 2, HedgeDelay: delay})
	hedged := 0
	for i := 0; i < 4; i++ {
		resp := mustDo(t, c, Request{URL: "/delayed"})
		if resp.Host != fast.URL {
			t.Fatalf("answer from %s; want %s", resp.Host, fast.URL)
		}
		switch resp.Attempts {
		case 1: // the first attempt went to the fast host and answered within the delay
		case 2: // no answer within the delay (the first attempt went to the slow host)
			hedged++
			if resp.Elapsed < delay {
				t.Fatalf("hedged call answered after %v: the hedge left before the %v delay", resp.Elapsed, delay)
			}
		default:
			t.Fatalf("%d attempts", resp.Attempts)
		}
	}
	if hedged == 0 {
		t.Fatal("no call's first attempt went to the slow host")
	}
}

func TestHedgePercentileAdaptsTheDelay(t *testing.T) {
	tb := startTestbed(t)
	const fixed = 500 * time.Millisecond
	c := newClient(t, Config{Hosts: []string{tb.URL}, ConcurrentCalls: 2, HedgeDelay: fixed, HedgePercentile: 50})
	if d := mustStats(t, c).HedgeDelayUS; d != uint64(fixed.Microseconds()) {
		t.Fatalf("hedge delay %d µs before any sample; want the fixed %d", d, fixed.Microseconds())
	}
	// Fast calls until the percentile has enough samples (the histogram rotates every 2 s).
	deadline := time.Now().Add(15 * time.Second)
	for mustStats(t, c).HedgeDelayUS >= uint64(fixed.Microseconds()) {
		if time.Now().After(deadline) {
			t.Fatal("the hedge delay never adapted to the observed latency")
		}
		for i := 0; i < 50; i++ {
			mustDo(t, c, Request{URL: "/p"})
		}
	}
}

func TestHedgeMaxExtraLoadCapsHedges(t *testing.T) {
	tb := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{tb.URL}, ConcurrentCalls: 2, HedgeMaxExtraLoad: 0.01})
	const n = 200
	for i := 0; i < n; i++ {
		mustDo(t, c, Request{URL: "/budget"})
	}
	st := mustStats(t, c)
	if st.HedgesSkippedBudget == 0 || st.HedgesSent >= n/2 {
		t.Fatalf("hedges sent %d, skipped for budget %d over %d calls; want the budget to bite",
			st.HedgesSent, st.HedgesSkippedBudget, n)
	}
}

func TestRetryOnStatusDecidesWhatFails(t *testing.T) {
	tb := startTestbed(t)
	// Default 5xx: a 503 from the first attempt is a failure, so the next attempt starts at once
	// (not after the 10 s delay) and its 200 wins. Round robin sends one of two calls' first
	// attempt to the host that answers every request 503.
	bad := startTestbed(t, "--error-rate", "1")
	c := newClient(t, Config{Hosts: []string{bad.URL, tb.URL}, ConcurrentCalls: 2, HedgeDelay: 10 * time.Second})
	rescued := 0
	for i := 0; i < 2; i++ {
		resp := mustDo(t, c, Request{URL: "/s"})
		if resp.Status != 200 || resp.Host != tb.URL {
			t.Fatalf("status %d from %s; want 200 from %s", resp.Status, resp.Host, tb.URL)
		}
		if resp.Attempts == 2 {
			rescued++
			if resp.Winner != 1 || resp.Elapsed >= 5*time.Second {
				t.Fatalf("winner %d after %v; want the second attempt, started at once after the 503",
					resp.Winner, resp.Elapsed)
			}
		}
	}
	if n := bad.idle(t).Requests; rescued == 0 || n != rescued {
		t.Fatalf("%d calls rescued from a 503, the 503 host saw %d requests; want every one rescued",
			rescued, n)
	}
	c2 := newClient(t, Config{Hosts: []string{tb.URL}, RetryOnStatus: "502"})
	resp := mustDo(t, c2, Request{URL: "/s?status=503"})
	if resp.Status != 503 || resp.Attempts != 1 {
		t.Fatalf("status %d attempts %d", resp.Status, resp.Attempts)
	}
	// With 503 outside the failure set, hedging does not retry it: one attempt, the 503 answer.
	c3 := newClient(t, Config{Hosts: []string{tb.URL}, RetryOnStatus: "502", ConcurrentCalls: 2, HedgeDelay: 50 * time.Millisecond})
	resp = mustDo(t, c3, Request{URL: "/s?status=503"})
	if resp.Status != 503 || resp.Attempts != 1 {
		t.Fatalf("not a failure: status %d attempts %d; want 503 after 1 attempt", resp.Status, resp.Attempts)
	}
	// In the failure set (default), a 503 makes the next attempt start at once.
	c4 := newClient(t, Config{Hosts: []string{tb.URL}, ConcurrentCalls: 2, HedgeDelay: 10 * time.Second})
	_, err := c4.Do(bg, Request{URL: "/s?status=503"})
	var all *AllAttemptsFailedError
	if !errors.As(err, &all) || len(all.Attempts) != 2 || !errors.Is(all.Attempts[0].Err, ErrHTTPStatus) {
		t.Fatalf("every attempt 503: %v; want *AllAttemptsFailedError with 2 http_status causes", err)
	}
	if !errors.Is(err, ErrAllAttemptsFailed) || all.Attempts[1].Host != tb.URL {
		t.Fatalf("%v", err)
	}
	// Each cause is read in full from the library: which attempt, the status, what was sent.
	seen := map[int]bool{}
	for _, a := range all.Attempts {
		seen[a.Attempt] = true
		if a.Err.Status != 503 || a.Err.Sent != SentYes || a.Err.Timeout != TimeoutNone {
			t.Errorf("attempt %d cause: status %d sent %v timeout %v; want 503, yes, none",
				a.Attempt, a.Err.Status, a.Err.Sent, a.Err.Timeout)
		}
	}
	if !seen[0] || !seen[1] {
		t.Errorf("attempt numbers %v; want 0 and 1", seen)
	}
	// A timed-out attempt says which deadline passed.
	c5 := newClient(t, Config{Hosts: []string{tb.URL}, ConcurrentCalls: 2, HedgeDelay: time.Millisecond,
		AttemptTimeout: 50 * time.Millisecond})
	_, err = c5.Do(bg, Request{URL: "/slow?delay_ms=2000"})
	if !errors.As(err, &all) || len(all.Attempts) != 2 {
		t.Fatalf("every attempt timed out: %v; want *AllAttemptsFailedError with 2 causes", err)
	}
	for _, a := range all.Attempts {
		if !errors.Is(a.Err, ErrTimeout) || a.Err.Timeout != TimeoutAttempt || a.Err.Sent != SentMaybe {
			t.Errorf("attempt %d cause: %v timeout %v sent %v; want an attempt timeout, sent maybe",
				a.Attempt, a.Err, a.Err.Timeout, a.Err.Sent)
		}
	}
}

func TestAttemptHeaderCanBeTurnedOff(t *testing.T) {
	tb := startTestbed(t)
	// Hedging clients number their attempts (the long delay keeps each call to one attempt).
	hedging := Config{Hosts: []string{tb.URL}, ConcurrentCalls: 2, HedgeDelay: 10 * time.Second}
	mustDo(t, newClient(t, hedging), Request{URL: "/on"})
	off := hedging
	off.AttemptHeader = Bool(false)
	mustDo(t, newClient(t, off), Request{URL: "/off"})
	// A client that never hedges has no attempt numbers to send.
	mustDo(t, newClient(t, Config{Hosts: []string{tb.URL}}), Request{URL: "/plain"})
	seen := map[string]int{}
	for _, e := range tb.idle(t).Events {
		if e.Event != "start" {
			continue
		}
		seen[e.Path]++
		if e.Path == "/on" && (e.Attempt == nil || *e.Attempt != 0) {
			t.Errorf("/on: attempt header %v; want 0", e.Attempt)
		}
		if (e.Path == "/off" || e.Path == "/plain") && e.Attempt != nil {
			t.Errorf("%s: attempt header %d sent", e.Path, *e.Attempt)
		}
	}
	for _, path := range []string{"/on", "/off", "/plain"} {
		if seen[path] != 1 {
			t.Errorf("the testbed logged %d starts of %s; want 1", seen[path], path)
		}
	}
}

func TestEjectAfterLeavesAFailingHostOut(t *testing.T) {
	live := startTestbed(t)
	dead := deadHost(t)
	c := newClient(t, Config{Hosts: []string{dead, live.URL}, EjectAfter: 1, Eject: time.Hour})
	failed := 0
	for i := 0; i < 6; i++ {
		if _, err := c.Do(bg, Request{URL: "/e"}); err != nil {
			if !errors.Is(err, ErrConnect) {
				t.Fatalf("%v; want ErrConnect", err)
			}
			failed++
		}
	}
	if failed > 1 {
		t.Fatalf("%d calls went to the dead host; it should be ejected after 1", failed)
	}
	st := mustStats(t, c)
	if len(st.Hosts) != 2 || st.Hosts[0].URL != dead || !st.Hosts[0].Ejected || st.Hosts[0].Ejections != 1 {
		t.Fatalf("hosts: %+v", st.Hosts)
	}
	// EjectAfter -1: never eject; round robin keeps sending every other call to the dead host.
	c2 := newClient(t, Config{Hosts: []string{dead, live.URL}, EjectAfter: -1})
	failed = 0
	for i := 0; i < 6; i++ {
		if _, err := c2.Do(bg, Request{URL: "/e"}); err != nil {
			failed++
		}
	}
	if failed != 3 {
		t.Fatalf("%d of 6 calls failed without ejection; want 3", failed)
	}
}

func TestTimeoutsNameTheirDeadline(t *testing.T) {
	tb := startTestbed(t)
	cases := []struct {
		cfg    Config
		req    Request
		kind   TimeoutKind
		goName string
	}{
		{Config{Timeout: 100 * time.Millisecond}, Request{URL: "/t?delay_ms=10000"}, TimeoutCall, "Config.Timeout"},
		{Config{AttemptTimeout: 100 * time.Millisecond}, Request{URL: "/t?delay_ms=10000"}, TimeoutAttempt, "Config.AttemptTimeout"},
		{Config{}, Request{URL: "/t?delay_ms=10000", Timeout: 100 * time.Millisecond}, TimeoutCall, "Request.Timeout"},
	}
	for _, tc := range cases {
		tc.cfg.Hosts = []string{tb.URL}
		_, err := newClient(t, tc.cfg).Do(bg, tc.req)
		var e *Error
		if !errors.Is(err, ErrTimeout) || !errors.As(err, &e) || e.Timeout != tc.kind {
			t.Errorf("%+v: %v; want a %v timeout", tc.cfg, err, tc.kind)
		} else if !strings.Contains(e.Message, tc.goName) {
			t.Errorf("%v: the message does not name %s, what a Go program sets", err, tc.goName)
		}
	}
	// A per-call timeout overrides the client's, both ways.
	c := newClient(t, Config{Hosts: []string{tb.URL}, Timeout: 50 * time.Millisecond})
	if resp := mustDo(t, c, Request{URL: "/t?delay_ms=200", Timeout: 10 * time.Second}); resp.Status != 200 {
		t.Fatal(resp.Status)
	}
	if resp := mustDo(t, c, Request{URL: "/t?delay_ms=200", Timeout: -1}); resp.Status != 200 {
		t.Fatal(resp.Status)
	}
	tb.idle(t)
}

func TestMaxResponseBytes(t *testing.T) {
	tb := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{tb.URL}, MaxResponseBytes: 1000})
	if resp := mustDo(t, c, Request{URL: "/b?body_bytes=1000"}); len(resp.Body) != 1000 {
		t.Fatal(len(resp.Body))
	}
	_, err := c.Do(bg, Request{URL: "/b?body_bytes=1001&chunked=1"})
	var e *Error
	if !errors.Is(err, ErrResponseTooLarge) || !errors.As(err, &e) || e.Sent != SentYes {
		t.Fatalf("%v; want ErrResponseTooLarge, sent", err)
	}
}

func TestCAFileAndHTTP2(t *testing.T) {
	tb := startTestbed(t, "--tls")
	_, err := newClient(t, Config{Hosts: []string{tb.URL}}).Do(bg, Request{URL: "/tls"})
	var e *Error
	if !errors.Is(err, ErrTLS) || !errors.As(err, &e) || e.Sent != SentNo {
		t.Fatalf("untrusted CA: %v; want ErrTLS, nothing sent", err)
	}
	resp := mustDo(t, newClient(t, Config{Hosts: []string{tb.URL}, CAFile: tb.CA}), Request{URL: "/tls"})
	if resp.Proto != "HTTP/2.0" {
		t.Fatalf("proto %s; want HTTP/2.0 by ALPN", resp.Proto)
	}
	resp = mustDo(t, newClient(t, Config{Hosts: []string{tb.URL}, CAFile: tb.CA, HTTP2: "never"}), Request{URL: "/tls"})
	if resp.Proto != "HTTP/1.1" {
		t.Fatalf("proto %s; want HTTP/1.1 with HTTP2 never", resp.Proto)
	}
	plain := startTestbed(t)
	resp = mustDo(t, newClient(t, Config{Hosts: []string{plain.URL}, HTTP2PriorKnowledge: true}), Request{URL: "/h2c"})
	if resp.Proto != "HTTP/2.0" || resp.Header.Get("X-Testbed-Proto") != "HTTP/2.0" {
		t.Fatalf("proto %s; want h2c", resp.Proto)
	}
}

func TestPoolMaxIdlePerHost(t *testing.T) {
	tb := startTestbed(t)
	// New connections made by 3 sequential calls (the stats reads reuse one kept-alive
	// connection of their own, opened by the first read).
	newConns := func(cfg Config) int {
		cfg.Hosts = []string{tb.URL}
		c := newClient(t, cfg)
		before := tb.stats(t).Connections
		for i := 0; i < 3; i++ {
			mustDo(t, c, Request{URL: "/pool"})
		}
		return tb.stats(t).Connections - before
	}
	if n := newConns(Config{}); n != 1 {
		t.Fatalf("%d connections for 3 sequential calls; want 1 (keep-alive)", n)
	}
	if n := newConns(Config{PoolMaxIdlePerHost: -1, PoolIdleTimeout: time.Minute}); n != 3 {
		t.Fatalf("%d connections for 3 sequential calls without an idle pool; want 3", n)
	}
}

func TestIdempotentDecidesWhatMayHedge(t *testing.T) {
	slow := startTestbed(t, "--latency", "fixed:10000000")
	fast := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{fast.URL, slow.URL}, ConcurrentCalls: 2})
	// POST is not hedged by default: one attempt (a full URL, so it goes to the fast host).
	resp := mustDo(t, c, Request{Method: "POST", URL: fast.URL + "/post", Body: []byte("b")})
	if resp.Attempts != 1 {
		t.Fatalf("POST: %d attempts; want 1", resp.Attempts)
	}
	resp = mustDo(t, c, Request{Method: "POST", URL: "/post", Body: []byte("b"), Idempotent: Bool(true)})
	if resp.Attempts != 2 || resp.Host != fast.URL {
		t.Fatalf("idempotent POST: %d attempts from %s; want 2, fast host", resp.Attempts, resp.Host)
	}
	resp = mustDo(t, c, Request{Method: "GET", URL: fast.URL + "/get", Idempotent: Bool(false)})
	if resp.Attempts != 1 {
		t.Fatalf("GET marked not idempotent: %d attempts", resp.Attempts)
	}
	// A lower-case method is upper-cased (as in every language): "get" is a GET, so hedged.
	resp = mustDo(t, c, Request{Method: "get", URL: "/get"})
	if resp.Attempts != 2 || resp.Host != fast.URL {
		t.Fatalf(`method "get": %d attempts from %s; want 2, fast host`, resp.Attempts, resp.Host)
	}
}
