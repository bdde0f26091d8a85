package tailrace

// The testbed (tests/testbed) run as a subprocess, and what tests read from it.

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// repoRoot is the repository root, found from this package's directory (ffi/go).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "tests", "testbed")); err != nil {
		t.Fatalf("cannot find the repository root from %s: %v", root, err)
	}
	return root
}

type testbed struct {
	URL  string
	Port int
	CA   string // the CA file, with --tls
	cmd  *exec.Cmd
}

// startTestbed runs target/release/testbed on a free port; it is stopped when the test ends
// (stdin closed: --exit-on-stdin-eof), and dies with the test binary either way.
func startTestbed(t testing.TB, args ...string) *testbed {
	t.Helper()
	bin := filepath.Join(repoRoot(t), "target", "release", "testbed")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: build it with `cargo build --release -p tailrace-testbed`", bin)
	}
	tb := &testbed{}
	for i, a := range args {
		if a == "--tls" {
			tb.CA = filepath.Join(t.TempDir(), "ca.pem")
			args = append(args[:i:i], append([]string{"--tls", "--ca-out", tb.CA}, args[i+1:]...)...)
			break
		}
	}
	cmd := exec.Command(bin, append([]string{"--port", "0", "--exit-on-stdin-eof"}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("testbed did not print its port: %v", err)
	}
	tb.Port, err = strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("testbed printed %q, not a port", line)
	}
	tb.cmd = cmd
	scheme := "http"
	if tb.CA != "" {
		scheme = "https"
		tb.URL = "https://localhost:" + strconv.Itoa(tb.Port)
	} else {
		tb.URL = scheme + "://127.0.0.1:" + strconv.Itoa(tb.Port)
	}
	return tb
}

type tbEvent struct {
	ID      int64   `json:"id"`
	TUS     int64   `json:"t_us"`
	Event   string  `json:"event"`
	Key     *string `json:"key"`
	Seq     *int    `json:"seq"`
	Attempt *int    `json:"attempt"`
	Path    string  `json:"path"`
	Query   string  `json:"query"`
	Status  *int    `json:"status"`
}

type tbStats struct {
	Requests    int            `json:"requests"`
	Finished    int            `json:"finished"`
	Cancelled   int            `json:"cancelled"`
	InFlight    int            `json:"in_flight"`
	MaxInFlight int            `json:"max_in_flight"`
	Connections int            `json:"connections"`
	Status      map[string]int `json:"status"`
	Versions    map[string]int `json:"versions"`
	Events      []tbEvent      `json:"events"`
}

// admin is the net/http client the tests read the testbed's own endpoints with.
func (tb *testbed) admin(t testing.TB) *http.Client {
	c := &http.Client{Timeout: 10 * time.Second}
	if tb.CA != "" {
		pem, err := os.ReadFile(tb.CA)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	}
	return c
}

func (tb *testbed) stats(t testing.TB) tbStats {
	t.Helper()
	resp, err := tb.admin(t).Get(tb.URL + "/__stats")
	if err != nil {
		t.Fatalf("testbed stats: %v", err)
	}
	defer resp.Body.Close()
	var s tbStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("testbed stats: %v", err)
	}
	return s
}

func (tb *testbed) reset(t testing.TB) {
	t.Helper()
	resp, err := tb.admin(t).Post(tb.URL+"/__reset", "", nil)
	if err != nil {
		t.Fatalf("testbed reset: %v", err)
	}
	resp.Body.Close()
}

// idle waits (10 s at most) until the testbed has nothing in flight, and returns its stats.
func (tb *testbed) idle(t testing.TB) tbStats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := tb.stats(t)
		if s.InFlight == 0 {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("testbed still has %d requests in flight after 10 s", s.InFlight)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// eventsOf returns the events of the requests whose x-seq header was seq.
func (s tbStats) eventsOf(seq int) []tbEvent {
	var out []tbEvent
	for _, e := range s.Events {
		if e.Seq != nil && *e.Seq == seq {
			out = append(out, e)
		}
	}
	return out
}

// firstIndex is the log position of the first event of kind for seq, or -1.
func (s tbStats) firstIndex(seq int, kind string) int {
	for i, e := range s.Events {
		if e.Seq != nil && *e.Seq == seq && e.Event == kind {
			return i
		}
	}
	return -1
}

// endIndex is the log position of seq's finish or cancel event, or -1.
func (s tbStats) endIndex(seq int) int {
	for i, e := range s.Events {
		if e.Seq != nil && *e.Seq == seq && (e.Event == "finish" || e.Event == "cancel") {
			return i
		}
	}
	return -1
}
