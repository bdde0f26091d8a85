package tailrace

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
)

// Client makes HTTP calls through libtailrace: hedged, limited per key, ordered per key. It is
// safe for use by any number of goroutines at once; make one per set of backends and share it.
// Close it when done: it owns C memory and a goroutine, and has no finalizer.
type Client struct {
	h *handle

	// submitMu is held for reading while a call is being submitted or stats are read, and for
	// writing by Close to flip closed: after that nothing new reaches the C client.
	submitMu sync.RWMutex
	closed   bool

	nextID    atomic.Uint64
	pendingMu sync.Mutex
	pending   map[uint64]chan completion // id → the waiting Do's channel (buffered, 1)

	calls          sync.WaitGroup // Do calls that submitted and have not returned
	stopping       atomic.Bool    // set by Close once no call is pending
	dispatcherDone chan struct{}
	closeOnce      sync.Once
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
	c := &Client{h: h, pending: make(map[uint64]chan completion), dispatcherDone: make(chan struct{})}
	go c.dispatch()
	return c, nil
}

var completionChans = sync.Pool{New: func() any { return make(chan completion, 1) }}

// Do makes one call and waits for its outcome.
//
// Submission order: the call takes its place in the client's submission order (which order
// keys and Flush follow) when Do submits it, before Do waits. Calls made one after another from
// one goroutine are therefore in order; calls from goroutines racing each other are in
// whichever order their Do calls submit.
//
// Errors: an *Error matching one of the Err* sentinels (errors.Is), or for a call whose every
// attempt failed an *AllAttemptsFailedError. When ctx is cancelled or expires first, the call is
// cancelled inside the runtime (its limiter slot, order-key turn and connections are released
// before Do returns) and the error matches both ErrCancelled and ctx.Err(). After Close, or
// when Close ends the call, the error matches ErrClosed.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	if ctx == nil {
		return nil, newError(CodeInvalidRequest, "nil context (use context.Background())")
	}
	enc, err := req.encode()
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		enc.a.free()
		return nil, contextError(ctx, SentNo)
	}

	ch := completionChans.Get().(chan completion)
	c.submitMu.RLock()
	if c.closed {
		c.submitMu.RUnlock()
		enc.a.free()
		return nil, closedError()
	}
	c.calls.Add(1)
	defer c.calls.Done()
	id := c.nextID.Add(1)
	c.pendingMu.Lock()
	c.pending[id] = ch
	c.pendingMu.Unlock()
	sendErr := capiSend(c.h, id, enc)
	c.submitMu.RUnlock()
	if sendErr != nil {
		c.pendingMu.Lock()
		delete(c.pending, id)
		c.pendingMu.Unlock()
		completionChans.Put(ch)
		return nil, sendErr
	}

	var done completion
	select {
	case done = <-ch:
	case <-ctx.Done():
		// The event still comes (cancelled, or the real outcome if it ended first); wait for it
		// so the C objects are freed and the slot is released before Do returns.
		capiCancel(c.h, id)
		done = <-ch
		completionChans.Put(ch)
		done.free()
		return nil, contextError(ctx, SentMaybe)
	}
	completionChans.Put(ch)
	return done.take()
}

// dispatch drains the completion queue in batches and hands each outcome to its Do call.
func (c *Client) dispatch() {
	defer close(c.dispatcherDone)
	batch := make([]completion, 0, 256)
	for {
		var err error
		batch, err = capiWait(c.h, batch[:0])
		if err != nil {
			panic("tailrace: waiting on the completion queue failed: " + err.Error())
		}
		c.pendingMu.Lock()
		for i, ev := range batch {
			ch, ok := c.pending[ev.id]
			delete(c.pending, ev.id)
			if ok {
				ch <- ev // buffered and registered once: never blocks
			} else {
				ev.free() // not ours (cannot happen): do not leak it
			}
			batch[i] = completion{}
		}
		c.pendingMu.Unlock()
		if c.stopping.Load() {
			return
		}
	}
}

// Close closes the client: calls still in flight end with an error matching ErrClosed, later
// calls fail with it at once, and the client's C memory and goroutine are released. It returns
// once every Do has returned. Calling it again does nothing.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.submitMu.Lock()
		c.closed = true
		c.submitMu.Unlock()
		capiCloseClient(c.h) // every pending call's event now comes promptly
		c.calls.Wait()       // ...and every Do has taken its event
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
