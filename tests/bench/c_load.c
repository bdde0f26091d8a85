/* Closed-loop load over the C ABI's completion queue: keep C calls in flight until N have
 * completed (after W warm-up calls), on one thread, and print one JSON line like loadgen's, plus
 * the time spent inside the C boundary per call (request_new + send, and wait + accessors + free).
 *   c_load URL CONCURRENCY REQUESTS [WARMUP] */
#define _GNU_SOURCE
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

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s URL CONCURRENCY REQUESTS [WARMUP]\n", argv[0]);
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

  size_t all = total + warmup, sent = 0, done = 0, errors = 0, attempts = 0;
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
         "\"submit_us_per_call\":%.3f,\"drain_us_per_call\":%.3f}\n",
         conc, total, errors, secs, (double)total / secs, lat[total / 2], lat[total * 99 / 100],
         lat[total * 999 / 1000], lat[total - 1], attempts, submit_us / (double)total,
         drain_us / (double)total);
  free(started);
  free(lat);
  tailrace_queue_free(q);
  tailrace_client_free(client);
  return errors ? 1 : 0;
}
