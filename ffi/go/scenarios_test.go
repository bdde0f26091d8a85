package tailrace

// The cross-language scenario suite (tests/scenarios/*.json; format in its README.md), run
// through the Go binding. TAILRACE_SCENARIOS=DIR runs the files of another directory.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

type scenario struct {
	Name   string            `json:"name"`
	Rule   string            `json:"rule"`
	Client map[string]string `json:"client"`
	Calls  []scenarioCall    `json:"calls"`
	Expect scenarioExpect    `json:"expect"`
}

type scenarioCall struct {
	ID            string `json:"id"`
	Method        string `json:"method"`
	OrderKey      string `json:"order_key"`
	Flush         bool   `json:"flush"`
	LimitKey      string `json:"limit_key"`
	Idempotent    *bool  `json:"idempotent"`
	TimeoutMs     *int64 `json:"timeout_ms"`
	DelayMs       int64  `json:"delay_ms"`
	Status        int    `json:"status"`
	SubmitAfterMs int64  `json:"submit_after_ms"`
	CancelAfterMs *int64 `json:"cancel_after_ms"`
}

type scenarioExpect struct {
	Outcomes            map[string]string  `json:"outcomes"`
	FinishedBeforeStart [][2]string        `json:"finished_before_start"`
	StartedBeforeFinish [][2]string        `json:"started_before_finish"`
	StartOrder          [][]string         `json:"start_order"`
	MaxInFlight         *int               `json:"max_in_flight"`
	MaxInFlightAtMost   *int               `json:"max_in_flight_at_most"`
	NotSent             []string           `json:"not_sent"`
	Sent                []string           `json:"sent"`
	Stats               map[string]float64 `json:"stats"`
}

func scenarioFiles(t *testing.T) []string {
	dir := os.Getenv("TAILRACE_SCENARIOS")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), "tests", "scenarios")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

func TestScenarios(t *testing.T) {
	files := scenarioFiles(t)
	// The suite has 30 files; far fewer means a wrong directory or a lost suite, not a pass.
	want := 20
	if os.Getenv("TAILRACE_SCENARIOS") != "" {
		want = 1
	}
	if len(files) < want {
		t.Fatalf("found %d scenario files (%v); want at least %d", len(files), files, want)
	}
	tb := startTestbed(t)
	passed, failed := 0, 0
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var sc scenario
		if err := json.Unmarshal(raw, &sc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		ok := t.Run(sc.Name, func(t *testing.T) {
			tb.idle(t)
			tb.reset(t)
			for _, problem := range runScenario(t, tb, &sc) {
				t.Errorf("%s\n  rule: %s\n  %s", filepath.Base(file), sc.Rule, problem)
			}
		})
		if ok {
			passed++
		} else {
			failed++
		}
	}
	t.Logf("scenarios: %d passed, %d failed", passed, failed)
}

// runScenario runs one scenario and returns what differed from its expectations.
func runScenario(t *testing.T, tb *testbed, sc *scenario) []string {
	var cfg Config
	names := make([]string, 0, len(sc.Client))
	for name := range sc.Client {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := cfg.Set(name, sc.Client[name]); err != nil {
			return []string{fmt.Sprintf("client option: %v", err)}
		}
	}
	if err := cfg.Set("hosts", tb.URL); err != nil {
		return []string{err.Error()}
	}
	c, err := NewClient(cfg)
	if err != nil {
		return []string{fmt.Sprintf("NewClient: %v", err)}
	}
	hung := false
	defer func() {
		if hung {
			go c.Close() // Close waits for every outcome, the stuck one too: never return then
			return
		}
		c.Close()
	}()

	// Submit in list order from this goroutine; each Start returns before the next.
	seqOf := map[string]int{}
	type started struct {
		call *Call
		err  error
	}
	calls := make([]started, len(sc.Calls))
	for i, sc := range sc.Calls {
		seqOf[sc.ID] = i
		if sc.SubmitAfterMs > 0 {
			time.Sleep(time.Duration(sc.SubmitAfterMs) * time.Millisecond)
		}
		call, err := c.Start(bg, scenarioRequest(i, sc))
		calls[i] = started{call, err}
		if call != nil && sc.CancelAfterMs != nil {
			time.AfterFunc(time.Duration(*sc.CancelAfterMs)*time.Millisecond, call.Cancel)
		}
	}

	// Wait for every call (30 s guard: a call still pending then is a hang).
	outcomes := map[string]string{}
	guard := time.After(30 * time.Second)
	for i, s := range calls {
		id := sc.Calls[i].ID
		if s.err != nil {
			outcomes[id] = outcomeName(s.err)
			continue
		}
		done := make(chan error, 1)
		go func() { _, err := s.call.Wait(); done <- err }()
		select {
		case err := <-done:
			outcomes[id] = outcomeName(err)
		case <-guard:
			hung = true
			t.Fatalf("scenario %q hung: call %q had no outcome after 30 s\n  rule: %s", sc.Name, id, sc.Rule)
		}
	}
	log := tb.idle(t)

	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	ex := &sc.Expect
	for _, id := range sortedKeys(ex.Outcomes) {
		if got := outcomes[id]; got != ex.Outcomes[id] {
			fail("outcome of %s: %s, want %s", id, got, ex.Outcomes[id])
		}
	}
	startOf := func(id string) int { return log.firstIndex(seqOf[id], "start") }
	for _, p := range ex.FinishedBeforeStart {
		end, start := log.endIndex(seqOf[p[0]]), startOf(p[1])
		if end < 0 || start < 0 {
			fail("finished_before_start %v: both must reach the testbed (end %d, start %d)", p, end, start)
		} else if end > start {
			fail("finished_before_start %v: %s started before %s ended", p, p[1], p[0])
		}
	}
	for _, p := range ex.StartedBeforeFinish {
		start, end := startOf(p[0]), log.endIndex(seqOf[p[1]])
		if end < 0 || start < 0 {
			fail("started_before_finish %v: both must reach the testbed (start %d, end %d)", p, start, end)
		} else if start > end {
			fail("started_before_finish %v: %s started only after %s ended", p, p[0], p[1])
		}
	}
	for _, order := range ex.StartOrder {
		last := -1
		for _, id := range order {
			at := startOf(id)
			if at < 0 || at < last {
				fail("start_order %v: starts were %s", order, startSummary(log, sc))
				break
			}
			last = at
		}
	}
	if ex.MaxInFlight != nil && log.MaxInFlight != *ex.MaxInFlight {
		fail("max_in_flight at the testbed: %d, want %d", log.MaxInFlight, *ex.MaxInFlight)
	}
	if ex.MaxInFlightAtMost != nil && log.MaxInFlight > *ex.MaxInFlightAtMost {
		fail("max_in_flight at the testbed: %d, want at most %d", log.MaxInFlight, *ex.MaxInFlightAtMost)
	}
	for _, id := range ex.NotSent {
		if len(log.eventsOf(seqOf[id])) > 0 {
			fail("not_sent: %s reached the testbed", id)
		}
	}
	for _, id := range ex.Sent {
		if len(log.eventsOf(seqOf[id])) == 0 {
			fail("sent: %s never reached the testbed", id)
		}
	}
	if len(ex.Stats) > 0 {
		raw, err := c.StatsJSON()
		if err != nil {
			fail("stats: %v", err)
		}
		var stats map[string]any
		if err := json.Unmarshal(raw, &stats); err != nil {
			fail("stats JSON: %v", err)
		}
		for _, key := range sortedKeys(ex.Stats) {
			got, ok := statNumber(stats, key)
			if !ok {
				fail("stats %s: no such number in the stats JSON %s", key, raw)
			} else if got != ex.Stats[key] {
				fail("stats %s: %v, want %v", key, got, ex.Stats[key])
			}
		}
	}
	return problems
}

func scenarioRequest(seq int, sc scenarioCall) Request {
	status := sc.Status
	if status == 0 {
		status = 200
	}
	h := http.Header{"X-Seq": {strconv.Itoa(seq)}}
	if sc.OrderKey != "" {
		h.Set("X-Key", sc.OrderKey)
	}
	req := Request{
		Method:     sc.Method,
		URL:        fmt.Sprintf("/scenario/%s?delay_ms=%d&status=%d", sc.ID, sc.DelayMs, status),
		Header:     h,
		OrderKey:   sc.OrderKey,
		Flush:      sc.Flush,
		LimitKey:   sc.LimitKey,
		Idempotent: sc.Idempotent,
	}
	if sc.TimeoutMs != nil {
		req.Timeout = time.Duration(*sc.TimeoutMs) * time.Millisecond
		if *sc.TimeoutMs == 0 {
			req.Timeout = -1 // timeout_ms 0: no deadline
		}
	}
	return req
}

// outcomeName is "ok" or the error kind's snake_case name.
func outcomeName(err error) string {
	if err == nil {
		return "ok"
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code.String()
	}
	return "unexpected error: " + err.Error()
}

// statNumber reads key ("in_flight", "errors.limit_queue_full") from the stats JSON; false when
// there is no such number. The per-kind error map lists only kinds that occurred, so a missing
// count of a kind the library knows is 0.
func statNumber(stats map[string]any, key string) (float64, bool) {
	parts := strings.Split(key, ".")
	var v any = stats
	for i, part := range parts {
		m, ok := v.(map[string]any)
		if !ok {
			return 0, false
		}
		v, ok = m[part]
		if !ok {
			if len(parts) == 2 && i == 1 && parts[0] == "errors" && isErrorKind(part) {
				return 0, true
			}
			return 0, false
		}
	}
	switch n := v.(type) {
	case float64:
		return n, true
	case bool:
		if n {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func isErrorKind(name string) bool {
	for _, n := range codeNames {
		if n == name {
			return true
		}
	}
	return false
}

func startSummary(log tbStats, sc *scenario) string {
	var ids []string
	for _, e := range log.Events {
		if e.Event == "start" && e.Seq != nil && *e.Seq < len(sc.Calls) {
			ids = append(ids, sc.Calls[*e.Seq].ID)
		}
	}
	return "[" + strings.Join(ids, " ") + "]"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
