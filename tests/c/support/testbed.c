#define _GNU_SOURCE
#include "testbed.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int testbed_start(testbed *tb, const char *const *extra_args) {
  const char *bin = getenv("TAILRACE_TESTBED");
  if (!bin || !*bin) bin = "target/release/testbed";
  const char *argv[32] = {bin, "--port", "0", "--exit-on-stdin-eof"};
  int argc = 4, tls = 0;
  for (int i = 0; extra_args && extra_args[i] && argc < 31; i++) {
    if (!strcmp(extra_args[i], "--tls")) tls = 1;
    argv[argc++] = extra_args[i];
  }
  argv[argc] = NULL;
  int in[2], out[2];
  if (pipe(in) || pipe(out)) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[0]); close(in[1]); close(out[0]); close(out[1]);
    execv(bin, (char *const *)argv);
    fprintf(stderr, "cannot run the testbed %s (build it: cargo build --release -p tailrace-testbed)\n", bin);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  char line[32] = {0};
  size_t n = 0;
  while (n < sizeof line - 1) {
    ssize_t r = read(out[0], line + n, 1);
    if (r <= 0 || line[n] == '\n') break;
    n++;
  }
  close(out[0]);
  tb->pid = pid;
  tb->stdin_fd = in[1];
  tb->port = atoi(line);
  if (tb->port <= 0) {
    testbed_stop(tb);
    return -1;
  }
  snprintf(tb->url, sizeof tb->url, tls ? "https://localhost:%d" : "http://127.0.0.1:%d", tb->port);
  return 0;
}

void testbed_stop(testbed *tb) {
  if (tb->pid <= 0) return;
  close(tb->stdin_fd);
  int status;
  waitpid(tb->pid, &status, 0);
  tb->pid = 0;
}

/* One plain tailrace call to the testbed's control endpoints (a client per call keeps it
 * independent of the client under test). */
static char *control_call(const testbed *tb, const char *method, const char *path) {
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", tb->port, path);
  tailrace_config *cfg = NULL;
  tailrace_client *client = NULL;
  tailrace_request *req = NULL;
  tailrace_response *resp = NULL;
  char *text = NULL;
  if (tailrace_config_new(&cfg) || tailrace_client_new(cfg, &client) ||
      tailrace_request_new(method, url, &req) ||
      tailrace_send_blocking(client, req, &resp, NULL)) {
    fprintf(stderr, "testbed control call %s %s failed: %s\n", method, path, tailrace_last_error_message());
  } else {
    const uint8_t *body;
    size_t len;
    tailrace_response_body(resp, &body, &len);
    text = malloc(len + 1);
    memcpy(text, body, len);
    text[len] = 0;
  }
  tailrace_response_free(resp);
  tailrace_client_free(client);
  tailrace_config_free(cfg);
  return text;
}

json *testbed_stats(const testbed *tb) {
  char *text = control_call(tb, "GET", "/__stats");
  if (!text) return NULL;
  char err[128];
  json *j = json_parse(text, err, sizeof err);
  if (!j) fprintf(stderr, "testbed stats: %s\n", err);
  free(text);
  return j;
}

int testbed_reset(const testbed *tb) {
  char *text = control_call(tb, "POST", "/__reset");
  free(text);
  return text ? 0 : -1;
}

json *testbed_wait_idle(const testbed *tb) {
  for (int i = 0; i < 1000; i++) {
    json *s = testbed_stats(tb);
    if (s && json_number(json_get(s, "in_flight"), -1) == 0) return s;
    json_free(s);
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return NULL;
}
