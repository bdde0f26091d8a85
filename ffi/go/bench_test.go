package tailrace

// What the binding costs per call, without the network: go test -run '^$' -bench . -benchtime 2s
// (the closed-loop comparison with net/http is tests/bench/go.sh).

import (
	"context"
	"errors"
	"testing"
	"time"
)

// One bare cgo crossing.
func BenchmarkCgoCrossing(b *testing.B) {
	for i := 0; i < b.N; i++ {
		cgoNoop()
	}
}

// Submitting a call up to the library's own check: encode into C memory, one send crossing,
// the request built and rejected inside the library, the error message copied back.
func BenchmarkSubmitRejectedInsideTheLibrary(b *testing.B) {
	c, err := NewClient(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := Request{URL: "/no-hosts"}
	for i := 0; i < b.N; i++ {
		if _, err := c.Start(context.Background(), req); !errors.Is(err, ErrInvalidRequest) {
			b.Fatal(err)
		}
	}
}

// A whole call and back with nothing on the network: a call the limiter rejects at once
// (max_count 1, no queue, one call holding the slot). Submit crossing, limiter, the event posted
// to the completion queue from the submitting thread (no trip through the runtime), dispatcher
// wake-up, error copy, hand-off to the waiting goroutine. Skipped while the linked library does
// not enforce max_count.
func BenchmarkRoundTripLimiterRejected(b *testing.B) {
	tb := startTestbed(b)
	c, err := NewClient(Config{Hosts: []string{tb.URL}, MaxCount: 1, MaxQueue: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	holder, err := c.Start(context.Background(), Request{URL: "/hold?delay_ms=60000"})
	if err != nil {
		b.Fatal(err)
	}
	defer holder.Cancel()
	deadline := time.Now().Add(10 * time.Second)
	for tb.stats(b).Requests < 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	req := Request{URL: "/rejected"}
	if _, err := c.Do(context.Background(), req); !errors.Is(err, ErrLimitQueueFull) {
		b.Skipf("the linked library does not enforce max_count yet (%v)", err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Do(context.Background(), req); !errors.Is(err, ErrLimitQueueFull) {
			b.Fatal(err)
		}
	}
}

// A whole call to the testbed's fast answer (5 headers, a 2-byte body), one at a time: the
// allocations per call are the binding's own Go garbage (exact); the time is mostly network and
// thread wake-ups (the closed-loop comparison is tests/bench/go.sh).
func BenchmarkRoundTripFast(b *testing.B) {
	tb := startTestbed(b)
	c, err := NewClient(Config{Hosts: []string{tb.URL}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := Request{URL: "/fast"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := c.Do(context.Background(), req)
		if err != nil || resp.Status != 200 {
			b.Fatal(resp, err)
		}
	}
}
