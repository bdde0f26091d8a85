// Fan-out with hedging: 1,000 calls at once against backends with a long tail (5% of answers
// take 500 ms, the rest 1 ms), without and with hedging, printing p50 and p99 of each.
// Latency is what each caller saw, from Do to its return, with 1,000 calls queued at once.
//
//	cargo build --release -p tailrace-ffi -p tailrace-testbed    # once, at the repository root
//	cd examples/go && go run .
//
// It starts two testbed servers itself (target/release/testbed); -hosts uses yours instead.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	tailrace "example.invalid/tailrace/ffi/go"
)

func main() {
	hosts := flag.String("hosts", "", "comma-separated base URLs (default: start two testbeds)")
	calls := flag.Int("calls", 1000, "calls per fan-out")
	rounds := flag.Int("rounds", 3, "fan-outs per configuration")
	flag.Parse()

	urls := strings.Split(*hosts, ",")
	if *hosts == "" {
		urls = []string{startTestbed(), startTestbed()}
	}
	fmt.Printf("backends %v, %d rounds of %d calls at once\n\n", urls, *rounds, *calls)

	// HTTP/2 without negotiation (the testbed speaks h2c): 1,000 calls at once share one
	// connection per host instead of opening 1,000.
	run("no hedging", tailrace.Config{Hosts: urls, HTTP2PriorKnowledge: true}, *calls, *rounds)
	run("hedging", tailrace.Config{
		Hosts:               urls,
		HTTP2PriorKnowledge: true,
		ConcurrentCalls:     2,                     // a second attempt, on the other host...
		HedgeDelay:          50 * time.Millisecond, // ...when the first has no answer after 50 ms
		HedgeMaxExtraLoad:   0.25,                  // at most 25% extra attempts
	}, *calls, *rounds)
}

// run fans out calls×rounds and prints the latency percentiles callers saw.
func run(name string, cfg tailrace.Config, calls, rounds int) {
	c, err := tailrace.NewClient(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	var latencies []time.Duration
	var mu sync.Mutex
	failed := 0
	for r := -1; r < rounds; r++ { // round -1 warms up connections and is not counted
		var wg sync.WaitGroup
		for i := 0; i < calls; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				_, err := c.Do(ctx, tailrace.Request{URL: "/item"})
				elapsed := time.Since(start)
				mu.Lock()
				defer mu.Unlock()
				if r < 0 {
					return
				}
				if err != nil {
					if failed == 0 {
						log.Printf("%s: %v", name, err)
					}
					failed++
					return
				}
				latencies = append(latencies, elapsed)
			}()
		}
		wg.Wait()
	}
	if len(latencies) == 0 {
		// Nothing succeeded: there are no latencies to take percentiles of.
		log.Fatalf("%s: no call succeeded, %d failed (the first error is logged above)", name, failed)
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) time.Duration { return latencies[int(p*float64(len(latencies)-1))] }
	stats, _ := c.Stats()
	fmt.Printf("%-11s p50 %8v   p99 %8v   max %8v   failed %d   attempts/call %.3f   hedges won %d\n",
		name, pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond),
		latencies[len(latencies)-1].Round(10*time.Microsecond), failed,
		float64(stats.Attempts)/float64(stats.Calls), stats.HedgesWon)
}

var keepOpen []io.Closer

// startTestbed runs the repository's testbed with a long-tail latency; it exits with us.
func startTestbed() string {
	bin := filepath.Join("..", "..", "target", "release", "testbed")
	cmd := exec.Command(bin, "--port", "0", "--exit-on-stdin-eof", "--latency", "tail:0.05:1000:500000")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		log.Fatal(err)
	}
	keepOpen = append(keepOpen, stdin) // the testbed exits when its stdin closes: when we exit
	out, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatalf("%v (build it: cargo build --release -p tailrace-testbed)", err)
	}
	port, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		log.Fatalf("testbed: %v", err)
	}
	return "http://127.0.0.1:" + strings.TrimSpace(port)
}
