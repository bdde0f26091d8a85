/* Start the testbed binary as a subprocess (it dies with us: --exit-on-stdin-eof) and read its
 * numbers through tailrace itself. */
#ifndef TAILRACE_TEST_TESTBED_H
#define TAILRACE_TEST_TESTBED_H

#include <sys/types.h>

#include "json.h"
#include "tailrace.h"

typedef struct {
  pid_t pid;
  int stdin_fd;
  int port;
  char url[64]; /* http://127.0.0.1:PORT (https://localhost:PORT with --tls) */
} testbed;

/* Start `$TAILRACE_TESTBED` (default target/release/testbed) with --port 0
 * --exit-on-stdin-eof and the extra arguments (NULL-terminated list, may be NULL).
 * Returns 0 on success. */
int testbed_start(testbed *tb, const char *const *extra_args);
/* Close its stdin and wait for it to exit. */
void testbed_stop(testbed *tb);
/* GET /__stats (events included) as parsed JSON; NULL on failure. Free with json_free. */
json *testbed_stats(const testbed *tb);
/* POST /__reset. Returns 0 on success. */
int testbed_reset(const testbed *tb);
/* Poll /__stats until in_flight is 0 (at most ~10 s). Returns the stats or NULL. */
json *testbed_wait_idle(const testbed *tb);

#endif
