/* A small JSON reader for the C tests and the scenario runner (no dependency to install).
 * Parses a whole document into a tree; numbers are doubles; strings are UTF-8 with escapes
 * decoded (\uXXXX outside ASCII becomes UTF-8; surrogate pairs are joined). */
#ifndef TAILRACE_TEST_JSON_H
#define TAILRACE_TEST_JSON_H

#include <stddef.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json {
  json_type type;
  int boolean;
  double number;
  char *string;        /* JSON_STRING */
  size_t len;          /* items in an array or object */
  struct json **items; /* JSON_ARRAY, JSON_OBJECT (values) */
  char **keys;         /* JSON_OBJECT */
} json;

/* Parse `text`; NULL on error with a message in err (may be NULL). Free with json_free. */
json *json_parse(const char *text, char *err, size_t errlen);
/* Parse a file. */
json *json_parse_file(const char *path, char *err, size_t errlen);
void json_free(json *j);

/* Lookups: NULL when missing or of another type. */
const json *json_get(const json *obj, const char *key);
/* Dotted path through objects: "latency_us.p99", "errors.cancelled". */
const json *json_path(const json *obj, const char *path);
const json *json_at(const json *arr, size_t i);
double json_number(const json *j, double fallback);
const char *json_string(const json *j, const char *fallback);
int json_bool(const json *j, int fallback);

#endif
