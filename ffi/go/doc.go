// Package tailrace makes outbound HTTP calls that are fast at the tail and safe for the backends
// they hit: hedged calls across hosts (the first success wins, the rest are cancelled), per-key
// concurrency limits with bounded FIFO queues, and per-key ordering with flush barriers. It is
// the Go binding of libtailrace (a Rust library) over its C ABI; every call runs on the
// library's one background runtime, not on a goroutine.
//
//	c, err := tailrace.NewClient(tailrace.Config{
//		Hosts:           []string{"http://10.0.0.1:8080", "http://10.0.0.2:8080"},
//		ConcurrentCalls: 2, HedgePercentile: 95, HedgeMaxExtraLoad: 0.05, MaxCount: 32,
//	})
//	if err != nil { ... }
//	defer c.Close()
//	resp, err := c.Do(ctx, tailrace.Request{Method: "GET", URL: "/items/42", OrderKey: "42"})
//	switch {
//	case errors.Is(err, tailrace.ErrLimitQueueFull): // rejected at once, nothing was sent
//	case err != nil: ...
//	}
//	fmt.Println(resp.Status, resp.Host, resp.Attempts)
//
// # Building
//
// The package links libtailrace statically by default, so a Go binary needs nothing at run
// time. Build the library once, at the repository root, before go build or go test:
//
//	cargo build --release -p tailrace-ffi     # makes target/release/libtailrace.a
//
// With -tags dynamic the package links libtailrace.so found by pkg-config instead (see
// ffi/install.sh). cgo must be enabled (CGO_ENABLED=1, the default with a C compiler).
//
// # How a call travels
//
// Do copies the request into C memory and submits it with tailrace_send under an integer id;
// no Go pointer is ever handed to C, and no Go code runs on the library's threads. One
// dispatcher goroutine per client waits on the client's completion queue and hands each outcome
// to the Do waiting for it, which copies the response into Go memory and frees the C one at
// once. Cancelling Do's context cancels the call inside the runtime.
//
// # Processes
//
// libtailrace linked into a Go binary is its own copy of the library: a process that also loads
// libtailrace.so or the Python extension has one runtime per copy. The runtime has
// TAILRACE_WORKER_THREADS worker threads, by default one fewer than the cores (at least one):
// the Go scheduler's threads submit calls and take their outcomes on the core left to them.
package tailrace
