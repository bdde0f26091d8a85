package tailrace

import (
	"context"
	"encoding/json"
	"runtime"
	"sync"
	"sync/atomic"
)

// Client makes HTTP calls through libtailrace: hedged, limited per key, ordered per key. It is
// safe for use by any number of goroutines at once; make one per set of backends and share it.
// Close it when done: it owns C memory and a goroutine, and has no finalizer.
type Client struct {
	h *handle

	// submitMu is held for reading while anything uses the C client (submit, cancel, stats),
	// and for writing by Close to set closed: after that only Close touches the C client.
	submitMu sync.RWMutex
	closed   bool

	nextID    atomic.Uint64
	pendingMu sync.Mutex
	pending   map[uint64]chan outcome // id → its Call's channel (buffered, 1)
	inC       sync.WaitGroup          // calls sent whose outcome the dispatcher has not delivered

	stopping       atomic.Bool // set by Close once no call is pending
	dispatcherDone chan struct{}
	closeOnce      sync.Once
}

// outcome is a call's result in Go memory.
type outcome struct {
	resp *Response
	err  error
}

// NewClient makes a client from cfg. A bad option returns an *Error matching ErrInvalidOption
// whose message names it.
func NewClient(cfg Config) (*Client, error) {
	opts := cfg.options()
	for _, o := range opts {
		if err := checkOptionString(o.name, o.value); err != nil {
			return nil, err
		}
	}
	h, err := capiOpen(opts)
	if err != nil {
		return nil, err
	}
	c := &Client{h: h, pending: make(map[uint64]chan outcome), dispatcherDone: make(chan struct{})}
	go c.dispatch()
	return c, nil
}

// Do makes one call and waits for its outcome: Start followed by Wait.
//
// Submission order: the call takes its place in the client's submission order (which order
// keys and Flush follow) when it is submitted, before Do waits. Calls made one after another
// from one goroutine are therefore in order; calls from goroutines racing each other are in
// whichever order their submissions happen. Use Start to submit several calls in a known order
// and wait for them later.
//
// Errors: an *Error matching one of the Err* sentinels (errors.Is), or for a call whose every
// attempt failed an *AllAttemptsFailedError. When ctx is cancelled or expires first, the call is
// cancelled inside the runtime (its limiter slot, order-key turn and connections are released
// before Do returns) and the error matches both ErrCancelled and ctx.Err(). After Close, or
// when Close ends the call, the error matches ErrClosed.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	// The Call never leaves Do, so it (and its channel) is reused: three allocations fewer.
	call := callPool.Get().(*Call)
	if err := c.start(ctx, req, call); err != nil {
		*call = Call{ch: call.ch} // nothing was sent: the channel is empty
		callPool.Put(call)
		return nil, err
	}
	resp, err := call.Wait()
	// Wait has taken the one outcome, and the dispatcher forgot the call before sending it:
	// nothing refers to the call or its (empty) channel any more.
	*call = Call{ch: call.ch}
	callPool.Put(call)
	return resp, err
}

// callPool holds Calls for Do, each with its buffered channel.
var callPool = sync.Pool{New: func() any { return newCall() }}

// newCall is a Call not yet submitted, with its channel: buffered for the one outcome, so the
// dispatcher never blocks on a call nobody waits for.
func newCall() *Call { return &Call{ch: make(chan outcome, 1)} }

// Call is a submitted call, from Start.
type Call struct {
	c    *Client
	id   uint64
	ctx  context.Context
	ch   chan outcome
	once sync.Once
	out  outcome
}

// Start submits a call and returns at once; Wait gives its outcome. The call has its place in
// submission order when Start returns, and runs whether or not anyone waits for it. ctx works
// as for Do (while Wait waits). Errors in the request itself are returned by Start; nothing is
// sent then.
func (c *Client) Start(ctx context.Context, req Request) (*Call, error) {
	call := newCall()
	if err := c.start(ctx, req, call); err != nil {
		return nil, err
	}
	return call, nil
}

// start submits req as call, a fresh Call whose channel is empty.
func (c *Client) start(ctx context.Context, req Request, call *Call) error {
	if ctx == nil {
		return newError(CodeInvalidRequest, "nil context (use context.Background())")
	}
	enc, err := req.encode()
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		enc.a.free()
		return contextError(ctx, SentNo)
	}
	call.c, call.ctx = c, ctx
	c.submitMu.RLock()
	if c.closed {
		c.submitMu.RUnlock()
		enc.a.free()
		return closedError()
	}
	call.id = c.nextID.Add(1)
	c.inC.Add(1)
	c.pendingMu.Lock()
	c.pending[call.id] = call.ch
	c.pendingMu.Unlock()
	sendErr := capiSend(c.h, call.id, &enc)
	c.submitMu.RUnlock()
	if sendErr != nil {
		c.pendingMu.Lock()
		delete(c.pending, call.id)
		c.pendingMu.Unlock()
		c.inC.Done()
		return sendErr
	}
	return nil
}

// Wait waits for the call's outcome (see Do). Calling it again returns the same outcome.
func (call *Call) Wait() (*Response, error) {
	call.once.Do(func() {
		done := call.ctx.Done()
		if done == nil { // a context that never ends (Background, TODO): a plain receive
			call.out = <-call.ch
			return
		}
		// An outcome already here wins over a context that has ended too (select would pick
		// between them at random, and could discard a call that completed).
		select {
		case call.out = <-call.ch:
			return
		default:
		}
		select {
		case call.out = <-call.ch:
		case <-done:
			// Wait for the outcome even so: once it is here the runtime has dropped the call,
			// so its limiter slot and order-key turn are free when Wait returns.
			call.Cancel()
			call.out = <-call.ch
			// Only a call our cancel really ended reports the context's error; one that ended
			// on its own first (a response, another error) keeps its real outcome.
			if e, ok := call.out.err.(*Error); ok && e.Code == CodeCancelled {
				call.out = outcome{err: contextError(call.ctx, e.Sent)}
			}
		}
	})
	return call.out.resp, call.out.err
}

// Cancel cancels the call inside the runtime: Wait then returns an error matching
// ErrCancelled, unless the call ended first. Cancelling twice, or a finished call, is harmless.
func (call *Call) Cancel() {
	c := call.c
	c.submitMu.RLock()
	if !c.closed { // once closed, Close has ended every call already
		capiCancel(c.h, call.id)
	}
	c.submitMu.RUnlock()
}

// dispatch drains the completion queue in batches, copies each outcome into Go memory and hands
// it to its call, then frees the batch's C outcomes in one crossing.
func (c *Client) dispatch() {
	defer close(c.dispatcherDone)
	batch := make([]completion, 0, 256)
	d := newDecoder()
	defer d.free()
	for {
		var err error
		batch, err = capiWait(c.h, batch[:0])
		if err != nil {
			panic("tailrace: waiting on the completion queue failed: " + err.Error())
		}
		for i, ev := range batch {
			resp, err := ev.take(d)
			c.pendingMu.Lock()
			ch, ok := c.pending[ev.id]
			delete(c.pending, ev.id)
			c.pendingMu.Unlock()
			if ok {
				ch <- outcome{resp, err} // buffered, one outcome per call: never blocks
				c.inC.Done()
			}
			batch[i] = completion{}
		}
		// The batch's responses were copied as they were handed out; free them all at once.
		capiFreeBatch(c.h)
		if c.stopping.Load() {
			return
		}
		if len(batch) > 0 {
			// Let the goroutines just handed their outcomes run on this P now, before this
			// goroutine blocks in C holding it (else they wait for another thread to wake).
			runtime.Gosched()
		}
	}
}

// Close closes the client: calls still in flight end with an error matching ErrClosed, later
// calls fail with it at once, and the client's C memory and goroutine are released. It returns
// once every call's outcome has been delivered. Calling it again, or on a nil *Client, does
// nothing.
func (c *Client) Close() error {
	if c == nil { // NewClient failed: nothing to close
		return nil
	}
	c.closeOnce.Do(func() {
		c.submitMu.Lock()
		c.closed = true
		c.submitMu.Unlock()
		capiCloseClient(c.h) // every pending call's event now comes promptly
		c.inC.Wait()         // ...and the dispatcher has delivered each
		c.stopping.Store(true)
		capiWake(c.h)
		<-c.dispatcherDone
		capiFree(c.h)
	})
	return nil
}

// Stats is a snapshot of the client's numbers.
func (c *Client) Stats() (Stats, error) {
	var s Stats
	raw, err := c.StatsJSON()
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, newError(CodeInternal, "stats JSON did not decode: %v", err)
	}
	return s, nil
}

// StatsJSON is the stats snapshot as the JSON object every language shares.
func (c *Client) StatsJSON() ([]byte, error) { return c.stats(false) }

// StatsPrometheus is the same numbers in Prometheus text exposition format.
func (c *Client) StatsPrometheus() (string, error) {
	b, err := c.stats(true)
	return string(b), err
}

func (c *Client) stats(prometheus bool) ([]byte, error) {
	c.submitMu.RLock()
	defer c.submitMu.RUnlock()
	if c.closed {
		return nil, closedError()
	}
	return capiStats(c.h, prometheus)
}

func closedError() *Error {
	return &Error{Code: CodeClientClosed, Message: "the client is closed", Sent: SentNo}
}

func contextError(ctx context.Context, sent Sent) *Error {
	return &Error{
		Code:    CodeCancelled,
		Message: "call cancelled by its context: " + ctx.Err().Error(),
		Sent:    sent,
		ctxErr:  ctx.Err(),
	}
}
