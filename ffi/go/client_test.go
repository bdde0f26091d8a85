package tailrace

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"testing"
)

func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestDoReturnsTheWholeResponse(t *testing.T) {
	tb := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{tb.URL}})
	resp, err := c.Do(context.Background(), Request{URL: "/hello?body_bytes=10"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || string(resp.Body) != "xxxxxxxxxx" {
		t.Fatalf("got %d %q", resp.Status, resp.Body)
	}
	if resp.Header.Get("X-Testbed-Proto") != "HTTP/1.1" || resp.Header.Get("Content-Length") != "10" {
		t.Fatalf("headers: %v", resp.Header)
	}
	if resp.Host != tb.URL || resp.Attempts != 1 || resp.Winner != 0 || resp.Proto != "HTTP/1.1" {
		t.Fatalf("host %q attempts %d winner %d proto %q", resp.Host, resp.Attempts, resp.Winner, resp.Proto)
	}
	if resp.Elapsed <= 0 {
		t.Fatalf("elapsed %v", resp.Elapsed)
	}
	// A full URL needs no hosts.
	c2 := newClient(t, Config{})
	resp, err = c2.Do(context.Background(), Request{Method: "HEAD", URL: tb.URL + "/full"})
	if err != nil || resp.Status != 200 || len(resp.Body) != 0 {
		t.Fatalf("full URL: %v %+v", err, resp)
	}
}

// Many headers (past the 16 read in the first crossing) and one name with several values come
// back whole and in order, response after response (the dispatcher reuses what it decoded).
func TestEveryResponseHeaderComesBack(t *testing.T) {
	tb := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{tb.URL}})
	want := make([]string, 20)
	for i := range want {
		want[i] = strconv.Itoa(i)
	}
	for round := 0; round < 3; round++ {
		resp, err := c.Do(context.Background(), Request{URL: "/h?repeat_header=20&body_bytes=3"})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Values("X-Repeat"); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: X-Repeat %q, want %q", round, got, want)
		}
		if resp.Header.Get("Content-Type") != "application/octet-stream" ||
			resp.Header.Get("Content-Length") != "3" || resp.Header.Get("X-Testbed-Proto") != "HTTP/1.1" {
			t.Fatalf("round %d: headers %v", round, resp.Header)
		}
		if _, lower := resp.Header["x-repeat"]; lower || len(resp.Header) != 6 {
			t.Fatalf("round %d: names not canonical, or extra: %v", round, resp.Header)
		}
	}
}

// The decoder's caches stop growing at their bounds and keep giving the right answers.
func TestDecoderCachesAreBounded(t *testing.T) {
	d := newDecoder()
	for i := 0; i < 2*decoderMaxNames; i++ {
		raw := "x-name-" + strconv.Itoa(i)
		if got, want := d.canonical([]byte(raw)), http.CanonicalHeaderKey(raw); got != want {
			t.Fatalf("canonical(%q) = %q, want %q", raw, got, want)
		}
	}
	if len(d.names) != decoderMaxNames {
		t.Fatalf("%d names cached, bound %d", len(d.names), decoderMaxNames)
	}
	if got := d.canonical([]byte("x-name-0")); got != "X-Name-0" {
		t.Fatalf("cached name %q", got)
	}
}

func TestMethodHeadersAndBodyReachTheServer(t *testing.T) {
	tb := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{tb.URL}})
	body := bytes.Repeat([]byte("0123456789"), 10000) // 100 kB
	h := http.Header{}
	h.Add("X-One", "1")
	h.Add("X-Many", "a")
	h.Add("X-Many", "b")
	resp, err := c.Do(context.Background(), Request{Method: "PUT", URL: "/__echo", Header: h, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	var echo struct {
		Method  string            `json:"method"`
		Path    string            `json:"path"`
		Headers map[string]string `json:"headers"`
		BodyLen int               `json:"body_len"`
	}
	if err := json.Unmarshal(resp.Body, &echo); err != nil {
		t.Fatalf("%v: %s", err, resp.Body)
	}
	if echo.Method != "PUT" || echo.BodyLen != len(body) || echo.Headers["x-one"] != "1" || echo.Headers["x-many"] != "a, b" {
		t.Fatalf("echo: %+v", echo)
	}
}

func TestManyGoroutinesShareOneClient(t *testing.T) {
	tb := startTestbed(t)
	c := newClient(t, Config{Hosts: []string{tb.URL}})
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			resp, err := c.Do(context.Background(), Request{URL: "/g?delay_ms=5&i=" + strconv.Itoa(i)})
			if err == nil && resp.Status != 200 {
				err = errors.New(resp.Host + " answered " + strconv.Itoa(resp.Status))
			}
			if err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s := tb.idle(t)
	if s.Requests != n || s.Finished != n {
		t.Fatalf("testbed saw %d requests, %d finished; want %d", s.Requests, s.Finished, n)
	}
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Calls != n || st.InFlight != 0 || st.LatencyUS.Count != n {
		t.Fatalf("stats: %+v", st)
	}
}
