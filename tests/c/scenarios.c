/* The scenario suite (tests/scenarios/README.md) driven through the C ABI, so C shows the same
 * semantics as Rust. Usage: scenarios DIR_OR_FILE...   Runs every *.json given (a directory: every
 * *.json in it, sorted) against one testbed subprocess, and prints "N passed, N failed". */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "support/json.h"
#include "support/testbed.h"
#include "tailrace.h"

static testbed tb;

/* ------------------------------------------------------------ helpers */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Failures of one scenario, collected as text. */
typedef struct {
  char text[8192];
  size_t len;
  int count;
} failures;

static void fail(failures *f, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (f->len < sizeof f->text - 2) {
    f->len += (size_t)snprintf(f->text + f->len, sizeof f->text - f->len, "    - ");
    if (f->len < sizeof f->text)
      f->len += (size_t)vsnprintf(f->text + f->len, sizeof f->text - f->len, fmt, ap);
    if (f->len < sizeof f->text - 1) f->text[f->len++] = '\n', f->text[f->len] = 0;
  }
  f->count++;
  va_end(ap);
}

/* A call of the script, and what happened to it. */
typedef struct {
  const char *id;
  double submit_after_ms, cancel_after_ms; /* cancel_after_ms < 0: none */
  double submitted_at;
  int cancel_done;
  int submit_rc;   /* the tailrace_send result */
  int result;      /* the event's result, or submit_rc when the send was refused */
  int ended;
  /* positions in the testbed's log (-1: none) */
  long first_start, last_end;
} call;

static int call_index(call *calls, size_t n, const char *id) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(calls[i].id, id)) return (int)i;
  return -1;
}

/* Field of a call as a string for a request field: strings as they are, bools and ints printed. */
static int field_text(const json *v, char *buf, size_t len) {
  if (!v) return 0;
  if (v->type == JSON_STRING) snprintf(buf, len, "%s", v->string);
  else if (v->type == JSON_BOOL) snprintf(buf, len, "%s", v->boolean ? "true" : "false");
  else if (v->type == JSON_NUMBER) snprintf(buf, len, "%.0f", v->number);
  else return 0;
  return 1;
}

/* ------------------------------------------------------------ one scenario */

static tailrace_client *scenario_client(const json *options, failures *f) {
  tailrace_config *cfg = NULL;
  tailrace_client *client = NULL;
  char err[512];
  tailrace_config_new(&cfg);
  tailrace_config_set(cfg, "hosts", tb.url, NULL, 0);
  for (size_t i = 0; options && options->type == JSON_OBJECT && i < options->len; i++) {
    char value[256];
    if (!field_text(options->items[i], value, sizeof value)) {
      fail(f, "client option `%s` is not a string", options->keys[i]);
      continue;
    }
    if (tailrace_config_set(cfg, options->keys[i], value, err, sizeof err) != TAILRACE_OK)
      fail(f, "client option %s=%s refused: %s", options->keys[i], value, err);
  }
  if (tailrace_client_new(cfg, &client) != TAILRACE_OK)
    fail(f, "client refused: %s", tailrace_last_error_message());
  tailrace_config_free(cfg);
  return client;
}

static tailrace_request *scenario_request(const json *c, size_t seq, failures *f) {
  char url[512], value[256];
  const char *id = json_string(json_get(c, "id"), "?");
  snprintf(url, sizeof url, "/scenario/%s?delay_ms=%.0f&status=%.0f", id,
           json_number(json_get(c, "delay_ms"), 0), json_number(json_get(c, "status"), 200));
  tailrace_request *req = NULL;
  if (tailrace_request_new(json_string(json_get(c, "method"), "GET"), url, &req) != TAILRACE_OK) {
    fail(f, "call %s: request refused: %s", id, tailrace_last_error_message());
    return NULL;
  }
  snprintf(value, sizeof value, "%zu", seq);
  tailrace_request_header_add(req, "x-seq", value);
  const char *fields[] = {"order_key", "flush", "limit_key", "idempotent", "timeout_ms"};
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    if (!field_text(json_get(c, fields[i]), value, sizeof value)) continue;
    if (tailrace_request_set(req, fields[i], value) != TAILRACE_OK)
      fail(f, "call %s: %s=%s refused: %s", id, fields[i], value, tailrace_last_error_message());
    if (!strcmp(fields[i], "order_key") && *value) tailrace_request_header_add(req, "x-key", value);
  }
  return req;
}

/* Cancel every call whose cancel time has come. */
static void run_due_cancels(tailrace_client *client, call *calls, size_t n) {
  double t = now_ms();
  for (size_t i = 0; i < n; i++) {
    call *c = &calls[i];
    if (c->cancel_after_ms >= 0 && !c->cancel_done && c->submitted_at > 0 &&
        t >= c->submitted_at + c->cancel_after_ms) {
      tailrace_cancel(client, i); /* UNKNOWN_CALL when it already ended: fine */
      c->cancel_done = 1;
    }
  }
}

/* The earliest pending cancel time, or a large number. */
static double next_cancel_at(call *calls, size_t n) {
  double next = 1e300;
  for (size_t i = 0; i < n; i++)
    if (calls[i].cancel_after_ms >= 0 && !calls[i].cancel_done && calls[i].submitted_at > 0 &&
        calls[i].submitted_at + calls[i].cancel_after_ms < next)
      next = calls[i].submitted_at + calls[i].cancel_after_ms;
  return next;
}

/* Events for no call of the scenario, or a second one for a call: each call ends exactly once. */
static size_t stray_events;

static void take_events(tailrace_queue *q, call *calls, size_t n, int timeout_ms, size_t *ended) {
  tailrace_event evs[64];
  size_t got = 0;
  if (tailrace_queue_wait(q, timeout_ms, evs, 64, &got) != TAILRACE_OK) return;
  for (size_t i = 0; i < got; i++) {
    if (evs[i].id < n && !calls[evs[i].id].ended) {
      calls[evs[i].id].result = evs[i].result;
      calls[evs[i].id].ended = 1;
      (*ended)++;
    } else {
      stray_events++;
    }
    tailrace_response_free(evs[i].response);
    tailrace_error_free(evs[i].error);
  }
}

/* Wait until `until` (ms, monotonic) while taking events. */
static void wait_taking_events(tailrace_queue *q, call *calls, size_t n, double until, size_t *ended) {
  for (;;) {
    double left = until - now_ms();
    if (left <= 0) return;
    take_events(q, calls, n, left < 1 ? 1 : (int)left, ended);
  }
}

/* Read the testbed log: first start and last end position of each call (by x-seq). */
static void read_log(const json *stats, call *calls, size_t n) {
  const json *events = json_get(stats, "events");
  for (size_t i = 0; i < n; i++) calls[i].first_start = calls[i].last_end = -1;
  for (size_t i = 0; events && i < events->len; i++) {
    const json *e = events->items[i];
    double seq = json_number(json_get(e, "seq"), -1);
    if (seq < 0 || seq >= (double)n) continue;
    call *c = &calls[(size_t)seq];
    const char *kind = json_string(json_get(e, "event"), "");
    if (!strcmp(kind, "start")) {
      if (c->first_start < 0) c->first_start = (long)i;
    } else {
      c->last_end = (long)i;
    }
  }
}

static void check_pairs(const json *pairs, call *calls, size_t n, int finished_before_start,
                        failures *f) {
  for (size_t i = 0; pairs && i < pairs->len; i++) {
    const char *a = json_string(json_at(pairs->items[i], 0), "");
    const char *b = json_string(json_at(pairs->items[i], 1), "");
    int ia = call_index(calls, n, a), ib = call_index(calls, n, b);
    if (ia < 0 || ib < 0) { fail(f, "pair [%s, %s] names an unknown call", a, b); continue; }
    call *ca = &calls[ia], *cb = &calls[ib];
    if (ca->first_start < 0 || cb->first_start < 0) {
      fail(f, "pair [%s, %s]: both must reach the testbed (%s: %s, %s: %s)", a, b, a,
           ca->first_start < 0 ? "not sent" : "sent", b, cb->first_start < 0 ? "not sent" : "sent");
      continue;
    }
    if (finished_before_start && !(ca->last_end >= 0 && ca->last_end < cb->first_start))
      fail(f, "finished_before_start [%s, %s]: %s ended at log position %ld, %s started at %ld", a,
           b, a, ca->last_end, b, cb->first_start);
    if (!finished_before_start && !(cb->last_end < 0 || ca->first_start < cb->last_end))
      fail(f, "started_before_finish [%s, %s]: %s started at log position %ld, %s ended at %ld", a,
           b, a, ca->first_start, b, cb->last_end);
  }
}

/* Whether `kind` names one of the library's error kinds (its result codes' snake_case names). */
static int known_error_kind(const char *kind) {
  for (int code = 1; code < 256; code++) {
    const char *name = tailrace_result_name(code);
    if (name && strcmp(name, kind) == 0) return 1;
  }
  return 0;
}

static void check_expect(const json *expect, tailrace_client *client, const json *stats, call *calls,
                         size_t n, failures *f) {
  const json *outcomes = json_get(expect, "outcomes");
  for (size_t i = 0; outcomes && i < outcomes->len; i++) {
    int ci = call_index(calls, n, outcomes->keys[i]);
    const char *want = json_string(outcomes->items[i], "?");
    if (ci < 0) { fail(f, "outcomes names an unknown call %s", outcomes->keys[i]); continue; }
    const char *got = calls[ci].result == TAILRACE_OK ? "ok" : tailrace_result_name(calls[ci].result);
    if (strcmp(got, want)) fail(f, "outcome of %s: %s, want %s", outcomes->keys[i], got, want);
  }
  check_pairs(json_get(expect, "finished_before_start"), calls, n, 1, f);
  check_pairs(json_get(expect, "started_before_finish"), calls, n, 0, f);

  const json *orders = json_get(expect, "start_order");
  for (size_t i = 0; orders && i < orders->len; i++) {
    const json *list = orders->items[i];
    long prev = -1;
    const char *prev_id = NULL;
    for (size_t k = 0; list && k < list->len; k++) {
      const char *id = json_string(list->items[k], "");
      int ci = call_index(calls, n, id);
      if (ci < 0 || calls[ci].first_start < 0) {
        fail(f, "start_order: %s never started", id);
        break;
      }
      if (calls[ci].first_start < prev) {
        fail(f, "start_order: %s started before %s", id, prev_id);
        break;
      }
      prev = calls[ci].first_start;
      prev_id = id;
    }
  }

  double max_in_flight = json_number(json_get(stats, "max_in_flight"), -1);
  const json *want = json_get(expect, "max_in_flight");
  if (want && json_number(want, -2) != max_in_flight)
    fail(f, "max_in_flight %.0f, want %.0f", max_in_flight, json_number(want, -2));
  want = json_get(expect, "max_in_flight_at_most");
  if (want && max_in_flight > json_number(want, 0))
    fail(f, "max_in_flight %.0f, want at most %.0f", max_in_flight, json_number(want, 0));

  const char *sets[] = {"not_sent", "sent"};
  for (int s = 0; s < 2; s++) {
    const json *ids = json_get(expect, sets[s]);
    for (size_t i = 0; ids && i < ids->len; i++) {
      const char *id = json_string(ids->items[i], "");
      int ci = call_index(calls, n, id);
      if (ci < 0) { fail(f, "%s names an unknown call %s", sets[s], id); continue; }
      int was_sent = calls[ci].first_start >= 0;
      if (was_sent != (s == 1)) fail(f, "%s: %s %s the testbed", sets[s], id, was_sent ? "reached" : "never reached");
    }
  }

  const json *want_stats = json_get(expect, "stats");
  if (want_stats && want_stats->len) {
    char *text = NULL;
    tailrace_client_stats_json(client, &text, NULL);
    json *got = text ? json_parse(text, NULL, 0) : NULL;
    for (size_t i = 0; i < want_stats->len; i++) {
      const json *v = json_path(got, want_stats->keys[i]);
      double w = json_number(want_stats->items[i], 0);
      /* an absent per-kind error count is 0, for a kind the library knows */
      int is_error_count = strncmp(want_stats->keys[i], "errors.", 7) == 0;
      double g = json_number(v, is_error_count ? 0 : -1);
      if (!v && (!is_error_count || !known_error_kind(want_stats->keys[i] + 7)))
        fail(f, "stats.%s missing (want %g)", want_stats->keys[i], w);
      else if (g != w)
        fail(f, "stats.%s = %g, want %g", want_stats->keys[i], g, w);
    }
    json_free(got);
    tailrace_buf_free(text);
  }
}

/* Run one scenario file; returns 1 when it passed. */
static int run_scenario(const char *path) {
  char err[256];
  failures f = {{0}, 0, 0};
  json *sc = json_parse_file(path, err, sizeof err);
  if (!sc) {
    printf("FAIL %s: not valid JSON: %s\n", path, err);
    return 0;
  }
  const char *name = json_string(json_get(sc, "name"), path);
  const json *script = json_get(sc, "calls");
  size_t n = script ? script->len : 0;
  call *calls = calloc(n ? n : 1, sizeof *calls);

  json_free(testbed_wait_idle(&tb));
  testbed_reset(&tb);
  tailrace_client *client = scenario_client(json_get(sc, "client"), &f);
  tailrace_queue *q = NULL;
  tailrace_queue_new(&q);
  size_t ended = 0;
  stray_events = 0;
  for (size_t i = 0; client && i < n; i++) {
    const json *c = script->items[i];
    calls[i].id = json_string(json_get(c, "id"), "?");
    calls[i].cancel_after_ms = json_number(json_get(c, "cancel_after_ms"), -1);
    calls[i].result = -1;
    /* sleep before submitting, cancelling what is due meanwhile */
    double submit_at = now_ms() + json_number(json_get(c, "submit_after_ms"), 0);
    for (;;) {
      double until = next_cancel_at(calls, n);
      if (until > submit_at) until = submit_at;
      wait_taking_events(q, calls, n, until, &ended);
      run_due_cancels(client, calls, n);
      if (now_ms() >= submit_at) break;
    }
    tailrace_request *req = scenario_request(c, i, &f);
    calls[i].submit_rc = req ? tailrace_send(client, req, q, i) : TAILRACE_E_INVALID_REQUEST;
    calls[i].submitted_at = now_ms();
    if (calls[i].submit_rc != TAILRACE_OK) {
      calls[i].result = calls[i].submit_rc; /* refused at submission: that is its outcome */
      calls[i].ended = 1;
      ended++;
    }
  }
  /* every call must end within 30 s */
  double deadline = now_ms() + 30000;
  while (client && ended < n && now_ms() < deadline) {
    double until = next_cancel_at(calls, n);
    if (until > deadline) until = deadline;
    if (until > now_ms() + 50) until = now_ms() + 50;
    wait_taking_events(q, calls, n, until, &ended);
    run_due_cancels(client, calls, n);
  }
  for (size_t i = 0; i < n; i++)
    if (!calls[i].ended) fail(&f, "call %s did not end within 30 s (hung)", calls[i].id);
  take_events(q, calls, n, 0, &ended); /* a late second event for some call */
  if (stray_events) fail(&f, "%zu events for no call or for a call that had already ended", stray_events);

  json *stats = testbed_wait_idle(&tb);
  if (!stats) fail(&f, "the testbed did not become idle");
  read_log(stats, calls, n);
  if (client) check_expect(json_get(sc, "expect"), client, stats, calls, n, &f);

  if (ended < n) tailrace_client_close(client);
  tailrace_client_free(client);
  /* a closed client ends what was left; take those events so nothing leaks */
  for (int tries = 0; ended < n && tries < 100; tries++) take_events(q, calls, n, 100, &ended);
  tailrace_queue_free(q);

  int ok = f.count == 0;
  if (ok) {
    printf("ok   %s\n", name);
  } else {
    printf("FAIL %s (%s)\n  rule: %s\n%s", name, path, json_string(json_get(sc, "rule"), "?"), f.text);
  }
  json_free(stats);
  free(calls);
  json_free(sc);
  return ok;
}

/* ------------------------------------------------------------ files */

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t collect(const char *arg, char ***paths, size_t n) {
  struct stat st;
  if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
    DIR *d = opendir(arg);
    struct dirent *e;
    while (d && (e = readdir(d))) {
      size_t len = strlen(e->d_name);
      if (len < 5 || strcmp(e->d_name + len - 5, ".json")) continue;
      *paths = realloc(*paths, (n + 1) * sizeof **paths);
      if (asprintf(&(*paths)[n], "%s/%s", arg, e->d_name) < 0) break;
      n++;
    }
    if (d) closedir(d);
  } else {
    *paths = realloc(*paths, (n + 1) * sizeof **paths);
    (*paths)[n++] = strdup(arg);
  }
  return n;
}

int main(int argc, char **argv) {
  char **paths = NULL;
  size_t n = 0;
  for (int i = 1; i < argc; i++) n = collect(argv[i], &paths, n);
  qsort(paths, n, sizeof *paths, by_name);
  int passed = 0, failed = 0;
  if (n == 0) {
    printf("FAIL: no scenario files given or found\n");
    return 1;
  } else if (testbed_start(&tb, NULL) != 0) {
    fprintf(stderr, "cannot start the testbed (set TAILRACE_TESTBED)\n");
    return 2;
  } else {
    for (size_t i = 0; i < n; i++) run_scenario(paths[i]) ? passed++ : failed++;
    testbed_stop(&tb);
  }
  for (size_t i = 0; i < n; i++) free(paths[i]);
  free(paths);
  printf("scenarios: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
