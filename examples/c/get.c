/* Blocking GET with libtailrace: the simplest use.
 *   cc get.c $(pkg-config --cflags --libs tailrace) -o get && ./get http://127.0.0.1:8080/items/1 */
#include <stdio.h>

#include "tailrace.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s URL\n", argv[0]);
    return 2;
  }
  tailrace_config *config = NULL;
  tailrace_client *client = NULL;
  tailrace_request *request = NULL;
  tailrace_response *response = NULL;
  tailrace_error *error = NULL;
  char errbuf[256];
  int rc = 1;

  if (tailrace_config_new(&config) != TAILRACE_OK ||
      tailrace_config_set(config, "timeout_ms", "5000", errbuf, sizeof errbuf) != TAILRACE_OK ||
      tailrace_client_new(config, &client) != TAILRACE_OK ||
      tailrace_request_new("GET", argv[1], &request) != TAILRACE_OK) {
    fprintf(stderr, "setup failed: %s\n", tailrace_last_error_message());
    goto out;
  }
  /* The request is consumed whatever happens. */
  tailrace_result sent = tailrace_send_blocking(client, request, &response, &error);
  if (sent != TAILRACE_OK) {
    fprintf(stderr, "GET failed (%s): %s\n", tailrace_result_name(sent),
            error ? tailrace_error_message(error) : tailrace_last_error_message());
    goto out;
  }
  const uint8_t *body;
  size_t len;
  tailrace_response_body(response, &body, &len);
  printf("%u from %s in %llu us (%u attempt(s))\n", tailrace_response_status(response),
         tailrace_response_host(response), (unsigned long long)tailrace_response_elapsed_us(response),
         tailrace_response_attempts(response));
  fwrite(body, 1, len, stdout);
  putchar('\n');
  rc = 0;
out:
  tailrace_response_free(response);
  tailrace_error_free(error);
  tailrace_client_free(client);
  tailrace_config_free(config);
  return rc;
}
