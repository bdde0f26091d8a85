// Closed-loop benchmark of the Go binding against Go's net/http with a tuned Transport
// (MaxIdleConnsPerHost = concurrency), in the same run, on the testbed's fast mode, at
// concurrency 16, 64 and 256; rounds alternate (A B A B) so drift hits both. Also measures what
// the binding costs per call: a serial (c=1) loop through the binding against the same loop in
// Rust (loadgen, the same library with no cgo), and one bare cgo crossing.
//
//	bash tests/bench/go.sh [requests-per-run] [rounds]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	tailrace "example.invalid/tailrace/ffi/go"
)

type result struct {
	client      string
	concurrency int
	rps         float64
	p50, p99    time.Duration
	errors      int64
	cpuUS       float64 // CPU per call of the client's process (the testbed not included)
}

var root = filepath.Join("..", "..", "..")

func main() {
	requests := flag.Int("requests", 40000, "requests per run")
	rounds := flag.Int("rounds", 3, "rounds per client and concurrency")
	only := flag.String("only", "", "run only this client's loop (tailrace or net/http), e.g. to profile it")
	flag.Parse()

	url := startTestbed() + "/fast"
	fmt.Printf("testbed %s (1 server thread), %d requests per run, %d rounds, GOMAXPROCS default\n\n", url, *requests, *rounds)

	if *only != "" {
		for _, c := range []int{16, 64, 256} {
			if *only == "tailrace" {
				report(runTailrace(url, c, *requests))
			} else {
				report(runNetHTTP(url, c, *requests))
			}
		}
		return
	}
	var all []result
	for _, c := range []int{16, 64, 256} {
		for r := 0; r < *rounds; r++ {
			all = append(all, report(runNetHTTP(url, c, *requests)))
			all = append(all, report(runTailrace(url, c, *requests)))
			all = append(all, report(runLoadgen(url, c, *requests)))
		}
	}
	fmt.Printf("\nconcurrency  tailrace rps  net/http rps  rps ratio  p99 tailrace  p99 net/http" +
		"  Rust loadgen / net/http (ceiling)  CPU µs/call: tailrace  net/http  loadgen   (medians of rounds)\n")
	for _, c := range []int{16, 64, 256} {
		t, n := median(all, "tailrace-go", c), median(all, "net/http", c)
		l := median(all, "rust-loadgen", c)
		fmt.Printf("%11d  %12.0f  %12.0f  %9.2f  %12v  %12v  %33.2f  %21.1f  %8.1f  %7.1f\n", c, t.rps, n.rps,
			t.rps/n.rps, t.p99, n.p99, l.rps/n.rps,
			medianCPU(all, "tailrace-go", c), medianCPU(all, "net/http", c), medianCPU(all, "rust-loadgen", c))
	}
	// CPU per call is steadier than requests/s on a shared machine: the client's own cost, the
	// testbed's excluded. tailrace's includes its runtime's workers (loadgen's is only those).

	// Latency of one call on its own: a serial loop through the Go binding, and the same loop
	// in Rust running on the runtime itself (loadgen). The difference is entering and leaving
	// the runtime from another thread (a runtime worker woken for the call, the completion
	// queue's waiter woken for its outcome, the hand-off to the waiting goroutine) plus the cgo
	// crossings: about 5 per call, at the cost BenchmarkCgoCrossing prints (go.sh runs it).
	serial := *requests / 4
	var goSerial, rustSerial []float64
	for r := 0; r < *rounds; r++ {
		goSerial = append(goSerial, 1e6/runTailrace(url, 1, serial).rps)
		rustSerial = append(rustSerial, loadgenSerialUS(url, serial))
	}
	g, rs := medianF(goSerial), medianF(rustSerial)
	fmt.Printf("\nserial calls (c=1): Go binding %.1f µs per call, Rust on the runtime (loadgen) %.1f µs: +%.1f µs\n", g, rs, g-rs)
}

func report(r result) result {
	fmt.Printf("%-12s c=%-4d %8.0f req/s  p50 %8v  p99 %8v  cpu %5.1f µs/call  errors %d\n", r.client, r.concurrency, r.rps, r.p50, r.p99, r.cpuUS, r.errors)
	return r
}

// closedLoop runs c workers until n requests are done; one returns its latency, or an error.
func closedLoop(name string, c, n int, one func() error) result {
	var next, errs atomic.Int64
	lat := make([][]time.Duration, c)
	var wg sync.WaitGroup
	cpu0 := processCPU()
	start := time.Now()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				t0 := time.Now()
				if err := one(); err != nil {
					if errs.Add(1) == 1 {
						log.Printf("%s: %v", name, err)
					}
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	cpu := processCPU() - cpu0
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	r := result{client: name, concurrency: c, rps: float64(n) / secs, errors: errs.Load(),
		cpuUS: float64(cpu.Microseconds()) / float64(n)}
	if len(all) > 0 {
		r.p50 = all[len(all)/2].Round(time.Microsecond)
		r.p99 = all[len(all)*99/100].Round(time.Microsecond)
	}
	return r
}

// processCPU is the CPU this process has used (user + system, every thread: for tailrace its
// runtime's workers too; the testbed is a child process and not counted).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func runNetHTTP(url string, c, n int) result {
	tr := &http.Transport{MaxIdleConns: c, MaxIdleConnsPerHost: c, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	one := func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return err
	}
	warm(c, one)
	return closedLoop("net/http", c, n, one)
}

func runTailrace(url string, c, n int) result {
	client, err := tailrace.NewClient(tailrace.Config{PoolMaxIdlePerHost: c})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	req := tailrace.Request{URL: url}
	one := func() error {
		_, err := client.Do(ctx, req)
		return err
	}
	warm(c, one)
	return closedLoop("tailrace-go", c, n, one)
}

// warm opens the pool's connections (and lets the runtime start) outside the measurement.
func warm(c int, one func() error) {
	closedLoop("warm-up", c, 2000, one)
}

// loadgenSerialUS is the mean latency of a serial loop through Rust tailrace (loadgen).
func loadgenSerialUS(url string, n int) float64 {
	return 1e6 / runLoadgen(url, 1, n).rps
}

// runLoadgen runs the same closed loop in Rust on the runtime itself (loadgen, no binding):
// the most any binding of tailrace could reach on this machine in this run.
func runLoadgen(url string, c, n int) result {
	out, err := exec.Command(filepath.Join(root, "target", "release", "loadgen"), "--url", url,
		"--concurrency", strconv.Itoa(c), "--requests", strconv.Itoa(n), "--warmup", "2000").Output()
	if err != nil {
		log.Fatalf("loadgen: %v", err)
	}
	var r struct {
		RPS   float64 `json:"rps"`
		P50   float64 `json:"p50_us"`
		P99   float64 `json:"p99_us"`
		Error int64   `json:"errors"`
		CPU   float64 `json:"cpu_us_per_call"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		log.Fatalf("loadgen printed %q: %v", out, err)
	}
	us := func(v float64) time.Duration { return time.Duration(v) * time.Microsecond }
	return result{client: "rust-loadgen", concurrency: c, rps: r.RPS, p50: us(r.P50), p99: us(r.P99), errors: r.Error, cpuUS: r.CPU}
}

func median(rs []result, client string, c int) result {
	var sel []result
	for _, r := range rs {
		if r.client == client && r.concurrency == c {
			sel = append(sel, r)
		}
	}
	sort.Slice(sel, func(i, j int) bool { return sel[i].rps < sel[j].rps })
	m := sel[len(sel)/2]
	p99 := make([]time.Duration, len(sel))
	for i, r := range sel {
		p99[i] = r.p99
	}
	sort.Slice(p99, func(i, j int) bool { return p99[i] < p99[j] })
	m.p99 = p99[len(p99)/2]
	return m
}

func medianCPU(rs []result, client string, c int) float64 {
	var v []float64
	for _, r := range rs {
		if r.client == client && r.concurrency == c {
			v = append(v, r.cpuUS)
		}
	}
	return medianF(v)
}

func medianF(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

var keepOpen []io.Closer

// startTestbed runs the fast testbed with one server thread (as tests/bench/transport.sh).
func startTestbed() string {
	cmd := exec.Command(filepath.Join(root, "target", "release", "testbed"), "--port", "0", "--threads", "1", "--exit-on-stdin-eof")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		log.Fatal(err)
	}
	keepOpen = append(keepOpen, stdin) // the testbed exits when we do
	out, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	port, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		log.Fatal(err)
	}
	return "http://127.0.0.1:" + strings.TrimSpace(port)
}
