#include "json.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *p;
  const char *error;
} parser;

static json *parse_value(parser *ps, int depth);

static void skip_ws(parser *ps) {
  while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r') ps->p++;
}

static json *new_node(json_type t) {
  json *j = calloc(1, sizeof *j);
  if (j) j->type = t;
  return j;
}

static int push(json *j, char *key, json *item) {
  json **items = realloc(j->items, (j->len + 1) * sizeof *items);
  if (!items) return 0;
  j->items = items;
  if (j->type == JSON_OBJECT) {
    char **keys = realloc(j->keys, (j->len + 1) * sizeof *keys);
    if (!keys) return 0;
    j->keys = keys;
    j->keys[j->len] = key;
  }
  j->items[j->len++] = item;
  return 1;
}

static void put_utf8(char **out, unsigned cp) {
  char *o = *out;
  if (cp < 0x80) {
    *o++ = (char)cp;
  } else if (cp < 0x800) {
    *o++ = (char)(0xC0 | (cp >> 6));
    *o++ = (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *o++ = (char)(0xE0 | (cp >> 12));
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *o++ = (char)(0x80 | (cp & 0x3F));
  } else {
    *o++ = (char)(0xF0 | (cp >> 18));
    *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *o++ = (char)(0x80 | (cp & 0x3F));
  }
  *out = o;
}

static int hex4(const char *s, unsigned *v) {
  *v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    *v <<= 4;
    if (c >= '0' && c <= '9') *v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') *v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') *v |= (unsigned)(c - 'A' + 10);
    else return 0;
  }
  return 1;
}

static char *parse_string_raw(parser *ps) {
  if (*ps->p != '"') { ps->error = "expected a string"; return NULL; }
  ps->p++;
  const char *start = ps->p;
  size_t cap = 0;
  while (*ps->p && *ps->p != '"') {
    if (*ps->p == '\\' && ps->p[1]) ps->p++;
    ps->p++;
    cap++;
  }
  if (*ps->p != '"') { ps->error = "unterminated string"; return NULL; }
  char *out = malloc(cap * 4 + 1), *o = out;
  if (!out) { ps->error = "out of memory"; return NULL; }
  for (const char *s = start; s < ps->p; s++) {
    if (*s != '\\') { *o++ = *s; continue; }
    s++;
    switch (*s) {
      case 'n': *o++ = '\n'; break;
      case 't': *o++ = '\t'; break;
      case 'r': *o++ = '\r'; break;
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'u': {
        unsigned cp, lo;
        if (!hex4(s + 1, &cp)) { free(out); ps->error = "bad \\u escape"; return NULL; }
        s += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && s[1] == '\\' && s[2] == 'u' && hex4(s + 3, &lo)) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          s += 6;
        }
        put_utf8(&o, cp);
        break;
      }
      default: *o++ = *s; break;
    }
  }
  *o = 0;
  ps->p++;
  return out;
}

static json *parse_container(parser *ps, int depth, int object) {
  json *j = new_node(object ? JSON_OBJECT : JSON_ARRAY);
  if (!j) { ps->error = "out of memory"; return NULL; }
  ps->p++;
  skip_ws(ps);
  char close = object ? '}' : ']';
  if (*ps->p == close) { ps->p++; return j; }
  for (;;) {
    char *key = NULL;
    skip_ws(ps);
    if (object) {
      key = parse_string_raw(ps);
      if (!key) break;
      skip_ws(ps);
      if (*ps->p != ':') { free(key); ps->error = "expected ':'"; break; }
      ps->p++;
    }
    json *item = parse_value(ps, depth + 1);
    if (!item || !push(j, key, item)) { free(key); json_free(item); break; }
    skip_ws(ps);
    if (*ps->p == ',') { ps->p++; continue; }
    if (*ps->p == close) { ps->p++; return j; }
    ps->error = object ? "expected ',' or '}'" : "expected ',' or ']'";
    break;
  }
  if (!ps->error) ps->error = "bad container";
  json_free(j);
  return NULL;
}

static json *parse_value(parser *ps, int depth) {
  if (depth > 64) { ps->error = "nested too deep"; return NULL; }
  skip_ws(ps);
  char c = *ps->p;
  if (c == '{') return parse_container(ps, depth, 1);
  if (c == '[') return parse_container(ps, depth, 0);
  if (c == '"') {
    char *s = parse_string_raw(ps);
    if (!s) return NULL;
    json *j = new_node(JSON_STRING);
    if (!j) { free(s); return NULL; }
    j->string = s;
    return j;
  }
  if (!strncmp(ps->p, "true", 4) || !strncmp(ps->p, "false", 5)) {
    json *j = new_node(JSON_BOOL);
    j->boolean = c == 't';
    ps->p += j->boolean ? 4 : 5;
    return j;
  }
  if (!strncmp(ps->p, "null", 4)) {
    ps->p += 4;
    return new_node(JSON_NULL);
  }
  if (c == '-' || isdigit((unsigned char)c)) {
    char *end;
    double v = strtod(ps->p, &end);
    if (end == ps->p) { ps->error = "bad number"; return NULL; }
    ps->p = end;
    json *j = new_node(JSON_NUMBER);
    j->number = v;
    return j;
  }
  ps->error = "unexpected character";
  return NULL;
}

json *json_parse(const char *text, char *err, size_t errlen) {
  parser ps = {text, NULL};
  json *j = parse_value(&ps, 0);
  if (j) {
    skip_ws(&ps);
    if (*ps.p) { json_free(j); j = NULL; ps.error = "trailing characters"; }
  }
  if (!j && err && errlen)
    snprintf(err, errlen, "%s at offset %ld", ps.error ? ps.error : "error", (long)(ps.p - text));
  return j;
}

json *json_parse_file(const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) { if (err) snprintf(err, errlen, "cannot open %s", path); return NULL; }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  size_t got = buf ? fread(buf, 1, (size_t)n, f) : 0;
  fclose(f);
  if (!buf) return NULL;
  buf[got] = 0;
  json *j = json_parse(buf, err, errlen);
  free(buf);
  return j;
}

void json_free(json *j) {
  if (!j) return;
  for (size_t i = 0; i < j->len; i++) {
    json_free(j->items[i]);
    if (j->keys) free(j->keys[i]);
  }
  free(j->items);
  free(j->keys);
  free(j->string);
  free(j);
}

const json *json_get(const json *obj, const char *key) {
  if (!obj || obj->type != JSON_OBJECT) return NULL;
  for (size_t i = 0; i < obj->len; i++)
    if (!strcmp(obj->keys[i], key)) return obj->items[i];
  return NULL;
}

const json *json_path(const json *obj, const char *path) {
  char part[128];
  while (obj && *path) {
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);
    if (n >= sizeof part) return NULL;
    memcpy(part, path, n);
    part[n] = 0;
    obj = json_get(obj, part);
    path += n + (dot ? 1 : 0);
  }
  return obj;
}

const json *json_at(const json *arr, size_t i) {
  return arr && arr->type == JSON_ARRAY && i < arr->len ? arr->items[i] : NULL;
}

double json_number(const json *j, double fallback) {
  return j && j->type == JSON_NUMBER ? j->number : fallback;
}

const char *json_string(const json *j, const char *fallback) {
  return j && j->type == JSON_STRING ? j->string : fallback;
}

int json_bool(const json *j, int fallback) {
  return j && j->type == JSON_BOOL ? j->boolean : fallback;
}
