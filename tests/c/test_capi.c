/* The C ABI from C: every function, every result code, bad input everywhere, many threads,
 * and the completion queue under 10,000 calls, against the real testbed on 127.0.0.1.
 * Prints "N passed, N failed, N skipped"; exits non-zero on any failure. */
#define _GNU_SOURCE
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/check.h"
#include "support/json.h"
#include "support/testbed.h"
#include "tailrace.h"

CHECK_DEFINE_COUNTERS;

static testbed tb;

/* A client for the testbed with extra options (name, value pairs, NULL-terminated). */
static tailrace_client *make_client(const char *const *options) {
  tailrace_config *cfg = NULL;
  tailrace_client *client = NULL;
  CHECK_RC(tailrace_config_new(&cfg), TAILRACE_OK);
  CHECK_RC(tailrace_config_set(cfg, "hosts", tb.url, NULL, 0), TAILRACE_OK);
  for (int i = 0; options && options[i]; i += 2)
    CHECK_RC(tailrace_config_set(cfg, options[i], options[i + 1], NULL, 0), TAILRACE_OK);
  CHECK_RC(tailrace_client_new(cfg, &client), TAILRACE_OK);
  tailrace_config_free(cfg);
  return client;
}

static tailrace_request *get(const char *path) {
  tailrace_request *req = NULL;
  CHECK_RC(tailrace_request_new("GET", path, &req), TAILRACE_OK);
  return req;
}

/* Wait for exactly one event. */
static tailrace_event wait_one(tailrace_queue *q) {
  tailrace_event ev = {0};
  size_t n = 0;
  CHECK_RC(tailrace_queue_wait(q, 20000, &ev, 1, &n), TAILRACE_OK);
  CHECK(n == 1, "got %zu events", n);
  return ev;
}

static void free_event(tailrace_event *ev) {
  tailrace_response_free(ev->response);
  tailrace_error_free(ev->error);
}

/* ---------------------------------------------------------------- version, result codes */

static void test_version_and_codes(void) {
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", TAILRACE_VERSION_MAJOR, TAILRACE_VERSION_MINOR,
           TAILRACE_VERSION_PATCH);
  CHECK(!strcmp(tailrace_version(), want), "version %s, header %s", tailrace_version(), want);
  static const struct { tailrace_result code; const char *name; } codes[] = {
      {TAILRACE_OK, "ok"},
      {TAILRACE_E_INVALID_OPTION, "invalid_option"},
      {TAILRACE_E_INVALID_REQUEST, "invalid_request"},
      {TAILRACE_E_CONNECT, "connect"},
      {TAILRACE_E_TLS, "tls"},
      {TAILRACE_E_TIMEOUT, "timeout"},
      {TAILRACE_E_PROTOCOL, "protocol"},
      {TAILRACE_E_RESPONSE_TOO_LARGE, "response_too_large"},
      {TAILRACE_E_LIMIT_QUEUE_FULL, "limit_queue_full"},
      {TAILRACE_E_LIMIT_TIMEOUT, "limit_timeout"},
      {TAILRACE_E_ALL_ATTEMPTS_FAILED, "all_attempts_failed"},
      {TAILRACE_E_HTTP_STATUS, "http_status"},
      {TAILRACE_E_CANCELLED, "cancelled"},
      {TAILRACE_E_CLIENT_CLOSED, "client_closed"},
      {TAILRACE_E_WOULD_DEADLOCK, "would_deadlock"},
      {TAILRACE_E_INTERNAL, "internal"},
      {TAILRACE_E_NULL_ARGUMENT, "null_argument"},
      {TAILRACE_E_INVALID_UTF8, "invalid_utf8"},
      {TAILRACE_E_INVALID_LENGTH, "invalid_length"},
      {TAILRACE_E_NOT_FOUND, "not_found"},
      {TAILRACE_E_UNKNOWN_CALL, "unknown_call"},
      {TAILRACE_E_DUPLICATE_ID, "duplicate_id"},
      {TAILRACE_E_PANIC, "panic"},
  };
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    CHECK(!strcmp(tailrace_result_name(codes[i].code), codes[i].name), "name of %d is %s",
          codes[i].code, tailrace_result_name(codes[i].code));
    CHECK(strlen(tailrace_strerror(codes[i].code)) > 3, "strerror(%d) is empty", codes[i].code);
  }
  CHECK(!strcmp(tailrace_strerror(12345), "unknown result code"), "%s", tailrace_strerror(12345));
  CHECK(!strcmp(tailrace_result_name(-1), "unknown"), "%s", tailrace_result_name(-1));
  CHECK(tailrace_last_error_message() != NULL, "last error message is never NULL");
}

/* ---------------------------------------------------------------- config */

static void test_config(void) {
  tailrace_config *cfg = NULL;
  CHECK_RC(tailrace_config_new(NULL), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_config_new(&cfg), TAILRACE_OK);
  char err[256] = "untouched";
  CHECK_RC(tailrace_config_set(cfg, "concurrent_calls", "3", err, sizeof err), TAILRACE_OK);
  CHECK(!strcmp(err, "untouched"), "errbuf written on success: %s", err);

  CHECK_RC(tailrace_config_set(cfg, "max_cuont", "3", err, sizeof err), TAILRACE_E_INVALID_OPTION);
  CHECK(strstr(err, "max_cuont") != NULL, "errbuf does not name the option: %s", err);
  CHECK(strstr(tailrace_last_error_message(), "max_cuont") != NULL, "last error: %s",
        tailrace_last_error_message());
  CHECK_RC(tailrace_config_set(cfg, "concurrent_calls", "lots", err, sizeof err),
           TAILRACE_E_INVALID_OPTION);
  CHECK(strstr(err, "concurrent_calls") != NULL, "errbuf: %s", err);
  char tiny[8];
  CHECK_RC(tailrace_config_set(cfg, "nope", "1", tiny, sizeof tiny), TAILRACE_E_INVALID_OPTION);
  CHECK(strlen(tiny) == sizeof tiny - 1, "errbuf truncated and NUL-terminated: '%s'", tiny);
  CHECK_RC(tailrace_config_set(cfg, "nope", "1", NULL, 99), TAILRACE_E_INVALID_OPTION);
  CHECK_RC(tailrace_config_set(cfg, "nope", "1", tiny, 0), TAILRACE_E_INVALID_OPTION);

  /* NULL everywhere, invalid UTF-8 in each string */
  CHECK_RC(tailrace_config_set(NULL, "hosts", "http://a", err, sizeof err), TAILRACE_E_NULL_ARGUMENT);
  CHECK(strstr(err, "config") != NULL, "errbuf names the argument: %s", err);
  CHECK_RC(tailrace_config_set(cfg, NULL, "1", err, sizeof err), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_config_set(cfg, "hosts", NULL, err, sizeof err), TAILRACE_E_NULL_ARGUMENT);
  CHECK(strstr(err, "value") != NULL, "errbuf names the argument: %s", err);
  CHECK_RC(tailrace_config_set(cfg, "ho\xffsts", "1", err, sizeof err), TAILRACE_E_INVALID_UTF8);
  CHECK(strstr(err, "name") != NULL, "errbuf names the argument: %s", err);
  CHECK_RC(tailrace_config_set(cfg, "hosts", "http://\xc3(", err, sizeof err), TAILRACE_E_INVALID_UTF8);

  /* the option table: every option, and its default is accepted by config_set */
  size_t n = tailrace_option_count();
  CHECK(n >= 10, "only %zu options", n);
  for (size_t i = 0; i < n; i++) {
    const char *name = NULL, *dflt = NULL, *doc = NULL;
    CHECK_RC(tailrace_option_at(i, &name, &dflt, &doc), TAILRACE_OK);
    CHECK(name && dflt && doc && strlen(doc) > 0, "option %zu incomplete", i);
    if (name && dflt && *dflt) CHECK_RC(tailrace_config_set(cfg, name, dflt, NULL, 0), TAILRACE_OK);
  }
  const char *name = NULL;
  CHECK_RC(tailrace_option_at(0, &name, NULL, NULL), TAILRACE_OK);
  CHECK_RC(tailrace_option_at(n, &name, NULL, NULL), TAILRACE_E_INVALID_LENGTH);
  tailrace_config_free(cfg);
  tailrace_config_free(NULL);

  /* checks between options happen in client_new */
  tailrace_client *client = (tailrace_client *)0x1;
  CHECK_RC(tailrace_config_new(&cfg), TAILRACE_OK);
  CHECK_RC(tailrace_config_set(cfg, "max_queue", "4", NULL, 0), TAILRACE_OK);
  CHECK_RC(tailrace_client_new(cfg, &client), TAILRACE_E_INVALID_OPTION);
  CHECK(client == (tailrace_client *)0x1, "out-parameter touched on failure");
  CHECK(strstr(tailrace_last_error_message(), "max_count") != NULL, "%s", tailrace_last_error_message());
  CHECK_RC(tailrace_client_new(NULL, &client), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_client_new(cfg, NULL), TAILRACE_E_NULL_ARGUMENT);
  tailrace_config_free(cfg);
}

/* ---------------------------------------------------------------- request */

static void test_request(void) {
  tailrace_request *req = NULL;
  CHECK_RC(tailrace_request_new("GE T", "/x", &req), TAILRACE_E_INVALID_REQUEST);
  CHECK(strstr(tailrace_last_error_message(), "`GE T` is not a valid HTTP method") != NULL, "%s",
        tailrace_last_error_message());
  CHECK_RC(tailrace_request_new(NULL, "/x", &req), TAILRACE_E_NULL_ARGUMENT);
  CHECK(strstr(tailrace_last_error_message(), "method") != NULL, "%s", tailrace_last_error_message());
  CHECK_RC(tailrace_request_new("GET", NULL, &req), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_request_new("GET", "/x", NULL), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_request_new("GET", "/\xff", &req), TAILRACE_E_INVALID_UTF8);
  CHECK(req == NULL, "out-parameter touched on failure");

  CHECK_RC(tailrace_request_new("POST", "/x", &req), TAILRACE_OK);
  CHECK_RC(tailrace_request_header_add(req, "x-ok", "fine"), TAILRACE_OK);
  CHECK_RC(tailrace_request_header_add(req, "bad name", "v"), TAILRACE_E_INVALID_REQUEST);
  CHECK_RC(tailrace_request_header_add(req, "x-a", "b\r\nx-evil: 1"), TAILRACE_E_INVALID_REQUEST);
  CHECK(strstr(tailrace_last_error_message(), "x-a") != NULL, "%s", tailrace_last_error_message());
  CHECK_RC(tailrace_request_header_add(NULL, "x", "v"), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_request_header_add(req, NULL, "v"), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_request_header_add(req, "x", NULL), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_request_header_add(req, "x\xff", "v"), TAILRACE_E_INVALID_UTF8);

  CHECK_RC(tailrace_request_body_set(req, (const uint8_t *)"abc", 3), TAILRACE_OK);
  CHECK_RC(tailrace_request_body_set(req, NULL, 0), TAILRACE_OK);
  CHECK_RC(tailrace_request_body_set(req, NULL, 5), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_request_body_set(req, (const uint8_t *)"abc", SIZE_MAX), TAILRACE_E_INVALID_LENGTH);
  CHECK_RC(tailrace_request_body_set(NULL, (const uint8_t *)"abc", 3), TAILRACE_E_NULL_ARGUMENT);

  CHECK_RC(tailrace_request_set(req, "order_key", "user-1"), TAILRACE_OK);
  CHECK_RC(tailrace_request_set(req, "flush", "false"), TAILRACE_OK);
  CHECK_RC(tailrace_request_set(req, "limit_key", "tenant-a"), TAILRACE_OK);
  CHECK_RC(tailrace_request_set(req, "idempotent", "true"), TAILRACE_OK);
  CHECK_RC(tailrace_request_set(req, "timeout_ms", "1500"), TAILRACE_OK);
  CHECK_RC(tailrace_request_set(req, "flush", "perhaps"), TAILRACE_E_INVALID_REQUEST);
  CHECK_RC(tailrace_request_set(req, "colour", "red"), TAILRACE_E_INVALID_REQUEST);
  CHECK(strstr(tailrace_last_error_message(), "colour") != NULL, "%s", tailrace_last_error_message());
  CHECK_RC(tailrace_request_set(NULL, "flush", "true"), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_request_set(req, NULL, "true"), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_request_set(req, "flush", NULL), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_request_set(req, "order_key", "\xfe"), TAILRACE_E_INVALID_UTF8);
  tailrace_request_free(req);
  tailrace_request_free(NULL);
}

/* ---------------------------------------------------------------- blocking + response */

static void test_blocking_and_response(void) {
  tailrace_client *client = make_client(NULL);
  tailrace_request *req = NULL;
  CHECK_RC(tailrace_request_new("POST", "/__echo?via=c", &req), TAILRACE_OK);
  CHECK_RC(tailrace_request_header_add(req, "x-one", "1"), TAILRACE_OK);
  CHECK_RC(tailrace_request_body_set(req, (const uint8_t *)"hello\0world", 11), TAILRACE_OK);
  tailrace_response *resp = NULL;
  tailrace_error *err = (tailrace_error *)0x1;
  CHECK_RC(tailrace_send_blocking(client, req, &resp, &err), TAILRACE_OK);
  CHECK(resp != NULL && err == NULL, "response %p error %p", (void *)resp, (void *)err);
  CHECK(tailrace_response_status(resp) == 200, "status %u", tailrace_response_status(resp));
  CHECK(tailrace_response_version(resp) == 11, "version %u", tailrace_response_version(resp));
  CHECK(!strcmp(tailrace_response_host(resp), tb.url), "host %s", tailrace_response_host(resp));
  CHECK(tailrace_response_attempts(resp) == 1, "attempts %u", tailrace_response_attempts(resp));
  CHECK(tailrace_response_winner(resp) == 0, "winner %u", tailrace_response_winner(resp));
  CHECK(tailrace_response_elapsed_us(resp) > 0, "elapsed 0");

  const uint8_t *body = NULL;
  size_t len = 0;
  CHECK_RC(tailrace_response_body(resp, &body, &len), TAILRACE_OK);
  char *text = strndup((const char *)body, len);
  json *echo = json_parse(text, NULL, 0);
  CHECK(echo != NULL, "echo body is JSON: %s", text);
  CHECK(!strcmp(json_string(json_get(echo, "method"), ""), "POST"), "method");
  CHECK(!strcmp(json_string(json_path(echo, "headers.x-one"), ""), "1"), "header sent");
  CHECK(json_number(json_get(echo, "body_len"), 0) == 11, "body with a NUL sent whole");
  json_free(echo);
  free(text);

  const uint8_t *value = NULL;
  CHECK_RC(tailrace_response_header(resp, "X-Testbed-Proto", &value, &len), TAILRACE_OK);
  CHECK(len == 8 && !memcmp(value, "HTTP/1.1", 8), "header value");
  CHECK_RC(tailrace_response_header(resp, "x-missing", &value, &len), TAILRACE_E_NOT_FOUND);
  CHECK_RC(tailrace_response_header(resp, "x-\xff", &value, &len), TAILRACE_E_INVALID_UTF8);
  CHECK_RC(tailrace_response_header(NULL, "x", &value, &len), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_response_header(resp, NULL, &value, &len), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_response_header(resp, "x", NULL, &len), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_response_header(resp, "x", &value, NULL), TAILRACE_E_NULL_ARGUMENT);

  size_t count = tailrace_response_header_count(resp);
  int saw_id = 0;
  CHECK(count >= 3, "header count %zu", count);
  for (size_t i = 0; i < count; i++) {
    const char *name = NULL;
    CHECK_RC(tailrace_response_header_at(resp, i, &name, &value, &len), TAILRACE_OK);
    if (name && !strcmp(name, "x-testbed-id")) saw_id = 1;
  }
  CHECK(saw_id, "iteration shows x-testbed-id");
  const char *name = NULL;
  CHECK_RC(tailrace_response_header_at(resp, count, &name, &value, &len), TAILRACE_E_INVALID_LENGTH);
  CHECK_RC(tailrace_response_header_at(NULL, 0, &name, &value, &len), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_response_header_at(resp, 0, NULL, &value, &len), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_response_header_at(resp, 0, &name, NULL, &len), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_response_header_at(resp, 0, &name, &value, NULL), TAILRACE_E_NULL_ARGUMENT);

  /* every header in one call: the same lines, in the same order, as header_at gives */
  size_t all = 0;
  CHECK_RC(tailrace_response_headers(resp, NULL, 0, &all), TAILRACE_OK);
  CHECK(all == count, "headers count %zu, header_count %zu", all, count);
  tailrace_header views[64];
  CHECK(count <= 64, "room for %zu headers", count);
  size_t filled = 0;
  CHECK_RC(tailrace_response_headers(resp, views, 64, &filled), TAILRACE_OK);
  CHECK(filled == count, "headers filled %zu of %zu", filled, count);
  for (size_t i = 0; i < count; i++) {
    CHECK_RC(tailrace_response_header_at(resp, i, &name, &value, &len), TAILRACE_OK);
    CHECK(views[i].name_len == strlen(name) && !memcmp(views[i].name, name, views[i].name_len),
          "header %zu name", i);
    CHECK(views[i].value_len == len && (len == 0 || !memcmp(views[i].value, value, len)),
          "header %zu value", i);
  }
  /* less room than lines: the first ones are filled, the count says there are more */
  tailrace_header one[2] = {{0}};
  CHECK_RC(tailrace_response_headers(resp, one, 1, &filled), TAILRACE_OK);
  CHECK(filled == count && one[0].name_len == views[0].name_len && one[1].name == NULL,
        "capacity 1 fills one line and reports %zu", filled);
  CHECK_RC(tailrace_response_headers(NULL, views, 64, &filled), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_response_headers(resp, NULL, 1, &filled), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_response_headers(resp, views, 64, NULL), TAILRACE_E_NULL_ARGUMENT);

  CHECK_RC(tailrace_response_body(NULL, &body, &len), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_response_body(resp, NULL, &len), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_response_body(resp, &body, NULL), TAILRACE_E_NULL_ARGUMENT);
  tailrace_response_free(resp);

  /* accessors on NULL: zero values, never a crash */
  CHECK(tailrace_response_status(NULL) == 0 && tailrace_response_version(NULL) == 0 &&
            tailrace_response_attempts(NULL) == 0 && tailrace_response_winner(NULL) == 0 &&
            tailrace_response_elapsed_us(NULL) == 0 && tailrace_response_header_count(NULL) == 0 &&
            !strcmp(tailrace_response_host(NULL), ""),
        "NULL response accessors");
  tailrace_response_free(NULL);

  /* an empty body is a valid pointer with length 0 */
  resp = NULL;
  CHECK_RC(tailrace_send_blocking(client, get("/empty?status=204"), &resp, NULL), TAILRACE_OK);
  CHECK(tailrace_response_status(resp) == 204, "status %u", tailrace_response_status(resp));
  CHECK_RC(tailrace_response_body(resp, &body, &len), TAILRACE_OK);
  CHECK(body != NULL && len == 0, "empty body %p %zu", (const void *)body, len);
  tailrace_response_free(resp);

  /* 4xx is an answer, not an error */
  CHECK_RC(tailrace_send_blocking(client, get("/nope?status=404"), &resp, NULL), TAILRACE_OK);
  CHECK(tailrace_response_status(resp) == 404, "status %u", tailrace_response_status(resp));
  tailrace_response_free(resp);

  /* bad arguments; the request is consumed in every case (ASan/valgrind see no leak) */
  CHECK_RC(tailrace_send_blocking(NULL, get("/x"), &resp, NULL), TAILRACE_E_NULL_ARGUMENT);
  /* the out-parameters are NULL after any failure, even one found before the call ran */
  resp = (tailrace_response *)&resp;
  err = (tailrace_error *)&err;
  CHECK_RC(tailrace_send_blocking(client, NULL, &resp, &err), TAILRACE_E_NULL_ARGUMENT);
  CHECK(resp == NULL && err == NULL, "NULL request: out-parameters set to NULL");
  err = (tailrace_error *)&err;
  CHECK_RC(tailrace_send_blocking(client, get("/x"), NULL, &err), TAILRACE_E_NULL_ARGUMENT);
  CHECK(err == NULL, "NULL response_out: *error_out set to NULL");
  err = NULL;
  CHECK_RC(tailrace_send_blocking(client, get("ftp://127.0.0.1/x"), &resp, &err), TAILRACE_E_INVALID_REQUEST);
  CHECK(resp == NULL && err != NULL, "invalid request gives an error handle");
  CHECK(tailrace_error_code(err) == TAILRACE_E_INVALID_REQUEST, "error code");
  CHECK(tailrace_error_sent(err) == TAILRACE_SENT_NO, "nothing sent");
  tailrace_error_free(err);
  tailrace_client_free(client);
}

/* ---------------------------------------------------------------- errors of calls */

/* Run one blocking call and check its code; returns the error (caller frees) or NULL. */
static tailrace_error *expect_failure(tailrace_client *client, tailrace_request *req,
                                      tailrace_result want) {
  tailrace_response *resp = NULL;
  tailrace_error *err = NULL;
  CHECK_RC(tailrace_send_blocking(client, req, &resp, &err), want);
  CHECK(resp == NULL, "a failure has no response");
  CHECK(err != NULL && tailrace_error_code(err) == want, "error handle code %s",
        tailrace_result_name(tailrace_error_code(err)));
  CHECK(strlen(tailrace_error_message(err)) > 0, "error message is empty");
  tailrace_response_free(resp);
  return err;
}

/* ---------------------------------------------------------------- the runtime's size */

/* Threads of this process named `name` (from /proc/self/task/N/comm), or -1 without /proc. */
static int threads_named(const char *name) {
  DIR *dir = opendir("/proc/self/task");
  if (!dir) return -1;
  int n = 0;
  struct dirent *d;
  while ((d = readdir(dir)) != NULL) {
    if (d->d_name[0] == '.') continue;
    char path[300], comm[32] = "";
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", d->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    if (fgets(comm, sizeof comm, f)) comm[strcspn(comm, "\n")] = 0;
    fclose(f);
    if (!strcmp(comm, name)) n++;
  }
  closedir(dir);
  return n;
}

/* The runtime (running since the first client) leaves a core to the caller's threads. */
static void test_runtime_leaves_a_core(void) {
  if (getenv("TAILRACE_WORKER_THREADS")) {
    SKIP("TAILRACE_WORKER_THREADS is set: it decides the worker count");
    return;
  }
  cpu_set_t cpus;
  int workers = threads_named("tailrace-worker");
  if (workers < 0 || sched_getaffinity(0, sizeof cpus, &cpus) != 0) {
    SKIP("no /proc/self/task or no CPU affinity here");
    return;
  }
  int want = CPU_COUNT(&cpus) > 1 ? CPU_COUNT(&cpus) - 1 : 1;
  CHECK(workers == want, "%d tailrace-worker threads, want %d (cores - 1, at least 1)", workers, want);
}

static void test_call_errors(void) {
  /* connect: a port nobody listens on (a testbed started and stopped) */
  testbed dead;
  CHECK(testbed_start(&dead, NULL) == 0, "second testbed");
  char dead_url[96];
  snprintf(dead_url, sizeof dead_url, "%s/x", dead.url);
  testbed_stop(&dead);
  tailrace_client *client = make_client(NULL);
  tailrace_error *err = expect_failure(client, get(dead_url), TAILRACE_E_CONNECT);
  CHECK(tailrace_error_sent(err) == TAILRACE_SENT_NO, "connect: nothing sent");
  tailrace_error_free(err);

  /* timeout: which deadline */
  tailrace_request *req = get("/slow?delay_ms=5000");
  CHECK_RC(tailrace_request_set(req, "timeout_ms", "50"), TAILRACE_OK);
  err = expect_failure(client, req, TAILRACE_E_TIMEOUT);
  CHECK(tailrace_error_timeout(err) == TAILRACE_TIMEOUT_CALL, "call timeout");
  CHECK(strstr(tailrace_error_message(err), "timeout_ms") != NULL, "%s", tailrace_error_message(err));
  tailrace_error_free(err);

  /* protocol: the testbed breaks the body off */
  err = expect_failure(client, get("/cut?close_mid_body=1&body_bytes=100000"), TAILRACE_E_PROTOCOL);
  tailrace_error_free(err);
  tailrace_client_free(client);

  /* response too large */
  const char *small[] = {"max_response_bytes", "10", NULL};
  client = make_client(small);
  err = expect_failure(client, get("/big?body_bytes=100"), TAILRACE_E_RESPONSE_TOO_LARGE);
  CHECK(tailrace_error_sent(err) == TAILRACE_SENT_YES, "too large: the backend answered");
  tailrace_error_free(err);
  tailrace_client_free(client);

  /* all attempts failed, each with an HTTP status cause */
  const char *hedged[] = {"concurrent_calls", "2", NULL};
  client = make_client(hedged);
  err = expect_failure(client, get("/fail?status=503"), TAILRACE_E_ALL_ATTEMPTS_FAILED);
  size_t n = tailrace_error_attempt_count(err);
  CHECK(n == 2, "attempts %zu", n);
  for (size_t i = 0; i < n; i++) {
    tailrace_result code = TAILRACE_OK;
    const char *host = NULL, *message = NULL;
    CHECK_RC(tailrace_error_attempt(err, i, &code, &host, &message), TAILRACE_OK);
    CHECK(code == TAILRACE_E_HTTP_STATUS, "attempt cause %s", tailrace_result_name(code));
    CHECK(host && !strcmp(host, tb.url), "attempt host %s", host ? host : "(null)");
    CHECK(message && strstr(message, "503"), "attempt message %s", message ? message : "(null)");
  }
  /* each attempt's cause in full: which attempt, and an error its accessors read */
  unsigned seen = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t attempt = 99;
    const tailrace_error *cause = NULL;
    CHECK_RC(tailrace_error_attempt_cause(err, i, &attempt, &cause), TAILRACE_OK);
    CHECK(attempt < 2 && cause != NULL, "attempt %u cause %p", attempt, (const void *)cause);
    if (attempt < 2) seen |= 1u << attempt;
    CHECK(tailrace_error_code(cause) == TAILRACE_E_HTTP_STATUS && tailrace_error_status(cause) == 503 &&
              tailrace_error_sent(cause) == TAILRACE_SENT_YES &&
              tailrace_error_timeout(cause) == TAILRACE_TIMEOUT_NONE &&
              tailrace_error_attempt_count(cause) == 0 && strstr(tailrace_error_message(cause), "503"),
          "cause of attempt %u: %s", attempt, tailrace_error_message(cause));
  }
  CHECK(seen == 3, "attempts 0 and 1 both listed (%u)", seen);
  CHECK(tailrace_error_sent(err) == TAILRACE_SENT_YES, "attempts were answered: sent yes");
  CHECK_RC(tailrace_error_attempt_cause(err, 0, NULL, NULL), TAILRACE_OK);
  CHECK_RC(tailrace_error_attempt_cause(err, n, NULL, NULL), TAILRACE_E_INVALID_LENGTH);
  CHECK_RC(tailrace_error_attempt_cause(NULL, 0, NULL, NULL), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_error_attempt(err, n, NULL, NULL, NULL), TAILRACE_E_INVALID_LENGTH);
  CHECK_RC(tailrace_error_attempt(NULL, 0, NULL, NULL, NULL), TAILRACE_E_NULL_ARGUMENT);
  CHECK(tailrace_error_timeout(err) == TAILRACE_TIMEOUT_NONE, "not a timeout");
  tailrace_error_free(err);
  tailrace_client_free(client);

  client = make_client(NULL);
  tailrace_response *resp = NULL;
  err = NULL;
  /* One attempt, 503 in the failure set: with nothing to retry, the answer itself comes back. */
  int rc = tailrace_send_blocking(client, get("/fail?status=503"), &resp, &err);
  CHECK(rc == TAILRACE_OK && err == NULL, "503 with one attempt: %s", tailrace_result_name(rc));
  CHECK(tailrace_response_status(resp) == 503 && tailrace_response_attempts(resp) == 1,
        "the 503 answer, one attempt");
  tailrace_response_free(resp);
  tailrace_error_free(err);

  /* client closed */
  CHECK_RC(tailrace_client_close(client), TAILRACE_OK);
  CHECK_RC(tailrace_client_close(client), TAILRACE_OK);
  err = expect_failure(client, get("/x"), TAILRACE_E_CLIENT_CLOSED);
  tailrace_error_free(err);
  CHECK_RC(tailrace_client_close(NULL), TAILRACE_E_NULL_ARGUMENT);
  tailrace_client_free(client);
  tailrace_client_free(NULL);

  /* error accessors on NULL */
  CHECK(tailrace_error_code(NULL) == TAILRACE_E_NULL_ARGUMENT && !strcmp(tailrace_error_message(NULL), "") &&
            tailrace_error_timeout(NULL) == TAILRACE_TIMEOUT_NONE &&
            tailrace_error_sent(NULL) == TAILRACE_SENT_MAYBE && tailrace_error_status(NULL) == 0 &&
            tailrace_error_attempt_count(NULL) == 0,
        "NULL error accessors");
  tailrace_error_free(NULL);
}

static void test_tls(void) {
  char ca[] = "/tmp/tailrace-c-ca-XXXXXX";
  int fd = mkstemp(ca);
  if (fd >= 0) close(fd);
  testbed secure;
  const char *args[] = {"--tls", "--ca-out", ca, NULL};
  CHECK(testbed_start(&secure, args) == 0, "TLS testbed");
  char url[96];
  snprintf(url, sizeof url, "%s/x", secure.url);

  tailrace_client *client = make_client(NULL);
  tailrace_error *err = expect_failure(client, get(url), TAILRACE_E_TLS);
  tailrace_error_free(err);
  tailrace_client_free(client);

  const char *trusting[] = {"ca_file", ca, NULL};
  client = make_client(trusting);
  tailrace_response *resp = NULL;
  CHECK_RC(tailrace_send_blocking(client, get(url), &resp, NULL), TAILRACE_OK);
  CHECK(tailrace_response_status(resp) == 200, "TLS status");
  tailrace_response_free(resp);
  tailrace_client_free(client);
  testbed_stop(&secure);
  unlink(ca);
}

/* ---------------------------------------------------------------- completion queue */

static void test_queue(void) {
  tailrace_client *client = make_client(NULL);
  tailrace_queue *q = NULL;
  CHECK_RC(tailrace_queue_new(NULL), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_queue_new(&q), TAILRACE_OK);

  /* a batch: three calls, drained in one wait once all have ended */
  CHECK_RC(tailrace_send(client, get("/a?body_bytes=1"), q, 1), TAILRACE_OK);
  CHECK_RC(tailrace_send(client, get("/b?body_bytes=2"), q, 2), TAILRACE_OK);
  CHECK_RC(tailrace_send(client, get("/c?body_bytes=3"), q, 3), TAILRACE_OK);
  tailrace_event evs[8];
  size_t got = 0, n = 0;
  uint64_t seen = 0;
  while (got < 3) {
    CHECK_RC(tailrace_queue_wait(q, 20000, evs, 8, &n), TAILRACE_OK);
    if (n == 0) break;
    for (size_t i = 0; i < n; i++) {
      CHECK(evs[i].result == TAILRACE_OK && evs[i].response && !evs[i].error, "event ok");
      const uint8_t *b;
      size_t len = 0;
      tailrace_response_body(evs[i].response, &b, &len);
      CHECK(len == evs[i].id, "event %llu body %zu", (unsigned long long)evs[i].id, len);
      seen |= 1u << evs[i].id;
      free_event(&evs[i]);
    }
    got += n;
  }
  CHECK(seen == 0xE, "ids 1,2,3 each once: %llx", (unsigned long long)seen);

  /* timeout 0 and a short timeout: no events */
  CHECK_RC(tailrace_queue_wait(q, 0, evs, 8, &n), TAILRACE_OK);
  CHECK(n == 0, "poll with nothing pending: %zu", n);
  CHECK_RC(tailrace_queue_wait(q, 20, evs, 8, &n), TAILRACE_OK);
  CHECK(n == 0, "timed out: %zu", n);

  /* wake: the next wait returns at once, then the queue works as before (use after wake) */
  CHECK_RC(tailrace_queue_wake(q), TAILRACE_OK);
  CHECK_RC(tailrace_queue_wait(q, -1, evs, 8, &n), TAILRACE_OK);
  CHECK(n == 0, "woken wait has no events");
  CHECK_RC(tailrace_send(client, get("/after-wake"), q, 9), TAILRACE_OK);
  tailrace_event ev = wait_one(q);
  CHECK(ev.id == 9 && ev.result == TAILRACE_OK, "send after wake works");
  free_event(&ev);

  /* duplicate id while pending; the id is free again after its event */
  CHECK_RC(tailrace_send(client, get("/slow?delay_ms=300"), q, 5), TAILRACE_OK);
  CHECK_RC(tailrace_send(client, get("/x"), q, 5), TAILRACE_E_DUPLICATE_ID);
  ev = wait_one(q);
  CHECK(ev.id == 5 && ev.result == TAILRACE_OK, "first id-5 call ok");
  free_event(&ev);
  CHECK_RC(tailrace_send(client, get("/x"), q, 5), TAILRACE_OK);
  ev = wait_one(q);
  free_event(&ev);

  /* bad arguments: the request is consumed in every case */
  CHECK_RC(tailrace_send(NULL, get("/x"), q, 1), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_send(client, NULL, q, 1), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_send(client, get("/x"), NULL, 1), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_send(client, get("ftp://h/x"), q, 1), TAILRACE_E_INVALID_REQUEST);
  CHECK_RC(tailrace_queue_wait(NULL, 0, evs, 8, &n), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_queue_wait(q, 0, NULL, 8, &n), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_queue_wait(q, 0, evs, 8, NULL), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_queue_wait(q, 0, evs, 0, &n), TAILRACE_E_INVALID_LENGTH);
  CHECK_RC(tailrace_queue_wait(q, 0, evs, SIZE_MAX, &n), TAILRACE_E_INVALID_LENGTH);
  CHECK_RC(tailrace_queue_wait(q, -2, evs, 8, &n), TAILRACE_E_INVALID_LENGTH);
  CHECK_RC(tailrace_queue_wake(NULL), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_queue_wait(q, 0, evs, 8, &n), TAILRACE_OK);
  CHECK(n == 0, "refused sends post no event: %zu", n);

  /* a queue freed with a call pending: the call ends, its outcome is dropped (no leak) */
  CHECK_RC(tailrace_send(client, get("/slow?delay_ms=50"), q, 77), TAILRACE_OK);
  tailrace_queue_free(q);
  tailrace_queue_free(NULL);
  json *idle = testbed_wait_idle(&tb);
  json_free(idle);
  tailrace_client_free(client);
}

/* ---------------------------------------------------------------- notify fd */

static void test_notify_fd(void) {
  tailrace_client *client = make_client(NULL);
  tailrace_queue *q = NULL;
  CHECK_RC(tailrace_queue_new(&q), TAILRACE_OK);
  int fd = -1, fd2 = -1;
  CHECK_RC(tailrace_queue_notify_fd(q, &fd), TAILRACE_OK);
  CHECK_RC(tailrace_queue_notify_fd(q, &fd2), TAILRACE_OK);
  CHECK(fd >= 0 && fd == fd2, "one fd per queue: %d %d", fd, fd2);
  CHECK_RC(tailrace_queue_notify_fd(NULL, &fd2), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_queue_notify_fd(q, NULL), TAILRACE_E_NULL_ARGUMENT);

  struct pollfd p = {fd, POLLIN, 0};
  CHECK(poll(&p, 1, 0) == 0, "not readable while empty");
  CHECK_RC(tailrace_send(client, get("/x?delay_ms=20"), q, 1), TAILRACE_OK);
  CHECK(poll(&p, 1, 20000) == 1 && (p.revents & POLLIN), "readable once the event waits");
  tailrace_event ev = {0};
  size_t n = 0;
  CHECK_RC(tailrace_queue_wait(q, 0, &ev, 1, &n), TAILRACE_OK);
  CHECK(n == 1 && ev.id == 1, "the event is there");
  free_event(&ev);
  p.revents = 0;
  CHECK(poll(&p, 1, 0) == 0, "reset by the wait that drained it");

  /* two events, drained one at a time: still readable after the first */
  CHECK_RC(tailrace_send(client, get("/x"), q, 2), TAILRACE_OK);
  CHECK_RC(tailrace_send(client, get("/x"), q, 3), TAILRACE_OK);
  size_t taken = 0;
  for (int i = 0; i < 2; i++) {
    p.revents = 0;
    CHECK(poll(&p, 1, 20000) == 1, "readable while events wait (%d)", i);
    n = 0;
    while (n == 0) CHECK_RC(tailrace_queue_wait(q, 0, &ev, 1, &n), TAILRACE_OK);
    taken += n;
    free_event(&ev);
  }
  CHECK(taken == 2, "took both");
  CHECK_RC(tailrace_queue_wake(q), TAILRACE_OK);
  p.revents = 0;
  CHECK(poll(&p, 1, 0) == 1, "wake makes the fd readable");
  CHECK_RC(tailrace_queue_wait(q, 0, &ev, 1, &n), TAILRACE_OK);
  tailrace_queue_free(q);
  tailrace_client_free(client);
}

/* ---------------------------------------------------------------- cancel */

static void test_cancel(void) {
  tailrace_client *client = make_client(NULL);
  tailrace_queue *q = NULL;
  CHECK_RC(tailrace_queue_new(&q), TAILRACE_OK);
  testbed_reset(&tb);
  CHECK_RC(tailrace_send(client, get("/slow?delay_ms=30000"), q, 11), TAILRACE_OK);
  /* wait until the testbed has the request, so the cancel reaches the backend */
  for (int i = 0; i < 1000; i++) {
    json *s = testbed_stats(&tb);
    int started = s && json_number(json_get(s, "in_flight"), 0) == 1;
    json_free(s);
    if (started) break;
    usleep(10000);
  }
  CHECK_RC(tailrace_cancel(client, 11), TAILRACE_OK);
  int second = tailrace_cancel(client, 11); /* double cancel: harmless either way */
  CHECK(second == TAILRACE_OK || second == TAILRACE_E_UNKNOWN_CALL, "double cancel: %s",
        tailrace_result_name(second));
  tailrace_event ev = wait_one(q);
  CHECK(ev.id == 11 && ev.result == TAILRACE_E_CANCELLED, "event %s", tailrace_result_name(ev.result));
  CHECK(ev.response == NULL && tailrace_error_code(ev.error) == TAILRACE_E_CANCELLED, "cancelled error");
  free_event(&ev);
  CHECK_RC(tailrace_cancel(client, 11), TAILRACE_E_UNKNOWN_CALL);
  CHECK_RC(tailrace_cancel(client, 424242), TAILRACE_E_UNKNOWN_CALL);
  CHECK_RC(tailrace_cancel(NULL, 1), TAILRACE_E_NULL_ARGUMENT);
  json *s = testbed_wait_idle(&tb);
  CHECK(s && json_number(json_get(s, "cancelled"), 0) == 1, "the testbed saw the cancel");
  json_free(s);

  /* cancel after completion: the real outcome arrives, cancel says unknown */
  CHECK_RC(tailrace_send(client, get("/x"), q, 12), TAILRACE_OK);
  ev = wait_one(q);
  CHECK(ev.result == TAILRACE_OK, "completed");
  free_event(&ev);
  CHECK_RC(tailrace_cancel(client, 12), TAILRACE_E_UNKNOWN_CALL);

  /* closing the client ends pending calls with CLIENT_CLOSED, events still arrive */
  CHECK_RC(tailrace_send(client, get("/slow?delay_ms=30000"), q, 13), TAILRACE_OK);
  tailrace_client_free(client);
  ev = wait_one(q);
  CHECK(ev.id == 13 && ev.result == TAILRACE_E_CLIENT_CLOSED, "event %s", tailrace_result_name(ev.result));
  free_event(&ev);
  tailrace_queue_free(q);
  json_free(testbed_wait_idle(&tb));
}

/* ---------------------------------------------------------------- callbacks */

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t done;
  int calls;
  uint64_t last_id;
  tailrace_result last_result;
  int blocking_rc;
  int wait_rc;
  int resend_rc;
  int on_caller_thread;
  pthread_t caller;
  tailrace_client *client;
} cb_state;

static void on_done(void *userdata, const tailrace_event *event) {
  cb_state *st = userdata;
  /* blocking functions refuse on a runtime thread instead of deadlocking */
  tailrace_response *resp = NULL;
  int blocking = tailrace_send_blocking(st->client, get("/x"), &resp, NULL);
  tailrace_queue *q = NULL;
  tailrace_queue_new(&q);
  tailrace_event ev;
  size_t n;
  int wait_rc = tailrace_queue_wait(q, 100, &ev, 1, &n);
  tailrace_queue_free(q);
  pthread_mutex_lock(&st->lock);
  st->calls++;
  st->last_id = event->id;
  st->last_result = event->result;
  st->blocking_rc = blocking;
  st->wait_rc = wait_rc;
  st->on_caller_thread = pthread_equal(pthread_self(), st->caller);
  pthread_cond_signal(&st->done);
  pthread_mutex_unlock(&st->lock);
  tailrace_response_free(event->response);
  tailrace_error_free(event->error);
}

static void test_callback(void) {
  cb_state st;
  memset(&st, 0, sizeof st);
  pthread_mutex_init(&st.lock, NULL);
  pthread_cond_init(&st.done, NULL);
  st.client = make_client(NULL);
  st.caller = pthread_self();
  CHECK_RC(tailrace_send_cb(st.client, get("/cb"), 21, on_done, &st), TAILRACE_OK);
  pthread_mutex_lock(&st.lock);
  while (st.calls < 1) pthread_cond_wait(&st.done, &st.lock);
  pthread_mutex_unlock(&st.lock);
  CHECK(st.last_id == 21 && st.last_result == TAILRACE_OK, "callback event");
  CHECK(!st.on_caller_thread, "callback runs on a runtime thread");
  CHECK(st.blocking_rc == TAILRACE_E_WOULD_DEADLOCK, "blocking in a callback: %s",
        tailrace_result_name(st.blocking_rc));
  CHECK(st.wait_rc == TAILRACE_E_WOULD_DEADLOCK, "waiting in a callback: %s",
        tailrace_result_name(st.wait_rc));

  /* cancel a callback call */
  CHECK_RC(tailrace_send_cb(st.client, get("/slow?delay_ms=30000"), 22, on_done, &st), TAILRACE_OK);
  CHECK_RC(tailrace_send_cb(st.client, get("/x"), 22, on_done, &st), TAILRACE_E_DUPLICATE_ID);
  CHECK_RC(tailrace_cancel(st.client, 22), TAILRACE_OK);
  pthread_mutex_lock(&st.lock);
  while (st.calls < 2) pthread_cond_wait(&st.done, &st.lock);
  pthread_mutex_unlock(&st.lock);
  CHECK(st.last_id == 22 && st.last_result == TAILRACE_E_CANCELLED, "cancelled callback: %s",
        tailrace_result_name(st.last_result));

  CHECK_RC(tailrace_send_cb(NULL, get("/x"), 1, on_done, &st), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_send_cb(st.client, NULL, 1, on_done, &st), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_send_cb(st.client, get("/x"), 1, NULL, &st), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_send_cb(st.client, get("ftp://h/x"), 1, on_done, &st), TAILRACE_E_INVALID_REQUEST);
  /* One more call: had a refused send run a callback, that would make more than 3 by now. */
  CHECK_RC(tailrace_send_cb(st.client, get("/x"), 23, on_done, &st), TAILRACE_OK);
  pthread_mutex_lock(&st.lock);
  while (st.calls < 3) pthread_cond_wait(&st.done, &st.lock);
  pthread_mutex_unlock(&st.lock);
  usleep(50 * 1000);
  pthread_mutex_lock(&st.lock);
  CHECK(st.calls == 3 && st.last_id == 23, "refused sends run no callback: %d calls, last %llu",
        st.calls, (unsigned long long)st.last_id);
  pthread_mutex_unlock(&st.lock);
  tailrace_client_free(st.client);
  pthread_mutex_destroy(&st.lock);
  pthread_cond_destroy(&st.done);
  json_free(testbed_wait_idle(&tb));
}

/* ---------------------------------------------------------------- stats */

static void test_stats(void) {
  tailrace_client *client = make_client(NULL);
  tailrace_response *resp = NULL;
  CHECK_RC(tailrace_send_blocking(client, get("/x"), &resp, NULL), TAILRACE_OK);
  tailrace_response_free(resp);
  char *text = NULL;
  size_t len = 0;
  CHECK_RC(tailrace_client_stats_json(client, &text, &len), TAILRACE_OK);
  CHECK(text && strlen(text) == len, "length matches");
  json *s = json_parse(text, NULL, 0);
  CHECK(s && json_number(json_get(s, "calls"), 0) == 1, "calls 1: %s", text);
  CHECK(json_get(s, "latency_us") && json_get(s, "hosts") && json_get(s, "errors"), "keys");
  json_free(s);
  tailrace_buf_free(text);
  CHECK_RC(tailrace_client_stats_json(client, &text, NULL), TAILRACE_OK);
  tailrace_buf_free(text);
  CHECK_RC(tailrace_client_stats_prometheus(client, &text, &len), TAILRACE_OK);
  CHECK(text && strstr(text, "tailrace_") != NULL, "prometheus text");
  tailrace_buf_free(text);
  CHECK_RC(tailrace_client_stats_json(NULL, &text, &len), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_client_stats_json(client, NULL, &len), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_client_stats_prometheus(NULL, &text, &len), TAILRACE_E_NULL_ARGUMENT);
  CHECK_RC(tailrace_client_stats_prometheus(client, NULL, &len), TAILRACE_E_NULL_ARGUMENT);
  tailrace_buf_free(NULL);
  tailrace_client_free(client);
}

/* ---------------------------------------------------------------- many threads, many calls */

enum { THREADS = 8, PER_THREAD = 250 };

typedef struct {
  tailrace_client *client;
  tailrace_queue *q;
  int index;
} submitter;

static void *submit_many(void *arg) {
  submitter *s = arg;
  for (int i = 0; i < PER_THREAD; i++) {
    uint64_t id = (uint64_t)s->index * PER_THREAD + (uint64_t)i;
    int rc = tailrace_send(s->client, get("/many"), s->q, id);
    if (rc != TAILRACE_OK) CHECK_RC(rc, TAILRACE_OK);
  }
  return NULL;
}

/* Drain `total` events; returns how many were OK, and checks each id arrives once. */
static size_t drain(tailrace_queue *q, size_t total, unsigned char *seen) {
  tailrace_event evs[256];
  size_t got = 0, ok = 0, n;
  while (got < total) {
    if (tailrace_queue_wait(q, 30000, evs, 256, &n) != TAILRACE_OK || n == 0) break;
    for (size_t i = 0; i < n; i++) {
      if (evs[i].result == TAILRACE_OK && tailrace_response_status(evs[i].response) == 200) ok++;
      if (evs[i].id < total) seen[evs[i].id]++;
      free_event(&evs[i]);
    }
    got += n;
  }
  return ok;
}

static void test_many_threads(void) {
  tailrace_client *client = make_client(NULL);
  tailrace_queue *q = NULL;
  CHECK_RC(tailrace_queue_new(&q), TAILRACE_OK);
  pthread_t threads[THREADS];
  submitter subs[THREADS];
  for (int t = 0; t < THREADS; t++) {
    subs[t] = (submitter){client, q, t};
    pthread_create(&threads[t], NULL, submit_many, &subs[t]);
  }
  for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
  size_t total = THREADS * PER_THREAD;
  unsigned char *seen = calloc(total, 1);
  size_t ok = drain(q, total, seen);
  CHECK(ok == total, "%zu of %zu calls ok", ok, total);
  size_t once = 0;
  for (size_t i = 0; i < total; i++) once += seen[i] == 1;
  CHECK(once == total, "%zu of %zu ids seen exactly once", once, total);
  free(seen);
  tailrace_queue_free(q);
  tailrace_client_free(client);
}

static void test_queue_10000(void) {
  size_t total = 10000;
  const char *env = getenv("TAILRACE_TEST_QUEUE_CALLS"); /* valgrind runs fewer */
  if (env && atoi(env) > 0) total = (size_t)atoi(env);
  tailrace_client *client = make_client(NULL);
  tailrace_queue *q = NULL;
  CHECK_RC(tailrace_queue_new(&q), TAILRACE_OK);
  unsigned char *seen = calloc(total, 1);
  /* keep at most 512 in flight: a closed loop, as a real program would */
  size_t sent = 0, done = 0, ok = 0;
  tailrace_event evs[256];
  while (done < total) {
    while (sent < total && sent - done < 512) {
      int rc = tailrace_send(client, get("/q"), q, sent);
      if (rc != TAILRACE_OK) { CHECK_RC(rc, TAILRACE_OK); break; }
      sent++;
    }
    size_t n = 0;
    if (tailrace_queue_wait(q, 30000, evs, 256, &n) != TAILRACE_OK || n == 0) break;
    for (size_t i = 0; i < n; i++) {
      ok += evs[i].result == TAILRACE_OK;
      if (evs[i].id < total) seen[evs[i].id]++;
      free_event(&evs[i]);
    }
    done += n;
  }
  size_t once = 0;
  for (size_t i = 0; i < total; i++) once += seen[i] == 1;
  CHECK(done == total && ok == total && once == total, "%zu calls: %zu done, %zu ok, %zu once",
        total, done, ok, once);
  char *text = NULL;
  CHECK_RC(tailrace_client_stats_json(client, &text, NULL), TAILRACE_OK);
  json *s = json_parse(text, NULL, 0);
  CHECK(json_number(json_get(s, "calls"), 0) == (double)total, "stats count every call");
  json_free(s);
  tailrace_buf_free(text);
  free(seen);
  tailrace_queue_free(q);
  tailrace_client_free(client);
}

/* ---------------------------------------------------------------- limiter */

static void test_limiter(void) {
  const char *limited[] = {"max_count", "1", "max_queue", "1", "queue_timeout_ms", "200", NULL};
  tailrace_client *client = make_client(limited);
  tailrace_queue *q = NULL;
  CHECK_RC(tailrace_queue_new(&q), TAILRACE_OK);
  CHECK_RC(tailrace_send(client, get("/hold?delay_ms=30000"), q, 1), TAILRACE_OK); /* takes the slot */
  CHECK_RC(tailrace_send(client, get("/wait?delay_ms=1"), q, 2), TAILRACE_OK);     /* queues */
  tailrace_response *resp = NULL;
  tailrace_error *err = NULL;
  int rc = tailrace_send_blocking(client, get("/third"), &resp, &err);            /* queue full */
  CHECK_RC(rc, TAILRACE_E_LIMIT_QUEUE_FULL);
  CHECK(tailrace_error_sent(err) == TAILRACE_SENT_NO, "queue full: nothing sent");
  tailrace_error_free(err);
  /* to a queue, a call turned away at once has its event posted before tailrace_send returns */
  CHECK_RC(tailrace_send(client, get("/fourth"), q, 4), TAILRACE_OK);
  tailrace_event rejected;
  size_t got = 0;
  CHECK_RC(tailrace_queue_wait(q, 0, &rejected, 1, &got), TAILRACE_OK);
  CHECK(got == 1 && rejected.id == 4 && rejected.result == TAILRACE_E_LIMIT_QUEUE_FULL,
        "queue full: posted at once (%zu events)", got);
  if (got == 1) free_event(&rejected);
  tailrace_event ev = wait_one(q); /* call 2 waited 200 ms for the slot */
  CHECK(ev.id == 2 && ev.result == TAILRACE_E_LIMIT_TIMEOUT, "queue timeout: %s",
        tailrace_result_name(ev.result));
  free_event(&ev);
  /* cancelling the holder gives the slot back at once */
  CHECK_RC(tailrace_cancel(client, 1), TAILRACE_OK);
  ev = wait_one(q);
  CHECK(ev.id == 1 && ev.result == TAILRACE_E_CANCELLED, "holder cancelled");
  free_event(&ev);
  CHECK_RC(tailrace_send_blocking(client, get("/next"), &resp, NULL), TAILRACE_OK);
  tailrace_response_free(resp);
  tailrace_queue_free(q);
  tailrace_client_free(client);
}

/* ---------------------------------------------------------------- thread exit */

/* pthread key destructors run after the thread's TLS destructors (C++ thread_local, Rust
 * thread_local): tailrace's per-thread state is gone, and calls must still not abort. */
static pthread_key_t late_key;
static tailrace_client *late_client;
static int late_cancel_rc = -1, late_message_ok = 0, late_send_rc = -1;

static void late_destructor(void *unused) {
  late_cancel_rc = tailrace_cancel(late_client, 424242);
  const char *m = tailrace_last_error_message();
  late_message_ok = m != NULL;
  tailrace_response *resp = NULL;
  tailrace_request *req = NULL;
  if (tailrace_request_new("GET", "/late", &req) == TAILRACE_OK)
    late_send_rc = tailrace_send_blocking(late_client, req, &resp, NULL);
  tailrace_response_free(resp);
}

static void *late_thread(void *unused) {
  pthread_setspecific(late_key, (void *)1);
  /* touch the thread's error message (and the runtime's per-thread cache) before exit */
  tailrace_cancel(late_client, 424241);
  tailrace_response *resp = NULL;
  tailrace_request *req = NULL;
  if (tailrace_request_new("GET", "/early", &req) == TAILRACE_OK)
    tailrace_send_blocking(late_client, req, &resp, NULL);
  tailrace_response_free(resp);
  return NULL;
}

static void test_calls_from_thread_exit(void) {
  late_client = make_client(NULL);
  CHECK(pthread_key_create(&late_key, late_destructor) == 0, "pthread_key_create");
  pthread_t t;
  CHECK(pthread_create(&t, NULL, late_thread, NULL) == 0, "pthread_create");
  pthread_join(t, NULL);
  CHECK(late_cancel_rc == TAILRACE_E_UNKNOWN_CALL, "cancel at thread exit: %s",
        tailrace_result_name(late_cancel_rc));
  CHECK(late_message_ok, "last error message at thread exit is never NULL");
  CHECK(late_send_rc == TAILRACE_OK, "blocking call at thread exit: %s",
        tailrace_result_name(late_send_rc));
  pthread_key_delete(late_key);
  tailrace_client_free(late_client);
}

/* ---------------------------------------------------------------- fork */

/* One queued call and one callback-free blocking call; 0 when both answered 200. */
static int call_twice(tailrace_client *client) {
  tailrace_queue *q = NULL;
  if (tailrace_queue_new(&q) != TAILRACE_OK) return 1;
  tailrace_request *req = NULL;
  if (tailrace_request_new("GET", "/after-fork", &req) != TAILRACE_OK) return 2;
  if (tailrace_send(client, req, q, 1) != TAILRACE_OK) return 3;
  tailrace_event ev = {0};
  size_t n = 0;
  if (tailrace_queue_wait(q, 20000, &ev, 1, &n) != TAILRACE_OK || n != 1) return 4;
  int bad = ev.result != TAILRACE_OK || tailrace_response_status(ev.response) != 200;
  free_event(&ev);
  tailrace_queue_free(q);
  tailrace_response *resp = NULL;
  if (tailrace_request_new("GET", "/after-fork-blocking", &req) != TAILRACE_OK) return 5;
  if (tailrace_send_blocking(client, req, &resp, NULL) != TAILRACE_OK) return 6;
  bad |= tailrace_response_status(resp) != 200;
  tailrace_response_free(resp);
  return bad ? 7 : 0;
}

/* A child forked after calls were made gets a runtime of its own: the parent's client and a
 * new one both work there, and the parent's keep working. */
static void test_fork(void) {
  if (getenv("TAILRACE_TEST_NO_FORK")) return; /* see run-valgrind in the Makefile */
  tailrace_client *client = make_client(NULL);
  CHECK(call_twice(client) == 0, "calls before fork");
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    int rc = call_twice(client);
    tailrace_client *fresh = NULL;
    tailrace_config *cfg = NULL;
    if (rc == 0 && (tailrace_config_new(&cfg) != TAILRACE_OK ||
                    tailrace_config_set(cfg, "hosts", tb.url, NULL, 0) != TAILRACE_OK ||
                    tailrace_client_new(cfg, &fresh) != TAILRACE_OK))
      rc = 10;
    if (rc == 0) rc = call_twice(fresh);
    _exit(rc);
  }
  CHECK(pid > 0, "fork");
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status %d", status);
  CHECK(call_twice(client) == 0, "parent calls after fork");

  /* A queue (and its notify fd) made before the fork, with a call pending at the fork: the
   * child uses the queue with an fd of its own and never sees the parent's call; the parent's
   * fd and event are untouched by the child. */
  tailrace_queue *q = NULL;
  CHECK_RC(tailrace_queue_new(&q), TAILRACE_OK);
  int fd = -1;
  CHECK_RC(tailrace_queue_notify_fd(q, &fd), TAILRACE_OK);
  CHECK_RC(tailrace_send(client, get("/slow?delay_ms=300"), q, 1), TAILRACE_OK);
  fflush(NULL);
  pid = fork();
  if (pid == 0) {
    int child_fd = -1;
    if (tailrace_queue_notify_fd(q, &child_fd) != TAILRACE_OK) _exit(20);
    if (child_fd == fd) _exit(21); /* the parent's eventfd: the two would steal each other's signals */
    if (tailrace_send(client, get("/in-child"), q, 2) != TAILRACE_OK) _exit(22);
    struct pollfd p = {child_fd, POLLIN, 0};
    if (poll(&p, 1, 20000) != 1) _exit(23);
    tailrace_event ev = {0};
    size_t n = 0;
    if (tailrace_queue_wait(q, 0, &ev, 1, &n) != TAILRACE_OK || n != 1 || ev.id != 2 ||
        ev.result != TAILRACE_OK)
      _exit(24);
    free_event(&ev);
    /* the parent's call (id 1) ends in the parent only */
    if (tailrace_queue_wait(q, 700, &ev, 1, &n) != TAILRACE_OK || n != 0) _exit(25);
    tailrace_queue_free(q);
    _exit(0);
  }
  CHECK(pid > 0, "fork");
  CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child with a pre-fork queue: status %d",
        WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  struct pollfd p = {fd, POLLIN, 0};
  CHECK(poll(&p, 1, 20000) == 1, "the parent's fd signals its own event");
  tailrace_event ev = wait_one(q);
  CHECK(ev.id == 1 && ev.result == TAILRACE_OK, "the parent's pending call ended in the parent");
  free_event(&ev);
  tailrace_queue_free(q);
  tailrace_client_free(client);
}

int main(void) {
  if (testbed_start(&tb, NULL) != 0) {
    fprintf(stderr, "cannot start the testbed (set TAILRACE_TESTBED)\n");
    return 2;
  }
  test_version_and_codes();
  test_config();
  test_request();
  test_blocking_and_response();
  test_runtime_leaves_a_core();
  test_call_errors();
  test_tls();
  test_queue();
  test_notify_fd();
  test_cancel();
  test_callback();
  test_stats();
  test_many_threads();
  test_queue_10000();
  test_limiter();
  test_calls_from_thread_exit();
  test_fork();
  testbed_stop(&tb);
  return CHECK_SUMMARY();
}
