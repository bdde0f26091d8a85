package tailrace

// Every call into libtailrace is in this file. The rules it keeps:
//   - No Go pointer is ever handed to C. Strings and bodies are copied by Go into one C.malloc'd
//     arena per request or config, which a C helper below reads and frees; outputs come back as
//     C structs returned by value. A call is known to C by an integer id only.
//   - No Go code ever runs on a runtime thread: there are no callbacks. Outcomes are posted to a
//     completion queue that one dispatcher goroutine per client drains (client.go).
//   - An error message is read on the thread that made the failing call, inside the same C
//     helper (tailrace_last_error_message is per thread; a goroutine may change threads between
//     two cgo calls), and comes back strdup'd.
//   - The small helpers exist to make one cgo crossing do the work of several.

/*
#include <stdlib.h>
#include <string.h>
#include "tailrace.h"

#define TRGO_BATCH 256
#define TRGO_INLINE_HEADERS 16

typedef struct { int code; char *msg; } trgo_status;

static trgo_status trgo_status_of(tailrace_result code) {
	trgo_status s = { (int)code, NULL };
	if (code != TAILRACE_OK) s.msg = strdup(tailrace_last_error_message());
	return s;
}

// The next NUL-terminated string of an arena.
static const char *trgo_next(const char **cursor) {
	const char *s = *cursor;
	*cursor += strlen(s) + 1;
	return s;
}

typedef struct {
	trgo_status st;
	size_t bad_option;
	tailrace_client *client;
	tailrace_queue *queue;
} trgo_open_result;

// A config from n (name, value) strings in arena (freed here), then a client and its queue.
static trgo_open_result trgo_open(char *arena, size_t n_options) {
	trgo_open_result r;
	memset(&r, 0, sizeof r);
	r.bad_option = (size_t)-1;
	tailrace_config *config = NULL;
	tailrace_result code = tailrace_config_new(&config);
	const char *cur = arena;
	for (size_t i = 0; code == TAILRACE_OK && i < n_options; i++) {
		const char *name = trgo_next(&cur);
		const char *value = trgo_next(&cur);
		code = tailrace_config_set(config, name, value, NULL, 0);
		if (code != TAILRACE_OK) r.bad_option = i;
	}
	free(arena);
	if (code == TAILRACE_OK) code = tailrace_client_new(config, &r.client);
	r.st = trgo_status_of(code);
	tailrace_config_free(config);
	if (code != TAILRACE_OK) return r;
	code = tailrace_queue_new(&r.queue);
	if (code != TAILRACE_OK) {
		r.st = trgo_status_of(code);
		tailrace_client_free(r.client);
		r.client = NULL;
	}
	return r;
}

// Check one option (name, value in arena, freed here) against a throwaway config.
static trgo_status trgo_check_option(char *arena) {
	const char *cur = arena;
	const char *name = trgo_next(&cur);
	const char *value = trgo_next(&cur);
	tailrace_config *config = NULL;
	tailrace_result code = tailrace_config_new(&config);
	if (code == TAILRACE_OK) code = tailrace_config_set(config, name, value, NULL, 0);
	trgo_status s = trgo_status_of(code);
	tailrace_config_free(config);
	free(arena);
	return s;
}

// Build a request from arena (method, url, n_headers name/value pairs, n_fields name/value
// pairs, then body_len bytes at body_off) and send it to queue with id. Frees arena.
static trgo_status trgo_send(const tailrace_client *client, const tailrace_queue *queue,
		uint64_t id, char *arena, size_t n_headers, size_t n_fields, size_t body_off,
		size_t body_len) {
	const char *cur = arena;
	const char *method = trgo_next(&cur);
	const char *url = trgo_next(&cur);
	tailrace_request *req = NULL;
	tailrace_result code = tailrace_request_new(method, url, &req);
	for (size_t i = 0; code == TAILRACE_OK && i < n_headers; i++) {
		const char *name = trgo_next(&cur);
		const char *value = trgo_next(&cur);
		code = tailrace_request_header_add(req, name, value);
	}
	for (size_t i = 0; code == TAILRACE_OK && i < n_fields; i++) {
		const char *name = trgo_next(&cur);
		const char *value = trgo_next(&cur);
		code = tailrace_request_set(req, name, value);
	}
	if (code == TAILRACE_OK && body_len > 0)
		code = tailrace_request_body_set(req, (const uint8_t *)arena + body_off, body_len);
	free(arena);
	if (code != TAILRACE_OK) {
		trgo_status s = trgo_status_of(code);
		tailrace_request_free(req);
		return s;
	}
	return trgo_status_of(tailrace_send(client, req, queue, id));
}

typedef struct { size_t count; tailrace_event events[TRGO_BATCH]; } trgo_batch;

static trgo_batch *trgo_batch_new(void) { return calloc(1, sizeof(trgo_batch)); }

static trgo_status trgo_wait(const tailrace_queue *queue, trgo_batch *b) {
	b->count = 0;
	return trgo_status_of(tailrace_queue_wait(queue, -1, b->events, TRGO_BATCH, &b->count));
}

// Free every response and error of the last wait's events, once Go has copied them: one
// crossing per batch instead of one per event.
static void trgo_batch_free(trgo_batch *b) {
	for (size_t i = 0; i < b->count; i++) {
		tailrace_response_free(b->events[i].response);
		tailrace_error_free(b->events[i].error);
	}
	b->count = 0;
}

typedef struct {
	int status, version;
	uint32_t attempts, winner;
	uint64_t elapsed_us;
	const char *host;
	size_t host_len;
	const uint8_t *body;
	size_t body_len;
	size_t header_count;
	tailrace_header headers[TRGO_INLINE_HEADERS];
} trgo_response_info;

// Everything about a response in one crossing (the first TRGO_INLINE_HEADERS headers too).
static trgo_response_info trgo_response_read(const tailrace_response *r) {
	trgo_response_info info;
	memset(&info, 0, sizeof info);
	info.status = tailrace_response_status(r);
	info.version = tailrace_response_version(r);
	info.attempts = tailrace_response_attempts(r);
	info.winner = tailrace_response_winner(r);
	info.elapsed_us = tailrace_response_elapsed_us(r);
	info.host = tailrace_response_host(r);
	info.host_len = strlen(info.host);
	tailrace_response_body(r, &info.body, &info.body_len);
	tailrace_response_headers(r, info.headers, TRGO_INLINE_HEADERS, &info.header_count);
	return info;
}

// Up to cap headers of r into out (C memory); returns how many r has.
static size_t trgo_response_headers(const tailrace_response *r, tailrace_header *out, size_t cap) {
	size_t count = 0;
	tailrace_response_headers(r, out, cap, &count);
	return count;
}

typedef struct {
	int code, timeout, sent, status;
	const char *message;
	size_t attempts;
} trgo_error_info;

static trgo_error_info trgo_error_read(const tailrace_error *e) {
	trgo_error_info info;
	info.code = tailrace_error_code(e);
	info.timeout = tailrace_error_timeout(e);
	info.sent = tailrace_error_sent(e);
	info.status = tailrace_error_status(e);
	info.message = tailrace_error_message(e);
	info.attempts = tailrace_error_attempt_count(e);
	return info;
}

typedef struct { uint32_t attempt; const char *host; trgo_error_info cause; } trgo_attempt;

// Failed attempt i: which attempt, its host, and its cause read like any error.
static trgo_attempt trgo_error_attempt(const tailrace_error *e, size_t i) {
	trgo_attempt a;
	const tailrace_error *cause = NULL;
	a.attempt = 0;
	a.host = "";
	tailrace_error_attempt(e, i, NULL, &a.host, NULL);
	tailrace_error_attempt_cause(e, i, &a.attempt, &cause);
	a.cause = trgo_error_read(cause);
	return a;
}

typedef struct { trgo_status st; char *text; size_t len; } trgo_text;

static trgo_text trgo_stats(const tailrace_client *client, int prometheus) {
	trgo_text t = { { 0, NULL }, NULL, 0 };
	tailrace_result code = prometheus
		? tailrace_client_stats_prometheus(client, &t.text, &t.len)
		: tailrace_client_stats_json(client, &t.text, &t.len);
	t.st = trgo_status_of(code);
	return t;
}

// Does nothing: the benchmarks time one bare cgo crossing with it.
static void trgo_noop(void) {}

typedef struct { int code; const char *name, *def, *doc; } trgo_option;

static trgo_option trgo_option_at(size_t i) {
	trgo_option o = { 0, "", "", "" };
	o.code = tailrace_option_at(i, &o.name, &o.def, &o.doc);
	return o;
}
*/
import "C"

import (
	"net/http"
	"net/textproto"
	"time"
	"unsafe"
)

// handle holds a client's C objects. Only client.go's locking decides when they may be used.
type handle struct {
	client *C.tailrace_client
	queue  *C.tailrace_queue
	batch  *C.trgo_batch // the dispatcher's event buffer, in C memory
}

// statusError turns a helper's failed status into an *Error and frees its message.
func statusError(st C.trgo_status) *Error {
	msg := ""
	if st.msg != nil {
		msg = C.GoString(st.msg)
		C.free(unsafe.Pointer(st.msg))
	}
	return &Error{Code: Code(st.code), Message: withGoNames(msg), Sent: SentNo}
}

// arena is C memory laid out by Go for one helper call: NUL-terminated strings, then raw bytes.
type arena struct {
	ptr unsafe.Pointer
	buf []byte // the same memory, seen from Go
	off int
}

func newArena(size int) arena {
	if size == 0 {
		size = 1
	}
	p := C.malloc(C.size_t(size))
	return arena{ptr: p, buf: unsafe.Slice((*byte)(p), size)}
}

func (a *arena) str(s string) {
	a.off += copy(a.buf[a.off:], s)
	a.buf[a.off] = 0
	a.off++
}

func (a *arena) bytes(b []byte) { a.off += copy(a.buf[a.off:], b) }

func (a *arena) free() { C.free(a.ptr) }

// capiOpen makes a client and its completion queue from the config's options.
func capiOpen(opts []option) (*handle, error) {
	size := 0
	for _, o := range opts {
		size += len(o.name) + len(o.value) + 2
	}
	a := newArena(size)
	for _, o := range opts {
		a.str(o.name)
		a.str(o.value)
	}
	r := C.trgo_open((*C.char)(a.ptr), C.size_t(len(opts)))
	if r.st.code != 0 {
		err := statusError(r.st)
		if err.Code == CodeInvalidUTF8 || err.Code == CodeNullArgument {
			err.Code = CodeInvalidOption
		}
		return nil, err
	}
	return &handle{client: r.client, queue: r.queue, batch: C.trgo_batch_new()}, nil
}

// capiCheckOption checks one option by name against the library's option table.
func capiCheckOption(name, value string) error {
	a := newArena(len(name) + len(value) + 2)
	a.str(name)
	a.str(value)
	if st := C.trgo_check_option((*C.char)(a.ptr)); st.code != 0 {
		err := statusError(st)
		err.Code = CodeInvalidOption
		return err
	}
	return nil
}

// encodedRequest is a request copied into C memory, ready for capiSend.
type encodedRequest struct {
	a                 arena
	nHeaders, nFields int
	bodyOff, bodyLen  int
}

// encodeRequest copies a checked request into a C arena (see trgo_send for the layout).
func encodeRequest(method, url string, header http.Header, fields []option, body []byte) encodedRequest {
	size := len(method) + len(url) + 2 + len(body)
	nHeaders := 0
	for name, values := range header {
		for _, v := range values {
			size += len(name) + len(v) + 2
			nHeaders++
		}
	}
	for _, f := range fields {
		size += len(f.name) + len(f.value) + 2
	}
	a := newArena(size)
	a.str(method)
	a.str(url)
	for name, values := range header {
		for _, v := range values {
			a.str(name)
			a.str(v)
		}
	}
	for _, f := range fields {
		a.str(f.name)
		a.str(f.value)
	}
	off := a.off
	a.bytes(body)
	return encodedRequest{a: a, nHeaders: nHeaders, nFields: len(fields), bodyOff: off, bodyLen: len(body)}
}

// capiSend sends an encoded request (consumed in every case) under id.
func capiSend(h *handle, id uint64, r *encodedRequest) *Error {
	st := C.trgo_send(h.client, h.queue, C.uint64_t(id), (*C.char)(r.a.ptr),
		C.size_t(r.nHeaders), C.size_t(r.nFields), C.size_t(r.bodyOff), C.size_t(r.bodyLen))
	if st.code != 0 {
		err := statusError(st)
		if err.Code == CodeInvalidUTF8 || err.Code == CodeNullArgument || err.Code == CodeInvalidLength {
			err.Code = CodeInvalidRequest
		}
		return err
	}
	return nil
}

// capiCancel asks the runtime to drop call id; its event still comes (cancelled, or its real
// outcome when it ended first).
func capiCancel(h *handle, id uint64) { C.tailrace_cancel(h.client, C.uint64_t(id)) }

// capiCloseClient ends the client's pending calls with client_closed; their events still come.
func capiCloseClient(h *handle) { C.tailrace_client_close(h.client) }

// capiWake makes the dispatcher's current or next wait return at once.
func capiWake(h *handle) { C.tailrace_queue_wake(h.queue) }

// capiFree frees the C objects; nothing may use h afterwards.
func capiFree(h *handle) {
	C.tailrace_client_free(h.client)
	C.tailrace_queue_free(h.queue)
	C.free(unsafe.Pointer(h.batch))
}

// completion is one call's outcome as the queue gave it: C objects, read by take and freed with
// the rest of their batch by capiFreeBatch.
type completion struct {
	id   uint64
	code Code
	resp *C.tailrace_response
	err  *C.tailrace_error
}

// capiWait blocks until events (or a wake) arrive and appends them to out. Their C objects stay
// in h.batch until capiFreeBatch, which must come before the next wait.
func capiWait(h *handle, out []completion) ([]completion, error) {
	if st := C.trgo_wait(h.queue, h.batch); st.code != 0 {
		return out, statusError(st)
	}
	events := unsafe.Slice(&h.batch.events[0], int(h.batch.count))
	for i := range events {
		ev := &events[i]
		out = append(out, completion{id: uint64(ev.id), code: Code(ev.result), resp: ev.response, err: ev.error})
	}
	return out, nil
}

// capiFreeBatch frees the C objects of the last wait's events (after take has copied each).
func capiFreeBatch(h *handle) { C.trgo_batch_free(h.batch) }

// decoder copies responses into Go memory for the one dispatcher goroutine that owns it. It keeps
// what repeats from one response to the next, so that it is not allocated again: the canonical
// form of each header name (the library gives names in lower case) and each host's base URL.
type decoder struct {
	names map[string]string // header name as the library gives it -> canonical form
	hosts map[string]string // base URL -> the same, as a Go string
	// Room in C memory for the headers of a response with more than TRGO_INLINE_HEADERS
	// (rare): grown as needed, freed by free.
	many    *C.tailrace_header
	manyCap int
}

// What a decoder keeps at most: past these, new names and hosts are copied for each response
// (a backend sending ever-new header names must not grow the client's memory).
const decoderMaxNames, decoderMaxHosts = 512, 256

func newDecoder() *decoder {
	return &decoder{names: make(map[string]string), hosts: make(map[string]string)}
}

// allHeaders reads all n headers of r in one crossing, into the decoder's C memory (valid
// until the next call).
func (d *decoder) allHeaders(r *C.tailrace_response, n int) []C.tailrace_header {
	if n > d.manyCap {
		size := C.size_t(n) * C.size_t(unsafe.Sizeof(C.tailrace_header{}))
		p := (*C.tailrace_header)(C.realloc(unsafe.Pointer(d.many), size))
		if p == nil {
			panic("tailrace: out of C memory for a response's headers")
		}
		d.many, d.manyCap = p, n
	}
	count := C.trgo_response_headers(r, d.many, C.size_t(n))
	return unsafe.Slice(d.many, min(n, int(count)))
}

// free releases the decoder's C memory.
func (d *decoder) free() {
	C.free(unsafe.Pointer(d.many))
	d.many, d.manyCap = nil, 0
}

// cBytes views n bytes of C memory in place (valid while the C object holding them lives); the
// C helpers give each string's length, so no strlen crossing is needed.
func cBytes(p *C.char, n C.size_t) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}

// canonical is http.CanonicalHeaderKey of a header name, from the cache when it is there (a
// lookup with string(raw) as the key does not allocate).
func (d *decoder) canonical(raw []byte) string {
	if name, ok := d.names[string(raw)]; ok {
		return name
	}
	name := textproto.CanonicalMIMEHeaderKey(string(raw))
	if len(d.names) < decoderMaxNames {
		d.names[string(raw)] = name
	}
	return name
}

// host is a base URL as a Go string, from the cache when it is there.
func (d *decoder) host(p *C.char, n C.size_t) string {
	raw := cBytes(p, n)
	if host, ok := d.hosts[string(raw)]; ok {
		return host
	}
	host := string(raw)
	if len(d.hosts) < decoderMaxHosts {
		d.hosts[host] = host
	}
	return host
}

// take copies the outcome into Go memory (capiFreeBatch frees the C object).
func (c completion) take(d *decoder) (*Response, error) {
	if c.resp == nil {
		return nil, readError(c.err, c.code)
	}
	info := C.trgo_response_read(c.resp)
	n := int(info.header_count)
	var headers []C.tailrace_header
	if n <= C.TRGO_INLINE_HEADERS {
		headers = info.headers[:n]
	} else {
		headers = d.allHeaders(c.resp, n)
	}
	resp := &Response{
		Status:   int(info.status),
		Proto:    protoName(int(info.version)),
		Header:   decodeHeaders(d, headers),
		Body:     goBytes(info.body, info.body_len),
		Host:     d.host(info.host, info.host_len),
		Attempts: int(info.attempts),
		Winner:   int(info.winner),
		Elapsed:  time.Duration(info.elapsed_us) * time.Microsecond,
	}
	return resp, nil
}

// decodeHeaders copies headers into an http.Header with three allocations whatever their number
// (as net/textproto reads them): the map, one string holding every value (each value is a slice
// of it), and one array behind the first value of each name.
func decodeHeaders(d *decoder, headers []C.tailrace_header) http.Header {
	total := 0
	for _, h := range headers {
		total += int(h.value_len)
	}
	blob := make([]byte, 0, total)
	for _, h := range headers {
		if h.value_len > 0 {
			blob = append(blob, unsafe.Slice((*byte)(unsafe.Pointer(h.value)), int(h.value_len))...)
		}
	}
	// Never written again: the string may share its bytes.
	values := unsafe.String(unsafe.SliceData(blob), len(blob))
	first := make([]string, len(headers))
	header := make(http.Header, len(headers))
	off := 0
	for i, h := range headers {
		name := d.canonical(cBytes(h.name, h.name_len))
		value := values[off : off+int(h.value_len)]
		off += int(h.value_len)
		if prev, ok := header[name]; ok {
			header[name] = append(prev, value) // prev has no spare capacity: first is untouched
		} else {
			first[i] = value
			header[name] = first[i : i+1 : i+1]
		}
	}
	return header
}

func protoName(version int) string {
	switch version {
	case 10:
		return "HTTP/1.0"
	case 11:
		return "HTTP/1.1"
	case 20:
		return "HTTP/2.0"
	case 30:
		return "HTTP/3.0"
	default:
		return ""
	}
}

// readError copies a call's C error into Go values.
func readError(e *C.tailrace_error, code Code) error {
	if e == nil {
		return &Error{Code: code, Message: "no error details from the library", Sent: SentMaybe}
	}
	info := C.trgo_error_read(e)
	err := errorFromInfo(info)
	if err.Code != CodeAllAttemptsFailed {
		return err
	}
	all := &AllAttemptsFailedError{Call: err, Attempts: make([]AttemptError, int(info.attempts))}
	for i := range all.Attempts {
		a := C.trgo_error_attempt(e, C.size_t(i))
		all.Attempts[i] = AttemptError{
			Attempt: int(a.attempt),
			Host:    C.GoString(a.host),
			Err:     errorFromInfo(a.cause),
		}
	}
	return all
}

// errorFromInfo copies what trgo_error_read read into an *Error.
func errorFromInfo(info C.trgo_error_info) *Error {
	return &Error{
		Code:    Code(info.code),
		Message: withGoNames(C.GoString(info.message)),
		Timeout: TimeoutKind(info.timeout),
		Sent:    Sent(info.sent),
		Status:  int(info.status),
	}
}

// capiStats is the client's stats as JSON (or Prometheus text).
func capiStats(h *handle, prometheus bool) ([]byte, error) {
	p := C.int(0)
	if prometheus {
		p = 1
	}
	t := C.trgo_stats(h.client, p)
	if t.st.code != 0 {
		return nil, statusError(t.st)
	}
	defer C.tailrace_buf_free(t.text)
	return goBytes((*C.uint8_t)(unsafe.Pointer(t.text)), t.len), nil
}

// goBytes copies n bytes of C memory into a new Go slice (C.GoBytes takes an int32 length).
func goBytes(p *C.uint8_t, n C.size_t) []byte {
	out := make([]byte, int(n))
	if n > 0 {
		copy(out, unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)))
	}
	return out
}

// OptionInfo is one client option as the library knows it.
type OptionInfo struct {
	Name    string // e.g. "max_count"
	Default string // in the string form Set takes
	Doc     string // one line, with the unit
}

// Options lists every client option the linked library knows, in its own order.
func Options() []OptionInfo {
	n := int(C.tailrace_option_count())
	out := make([]OptionInfo, 0, n)
	for i := 0; i < n; i++ {
		o := C.trgo_option_at(C.size_t(i))
		if o.code != 0 {
			break
		}
		out = append(out, OptionInfo{C.GoString(o.name), C.GoString(o.def), C.GoString(o.doc)})
	}
	return out
}

// LibraryVersion is the version of the linked libtailrace, e.g. "0.1.0".
func LibraryVersion() string { return C.GoString(C.tailrace_version()) }

// resultName is the C library's snake_case name of a code (tests check codeNames against it).
func resultName(c Code) string { return C.GoString(C.tailrace_result_name(C.int(c))) }

// cgoNoop is one bare Go → C → Go crossing (for the benchmarks).
func cgoNoop() { C.trgo_noop() }
