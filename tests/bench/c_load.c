/* Closed-loop load over the C ABI: keep C calls in flight until N have completed (after W
 * warm-up calls) and print one JSON line like loadgen's.
 *   c_load URL CONCURRENCY REQUESTS [WARMUP] [queue|callback]
 * queue (default): one thread sends and drains the completion queue; the line also has the time
 *   spent inside the C boundary per call (request_new + send, and wait + accessors + free).
 * callback: each call's callback (on a runtime thread) sends the next call; the main thread only
 *   waits for the end. No thread of the caller's takes part per call. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tailrace.h"

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The callback mode's shared state: the next id to send, and what the callbacks saw. */
static struct {
  const char *url;
  tailrace_client *client;
  size_t all, warmup;
  atomic_size_t next, done, errors, attempts;
  double *started, *lat, t0;
  pthread_mutex_t mu;
  pthread_cond_t finished;
} cb;

static int send_next(void);

static void on_done(void *userdata, const tailrace_event *ev) {
  (void)userdata;
  double now = now_us();
  uint64_t id = ev->id;
  if (ev->result != TAILRACE_OK) atomic_fetch_add(&cb.errors, 1);
  else if (id >= cb.warmup)
    atomic_fetch_add(&cb.attempts, tailrace_response_attempts(ev->response));
  if (id >= cb.warmup) cb.lat[id - cb.warmup] = now - cb.started[id];
  tailrace_response_free(ev->response);
  tailrace_error_free(ev->error);
  size_t done = atomic_fetch_add(&cb.done, 1) + 1;
  if (done == cb.all) {
    pthread_mutex_lock(&cb.mu);
    pthread_cond_signal(&cb.finished);
    pthread_mutex_unlock(&cb.mu);
  } else if (send_next() != 0) {
    abort();
  }
}

/* Send call number `next` (if any are left) with on_done as its callback. */
static int send_next(void) {
  size_t id = atomic_fetch_add(&cb.next, 1);
  if (id >= cb.all) return 0;
  tailrace_request *req;
  cb.started[id] = now_us();
  /* The clock starts with the first measured call (read by main after the last call's
   * callback, which this write happens before). */
  if (id == cb.warmup) cb.t0 = cb.started[id];
  if (tailrace_request_new("GET", cb.url, &req) ||
      tailrace_send_cb(cb.client, req, id, on_done, NULL)) {
    fprintf(stderr, "send: %s\n", tailrace_last_error_message());
    return 1;
  }
  return 0;
}

static int run_callbacks(tailrace_client *client, const char *url, size_t conc, size_t total,
                         size_t warmup) {
  cb.url = url;
  cb.client = client;
  cb.all = total + warmup;
  cb.warmup = warmup;
  cb.started = calloc(cb.all, sizeof *cb.started);
  cb.lat = calloc(total, sizeof *cb.lat);
  pthread_mutex_init(&cb.mu, NULL);
  pthread_cond_init(&cb.finished, NULL);
  pthread_mutex_lock(&cb.mu);
  for (size_t i = 0; i < conc; i++)
    if (send_next() != 0) return 1;
  while (atomic_load(&cb.done) < cb.all) pthread_cond_wait(&cb.finished, &cb.mu);
  pthread_mutex_unlock(&cb.mu);
  double secs = (now_us() - cb.t0) / 1e6;
  qsort(cb.lat, total, sizeof *cb.lat, cmp);
  size_t errors = atomic_load(&cb.errors);
  printf("{\"client\":\"c-abi-callback\",\"concurrency\":%zu,\"requests\":%zu,\"errors\":%zu,"
         "\"secs\":%.3f,\"rps\":%.1f,\"p50_us\":%.0f,\"p99_us\":%.0f,\"p999_us\":%.0f,"
         "\"max_us\":%.0f,\"attempts\":%zu}\n",
         conc, total, errors, secs, (double)total / secs, cb.lat[total / 2],
         cb.lat[total * 99 / 100], cb.lat[total * 999 / 1000], cb.lat[total - 1],
         atomic_load(&cb.attempts));
  free(cb.started);
  free(cb.lat);
  return errors ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s URL CONCURRENCY REQUESTS [WARMUP] [queue|callback]\n", argv[0]);
    return 2;
  }
  const char *url = argv[1];
  size_t conc = strtoul(argv[2], NULL, 10), total = strtoul(argv[3], NULL, 10);
  size_t warmup = argc > 4 ? strtoul(argv[4], NULL, 10) : 0;
  tailrace_config *cfg;
  tailrace_client *client;
  tailrace_queue *q;
  if (tailrace_config_new(&cfg) || tailrace_client_new(cfg, &client) || tailrace_queue_new(&q)) {
    fprintf(stderr, "setup: %s\n", tailrace_last_error_message());
    return 1;
  }
  tailrace_config_free(cfg);
  if (argc > 5 && strcmp(argv[5], "callback") == 0) {
    int rc = run_callbacks(client, url, conc, total, warmup);
    tailrace_queue_free(q);
    tailrace_client_free(client);
    return rc;
  }

  size_t all = total + warmup, sent = 0, done = 0, errors = 0, attempts = 0, waits = 0;
  double *started = calloc(all, sizeof *started), *lat = calloc(total, sizeof *lat);
  double submit_us = 0, drain_us = 0, t0 = 0;
  tailrace_event evs[512];
  while (done < all) {
    while (sent < all && sent - done < conc) {
      double a = now_us();
      tailrace_request *req;
      if (tailrace_request_new("GET", url, &req) || tailrace_send(client, req, q, sent)) {
        fprintf(stderr, "send: %s\n", tailrace_last_error_message());
        return 1;
      }
      double b = now_us();
      if (sent >= warmup) submit_us += b - a;
      started[sent++] = b;
    }
    size_t n = 0;
    if (tailrace_queue_wait(q, 30000, evs, 512, &n) || n == 0) {
      fprintf(stderr, "wait: no events within 30 s\n");
      return 1;
    }
    double got = now_us();
    if (done >= warmup) waits++;
    for (size_t i = 0; i < n; i++) {
      uint64_t id = evs[i].id;
      if (evs[i].result != TAILRACE_OK) errors++;
      else if (id >= warmup) attempts += tailrace_response_attempts(evs[i].response);
      if (id >= warmup) lat[id - warmup] = got - started[id];
      tailrace_response_free(evs[i].response);
      tailrace_error_free(evs[i].error);
    }
    double b = now_us();
    /* the wait itself blocks on the network: count the handling of the events it returned */
    if (done >= warmup) drain_us += b - got;
    done += n;
    if (done >= warmup && t0 == 0) t0 = now_us();
  }
  double secs = (now_us() - t0) / 1e6;
  qsort(lat, total, sizeof *lat, cmp);
  printf("{\"client\":\"c-abi\",\"concurrency\":%zu,\"requests\":%zu,\"errors\":%zu,\"secs\":%.3f,"
         "\"rps\":%.1f,\"p50_us\":%.0f,\"p99_us\":%.0f,\"p999_us\":%.0f,\"max_us\":%.0f,\"attempts\":%zu,"
         "\"submit_us_per_call\":%.3f,\"drain_us_per_call\":%.3f,\"events_per_wait\":%.2f}\n",
         conc, total, errors, secs, (double)total / secs, lat[total / 2], lat[total * 99 / 100],
         lat[total * 999 / 1000], lat[total - 1], attempts, submit_us / (double)total,
         drain_us / (double)total, (double)total / (double)(waits ? waits : 1));
  free(started);
  free(lat);
  tailrace_queue_free(q);
  tailrace_client_free(client);
  return errors ? 1 : 0;
}
