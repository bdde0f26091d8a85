package tailrace

// The limiter (MaxCount, MaxQueue, QueueTimeout, LimitKey) and the order gate (OrderKey, Flush),
// seen from the testbed's log. Calls are submitted in a known order with Start from one
// goroutine; each step waits for what the testbed or the client's stats show, never for time.

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// seqReq is a request the testbed logs under x-seq (and x-key for an order key).
func seqReq(seq int, query string, orderKey string) Request {
	h := http.Header{"X-Seq": {strconv.Itoa(seq)}}
	if orderKey != "" {
		h.Set("X-Key", orderKey)
	}
	return Request{URL: "/seq/" + strconv.Itoa(seq) + "?" + query, Header: h, OrderKey: orderKey}
}

func mustStart(t *testing.T, c *Client, ctx context.Context, req Request) *Call {
	t.Helper()
	call, err := c.Start(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return call
}

// waitStats waits (10 s at most) until the client's stats satisfy ok.
func waitStats(t *testing.T, c *Client, what string, ok func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(mustStats(t, c)) {
		if time.Now().After(deadline) {
			t.Fatalf("stats never showed %s: %+v", what, mustStats(t, c))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestMaxCountLimitsCallsInFlight(t *testing.T) {
	tb := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{tb.URL}, MaxCount: 3})
	var wg sync.WaitGroup
	for i := 0; i < 24; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mustDo(t, c, Request{URL: "/lim?delay_ms=20"})
		}()
	}
	wg.Wait()
	if s := tb.idle(t); s.MaxInFlight != 3 || s.Finished != 24 {
		t.Fatalf("testbed max in flight %d, finished %d; want 3 and 24", s.MaxInFlight, s.Finished)
	}
	if st := mustStats(t, c); st.MaxInFlight != 3 || st.InFlight != 0 || st.Queued != 0 {
		t.Fatalf("stats: max in flight %d, in flight %d, queued %d", st.MaxInFlight, st.InFlight, st.Queued)
	}
}

func TestFullQueueRejectsAtOnceAndSendsNothing(t *testing.T) {
	tb := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{tb.URL}, MaxCount: 1, MaxQueue: 1})
	holder := mustStart(t, c, bg, seqReq(0, "delay_ms=300", ""))
	waitForRequests(t, tb, 1)
	waiter := mustStart(t, c, bg, seqReq(1, "", ""))
	waitStats(t, c, "one call queued", func(s Stats) bool { return s.Queued == 1 })
	_, err := c.Do(bg, seqReq(2, "", ""))
	var e *Error
	if !errors.Is(err, ErrLimitQueueFull) || !errors.As(err, &e) || e.Sent != SentNo {
		t.Fatalf("third call: %v; want ErrLimitQueueFull, nothing sent", err)
	}
	for _, call := range []*Call{holder, waiter} {
		if _, err := call.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	s := tb.idle(t)
	if len(s.eventsOf(2)) != 0 || s.Requests != 2 {
		t.Fatalf("the rejected call reached the testbed: %+v", s.Events)
	}
	if st := mustStats(t, c); st.RejectedQueueFull != 1 || st.Errors["limit_queue_full"] != 1 {
		t.Fatalf("stats: %+v", st)
	}
	// MaxQueue -1 (max_queue 0): no queue at all.
	c2 := newClient(t, Config{Hosts: []string{tb.URL}, MaxCount: 1, MaxQueue: -1})
	holder = mustStart(t, c2, bg, Request{URL: "/hold?delay_ms=200"})
	waitStats(t, c2, "one call in flight", func(s Stats) bool { return s.InFlight == 1 })
	if _, err := c2.Do(bg, Request{URL: "/no-queue"}); !errors.Is(err, ErrLimitQueueFull) {
		t.Fatalf("max_queue 0: %v; want ErrLimitQueueFull", err)
	}
	holder.Wait()
}

func TestQueueTimeout(t *testing.T) {
	tb := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{tb.URL}, MaxCount: 1, QueueTimeout: 50 * time.Millisecond})
	holder := mustStart(t, c, bg, Request{URL: "/hold?delay_ms=2000"})
	waitForRequests(t, tb, 1)
	_, err := c.Do(bg, Request{URL: "/waits"})
	var e *Error
	if !errors.Is(err, ErrLimitTimeout) || !errors.As(err, &e) || e.Sent != SentNo {
		t.Fatalf("%v; want ErrLimitTimeout, nothing sent", err)
	}
	holder.Cancel()
	holder.Wait()
	if n := tb.idle(t).Requests; n != 1 {
		t.Fatalf("the testbed saw %d requests; want 1", n)
	}
}

func TestLimitKeysAreIndependent(t *testing.T) {
	tb := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{tb.URL}, MaxCount: 1, MaxQueue: -1})
	a := mustStart(t, c, bg, Request{URL: "/a?delay_ms=300", LimitKey: "a"})
	waitForRequests(t, tb, 1)
	// Key "b" has its own slot; the client-wide key ("") too.
	if _, err := c.Do(bg, Request{URL: "/b", LimitKey: "b"}); err != nil {
		t.Fatalf("key b: %v", err)
	}
	if _, err := c.Do(bg, Request{URL: "/none"}); err != nil {
		t.Fatalf("no key: %v", err)
	}
	if _, err := c.Do(bg, Request{URL: "/a2", LimitKey: "a"}); !errors.Is(err, ErrLimitQueueFull) {
		t.Fatalf("key a again: %v; want ErrLimitQueueFull", err)
	}
	a.Wait()
}

func TestContextCancelFreesTheLimiterSlot(t *testing.T) {
	tb := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{tb.URL}, MaxCount: 1})
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	holderErr := make(chan error, 1)
	go func() {
		_, err := c.Do(ctx, seqReq(0, "delay_ms=20000", ""))
		holderErr <- err
	}()
	waitForRequests(t, tb, 1)
	waiter := mustStart(t, c, bg, seqReq(1, "", ""))
	waitStats(t, c, "the second call queued", func(s Stats) bool { return s.Queued == 1 })
	cancel()
	if err := <-holderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("holder: %v; want context.Canceled", err)
	}
	// Do returned after the runtime dropped the call: its slot is free, the waiter runs.
	if resp, err := waiter.Wait(); err != nil || resp.Status != 200 {
		t.Fatalf("waiter: %v", err)
	}
	// The client never had two in flight; the testbed sees the cancelled request go on its own
	// time (the connection closes), so only its cancel is checked there.
	if st := mustStats(t, c); st.MaxInFlight != 1 || st.InFlight != 0 || st.Errors["cancelled"] != 1 {
		t.Fatalf("stats: max in flight %d, in flight %d, errors %v", st.MaxInFlight, st.InFlight, st.Errors)
	}
	if s := tb.idle(t); s.endIndex(0) < 0 || s.Events[s.endIndex(0)].Event != "cancel" {
		t.Fatalf("testbed events: %+v", s.Events)
	}
}

func TestOrderKeyRunsSameKeyCallsInSubmissionOrder(t *testing.T) {
	tb := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{tb.URL}})
	calls := []*Call{
		mustStart(t, c, bg, seqReq(0, "delay_ms=60", "A")),
		mustStart(t, c, bg, seqReq(1, "delay_ms=30", "A")),
		mustStart(t, c, bg, seqReq(2, "delay_ms=10", "A")),
		mustStart(t, c, bg, seqReq(3, "delay_ms=10", "")), // no key: never waits
	}
	for _, call := range calls {
		if _, err := call.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	s := tb.idle(t)
	for _, pair := range [][2]int{{0, 1}, {1, 2}} {
		if end, start := s.endIndex(pair[0]), s.firstIndex(pair[1], "start"); end < 0 || start < 0 || end > start {
			t.Errorf("call %d started before call %d ended: %+v", pair[1], pair[0], s.Events)
		}
	}
	if start, end := s.firstIndex(3, "start"), s.endIndex(0); start < 0 || end < 0 || start > end {
		t.Errorf("the unkeyed call waited for the keyed one (start %d, keyed end %d): %+v", start, end, s.Events)
	}
}

func TestFlushWaitsForEveryEarlierCall(t *testing.T) {
	tb := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{tb.URL}})
	flush := seqReq(2, "delay_ms=10", "")
	flush.Flush = true
	calls := []*Call{
		mustStart(t, c, bg, seqReq(0, "delay_ms=80", "")),
		mustStart(t, c, bg, seqReq(1, "delay_ms=40", "B")),
		mustStart(t, c, bg, flush),
		mustStart(t, c, bg, seqReq(3, "", "")),
	}
	for _, call := range calls {
		if _, err := call.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	s := tb.idle(t)
	fs := s.firstIndex(2, "start")
	if fs < 0 || s.endIndex(0) < 0 || s.endIndex(1) < 0 || fs < s.endIndex(0) || fs < s.endIndex(1) {
		t.Errorf("the flush started before an earlier call ended: %+v", s.Events)
	}
	// Call 3 could start only once the flush had started, so after the calls the flush waited
	// for (the flush and call 3 then race to the testbed).
	if s3 := s.firstIndex(3, "start"); s3 < 0 || s3 < s.endIndex(0) || s3 < s.endIndex(1) {
		t.Errorf("a call submitted after the flush started before the flush could: %+v", s.Events)
	}
	if st := mustStats(t, c); st.FlushWaits != 1 || st.WaitingForOrder != 0 {
		t.Errorf("stats flush waits %d waiting %d; want 1 and 0", st.FlushWaits, st.WaitingForOrder)
	}
}
