package tailrace

// Context cancellation, Close, and bad input.

import (
	"context"
	"errors"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitForRequests waits (10 s at most) until the testbed has seen n requests start.
func waitForRequests(t *testing.T, tb *testbed, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for tb.stats(t).Requests < n {
		if time.Now().After(deadline) {
			t.Fatalf("the testbed never saw %d requests", n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestContextCancelCancelsTheCallInsideTheRuntime(t *testing.T) {
	tb := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{tb.URL}})
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error, 1)
	go func() {
		_, err := c.Do(ctx, Request{URL: "/slow?delay_ms=20000"})
		done <- err
	}()
	waitForRequests(t, tb, 1)
	cancel()
	err := <-done
	var e *Error
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) || !errors.As(err, &e) {
		t.Fatalf("%v; want an *Error matching context.Canceled and ErrCancelled", err)
	}
	// The request was dropped inside the runtime: the testbed saw its connection go.
	if s := tb.idle(t); s.Cancelled != 1 {
		t.Fatalf("testbed: %d cancelled; want 1", s.Cancelled)
	}
	if st := mustStats(t, c); st.InFlight != 0 || st.Errors["cancelled"] != 1 {
		t.Fatalf("stats in flight %d errors %v", st.InFlight, st.Errors)
	}
}

func TestAnOutcomeThatArrivedWinsOverAContextEndedLater(t *testing.T) {
	tb := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{tb.URL}})
	// Each call completes (its outcome is in its channel) before its context is cancelled; Wait
	// must return the response, not a context error. Picking between the two at random would
	// lose about half of these, so 100 rounds cannot miss it.
	for i := 0; i < 100; i++ {
		ctx, cancel := context.WithCancel(bg)
		call, err := c.Start(ctx, Request{Method: "POST", URL: "/done", Body: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for len(call.ch) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the call never completed")
			}
			time.Sleep(100 * time.Microsecond)
		}
		cancel()
		resp, err := call.Wait()
		if err != nil || resp.Status != 200 {
			t.Fatalf("round %d: %v; want the POST's 200, which arrived before the cancel", i, err)
		}
	}
	if n := tb.idle(t).Requests; n != 100 {
		t.Fatalf("the testbed saw %d requests; want 100", n)
	}
}

func TestContextDeadlineEndsTheCall(t *testing.T) {
	tb := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{tb.URL}})
	ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel()
	_, err := c.Do(ctx, Request{URL: "/slow?delay_ms=20000"})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrCancelled) {
		t.Fatalf("%v; want context.DeadlineExceeded", err)
	}
	tb.idle(t)
}

func TestAnEndedContextSendsNothing(t *testing.T) {
	tb := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{tb.URL}})
	ctx, cancel := context.WithCancel(bg)
	cancel()
	_, err := c.Do(ctx, Request{URL: "/never"})
	var e *Error
	if !errors.Is(err, context.Canceled) || !errors.As(err, &e) || e.Sent != SentNo {
		t.Fatalf("%v; want context.Canceled, nothing sent", err)
	}
	if n := tb.stats(t).Requests; n != 0 {
		t.Fatalf("the testbed saw %d requests", n)
	}
}

func TestStartWaitAndCancel(t *testing.T) {
	tb := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{tb.URL}})
	slow, err := c.Start(bg, Request{URL: "/slow?delay_ms=20000"})
	if err != nil {
		t.Fatal(err)
	}
	fast, err := c.Start(bg, Request{URL: "/fast"})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := fast.Wait(); err != nil || resp.Status != 200 {
		t.Fatalf("fast: %v", err)
	}
	waitForRequests(t, tb, 2)
	slow.Cancel()
	_, err = slow.Wait()
	if !errors.Is(err, ErrCancelled) || errors.Is(err, context.Canceled) {
		t.Fatalf("%v; want ErrCancelled (not a context error)", err)
	}
	if _, err2 := slow.Wait(); err2 != err {
		t.Fatalf("a second Wait gave %v, the first %v", err2, err)
	}
	slow.Cancel() // harmless
}

func TestCloseEndsCallsInFlight(t *testing.T) {
	tb := startTestbed(t)
	c, err := NewClient(Config{Hosts: []string{tb.URL}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := c.Do(bg, Request{URL: "/slow?delay_ms=20000"})
			errs <- err
		}()
	}
	waitForRequests(t, tb, n)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Fatalf("call in flight during Close: %v; want ErrClosed", err)
		}
	}
	if s := tb.idle(t); s.Cancelled != n {
		t.Fatalf("testbed: %d of %d requests cancelled", s.Cancelled, n)
	}
	// After Close: every method fails the same way, and Close again is fine.
	if _, err := c.Do(bg, Request{URL: "/after"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close: %v", err)
	}
	if _, err := c.Start(bg, Request{URL: "/after"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	if _, err := c.Stats(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Stats after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseWhileCallsKeepComing(t *testing.T) {
	tb := startTestbed(t)
	c, err := NewClient(Config{Hosts: []string{tb.URL}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, closed := 0, 0
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				_, err := c.Do(bg, Request{URL: "/busy?delay_us=200"})
				mu.Lock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, ErrClosed):
					closed++
				default:
					t.Errorf("%v", err)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	waitForRequests(t, tb, 200)
	c.Close()
	wg.Wait()
	// The testbed counts a request when it starts: of the 200 it saw, up to one per goroutine
	// may still have been in flight when Close ended it.
	if ok < 200-16 || closed != 16 {
		t.Fatalf("%d calls ok, %d goroutines stopped by Close; want ≥ %d and 16", ok, closed, 200-16)
	}
}

func TestBadInputGivesClearErrors(t *testing.T) {
	tb := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{tb.URL}})
	cases := []struct {
		name    string
		req     Request
		mention string
	}{
		{"bad URL", Request{URL: "ht!tp://x"}, "not a valid URL"},
		{"no URL", Request{}, "no URL"},
		{"bad method", Request{Method: "GE T", URL: "/x"}, "method"},
		{"CRLF in a header value", Request{URL: "/x", Header: http.Header{"X-A": {"a\r\nb"}}}, "X-A"},
		{"bad header name", Request{URL: "/x", Header: http.Header{"X A": {"a"}}}, "X A"},
		{"invalid UTF-8 URL", Request{URL: "/x\xff"}, "URL"},
		{"invalid UTF-8 method", Request{Method: "G\xffT", URL: "/x"}, "method"},
		{"invalid UTF-8 order key", Request{URL: "/x", OrderKey: "k\xff"}, "OrderKey"},
		{"invalid UTF-8 limit key", Request{URL: "/x", LimitKey: "\xc3"}, "LimitKey"},
		{"invalid UTF-8 header name", Request{URL: "/x", Header: http.Header{"X-\xff": {"a"}}}, "header name"},
		{"NUL in URL", Request{URL: "/x\x00y"}, "NUL"},
		{"NUL in header value", Request{URL: "/x", Header: http.Header{"X-A": {"a\x00"}}}, "NUL"},
	}
	for _, tc := range cases {
		_, err := c.Do(bg, tc.req)
		var e *Error
		if !errors.Is(err, ErrInvalidRequest) || !errors.As(err, &e) || e.Sent != SentNo {
			t.Errorf("%s: %v; want ErrInvalidRequest, nothing sent", tc.name, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: %q does not mention %q", tc.name, err, tc.mention)
		}
	}
	// A relative path with no hosts, a nil context.
	_, err := newClient(t, Config{}).Do(bg, Request{URL: "/x"})
	if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), "hosts") {
		t.Errorf("path without hosts: %v", err)
	}
	//lint:ignore SA1012 checking the nil-context error
	_, err = c.Do(nil, Request{URL: "/x"}) //nolint:staticcheck
	if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), "nil context") {
		t.Errorf("nil context: %v", err)
	}
	// A header value with non-UTF-8 bytes is fine (HTTP allows obs-text), and nothing above
	// reached the testbed.
	resp := mustDo(t, c, Request{URL: "/ok", Header: http.Header{"X-Latin1": {"caf\xe9"}}})
	if resp.Status != 200 {
		t.Fatal(resp.Status)
	}
	if n := tb.stats(t).Requests; n != 1 {
		t.Fatalf("the testbed saw %d requests; want only the good one", n)
	}
	// Connection refused is a clear, typed error too.
	_, err = c.Do(bg, Request{URL: deadHost(t) + "/x"})
	var e *Error
	if !errors.Is(err, ErrConnect) || !errors.As(err, &e) || e.Sent != SentNo || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("refused: %v", err)
	}
}

// The library's runtime leaves a core to Go's own threads (TAILRACE_WORKER_THREADS unset).
func TestTheRuntimeLeavesACoreToGo(t *testing.T) {
	if os.Getenv("TAILRACE_WORKER_THREADS") != "" {
		t.Skip("TAILRACE_WORKER_THREADS is set: it decides the worker count")
	}
	tb := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{tb.URL}})
	if _, err := c.Do(bg, Request{URL: "/fast"}); err != nil {
		t.Fatal(err)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Skipf("no /proc/self/task here: %v", err)
	}
	workers := 0
	for _, task := range tasks {
		comm, err := os.ReadFile("/proc/self/task/" + task.Name() + "/comm")
		if err == nil && strings.TrimSpace(string(comm)) == "tailrace-worker" {
			workers++
		}
	}
	want := runtime.NumCPU() - 1
	if want < 1 {
		want = 1
	}
	if workers != want {
		t.Fatalf("%d tailrace-worker threads, want %d (cores - 1, at least 1)", workers, want)
	}
}
