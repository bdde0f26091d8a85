/* Fan-out over the completion queue with hedging: N calls spread over several hosts, each sent
 * twice when the first copy is slow (hedge_delay_ms), drained in batches from one queue that an
 * event loop watches through its eventfd.
 *   ./fanout HOSTS N      e.g. ./fanout http://127.0.0.1:8080,http://127.0.0.1:8081 1000 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include "tailrace.h"

#define CHECK(call)                                                                  \
  do {                                                                               \
    if ((call) != TAILRACE_OK) {                                                     \
      fprintf(stderr, "%s: %s\n", #call, tailrace_last_error_message());             \
      exit(1);                                                                       \
    }                                                                                \
  } while (0)

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s HOSTS N\n", argv[0]);
    return 2;
  }
  size_t total = strtoul(argv[2], NULL, 10);
  tailrace_config *config;
  tailrace_client *client;
  tailrace_queue *queue;
  CHECK(tailrace_config_new(&config));
  CHECK(tailrace_config_set(config, "hosts", argv[1], NULL, 0));
  CHECK(tailrace_config_set(config, "concurrent_calls", "2", NULL, 0));
  CHECK(tailrace_config_set(config, "hedge_delay_ms", "5", NULL, 0));
  CHECK(tailrace_config_set(config, "hedge_max_extra_load", "0.2", NULL, 0));
  CHECK(tailrace_client_new(config, &client));
  tailrace_config_free(config);
  CHECK(tailrace_queue_new(&queue));
  int fd;
  CHECK(tailrace_queue_notify_fd(queue, &fd));

  /* Submit everything: each send returns at once; the runtime does the I/O. */
  for (size_t i = 0; i < total; i++) {
    tailrace_request *req;
    CHECK(tailrace_request_new("GET", "/items?latency=tail:0.05:200:20000", &req));
    CHECK(tailrace_send(client, req, queue, i));
  }

  /* An event loop would poll this fd among its others. */
  size_t done = 0, ok = 0, hedged = 0;
  unsigned long long worst_us = 0;
  tailrace_event events[128];
  while (done < total) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 30000) <= 0) break;
    size_t n;
    CHECK(tailrace_queue_wait(queue, 0, events, 128, &n));
    for (size_t i = 0; i < n; i++) {
      if (events[i].result == TAILRACE_OK) {
        ok++;
        hedged += tailrace_response_attempts(events[i].response) > 1;
        unsigned long long us = tailrace_response_elapsed_us(events[i].response);
        if (us > worst_us) worst_us = us;
      } else {
        fprintf(stderr, "call %llu: %s\n", (unsigned long long)events[i].id,
                tailrace_error_message(events[i].error));
      }
      tailrace_response_free(events[i].response);
      tailrace_error_free(events[i].error);
    }
    done += n;
  }
  printf("%zu calls: %zu ok, %zu hedged, slowest %llu us\n", total, ok, hedged, worst_us);
  char *stats;
  CHECK(tailrace_client_stats_json(client, &stats, NULL));
  printf("stats: %s\n", stats);
  tailrace_buf_free(stats);
  tailrace_queue_free(queue);
  tailrace_client_free(client);
  return ok == total ? 0 : 1;
}
