// A small RAII wrapper over the tailrace C API, in one header (C++17).
//
//   tailrace::Client client(tailrace::Config().set("hosts", "http://10.0.0.1:8080"));
//   tailrace::Response r = client.send(tailrace::Request("GET", "/items/1"));        // blocking
//   std::future<tailrace::Response> f = client.send_async(tailrace::Request("GET", "/x"));
//
// Handles free themselves; failures throw tailrace::Error (code(), what()). send_async completes
// the future from a tailrace runtime thread; .get() it from your own threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "tailrace.h"

namespace tailrace {

/// A failed call or a refused argument.
class Error : public std::runtime_error {
 public:
  Error(tailrace_result code, const std::string &message)
      : std::runtime_error(std::string(tailrace_result_name(code)) + ": " + message), code_(code) {}
  /// The TAILRACE_E_* code.
  tailrace_result code() const noexcept { return code_; }
  /// The snake_case kind, e.g. "limit_queue_full".
  std::string kind() const { return tailrace_result_name(code_); }

 private:
  tailrace_result code_;
};

namespace detail {
inline void check(tailrace_result rc) {
  if (rc != TAILRACE_OK) throw Error(rc, tailrace_last_error_message());
}
template <class T, void (*Free)(T *)>
struct Deleter {
  void operator()(T *p) const noexcept { Free(p); }
};
template <class T, void (*Free)(T *)>
using Handle = std::unique_ptr<T, Deleter<T, Free>>;
inline Error from_handle(tailrace_error *e) {
  Error err(tailrace_error_code(e), tailrace_error_message(e));
  tailrace_error_free(e);
  return err;
}
}  // namespace detail

/// Client options by name (the same names as every language).
class Config {
 public:
  Config() {
    tailrace_config *c = nullptr;
    detail::check(tailrace_config_new(&c));
    handle_.reset(c);
  }
  Config &set(const std::string &name, const std::string &value) {
    char err[512];
    tailrace_result rc = tailrace_config_set(handle_.get(), name.c_str(), value.c_str(), err, sizeof err);
    if (rc != TAILRACE_OK) throw Error(rc, err);
    return *this;
  }
  const tailrace_config *get() const noexcept { return handle_.get(); }

 private:
  detail::Handle<tailrace_config, tailrace_config_free> handle_;
};

/// One call to make; consumed when sent.
class Request {
 public:
  Request(const std::string &method, const std::string &url_or_path) {
    tailrace_request *r = nullptr;
    detail::check(tailrace_request_new(method.c_str(), url_or_path.c_str(), &r));
    handle_.reset(r);
  }
  // Each builder method works on a named request (returns Request&) and on a temporary
  // (returns Request&&, so `client.send(Request(...).set(...))` moves it).
  Request &header(const std::string &name, const std::string &value) & {
    detail::check(tailrace_request_header_add(handle_.get(), name.c_str(), value.c_str()));
    return *this;
  }
  Request &&header(const std::string &name, const std::string &value) && {
    return std::move(header(name, value));
  }
  Request &body(std::string_view bytes) & {
    detail::check(tailrace_request_body_set(handle_.get(), reinterpret_cast<const uint8_t *>(bytes.data()),
                                            bytes.size()));
    return *this;
  }
  Request &&body(std::string_view bytes) && { return std::move(body(bytes)); }
  /// order_key, flush, limit_key, idempotent, timeout_ms.
  Request &set(const std::string &name, const std::string &value) & {
    detail::check(tailrace_request_set(handle_.get(), name.c_str(), value.c_str()));
    return *this;
  }
  Request &&set(const std::string &name, const std::string &value) && { return std::move(set(name, value)); }
  /// Give up ownership (the send functions consume the request).
  tailrace_request *release() noexcept { return handle_.release(); }

 private:
  detail::Handle<tailrace_request, tailrace_request_free> handle_;
};

/// A complete answer. Views returned by its methods live as long as the Response.
class Response {
 public:
  explicit Response(tailrace_response *r) : handle_(r) {}
  uint16_t status() const noexcept { return tailrace_response_status(handle_.get()); }
  std::string_view body() const {
    const uint8_t *data = nullptr;
    size_t len = 0;
    detail::check(tailrace_response_body(handle_.get(), &data, &len));
    return {reinterpret_cast<const char *>(data), len};
  }
  std::optional<std::string_view> header(const std::string &name) const {
    const uint8_t *v = nullptr;
    size_t len = 0;
    tailrace_result rc = tailrace_response_header(handle_.get(), name.c_str(), &v, &len);
    if (rc == TAILRACE_E_NOT_FOUND) return std::nullopt;
    detail::check(rc);
    return std::string_view(reinterpret_cast<const char *>(v), len);
  }
  std::string_view host() const noexcept { return tailrace_response_host(handle_.get()); }
  uint32_t attempts() const noexcept { return tailrace_response_attempts(handle_.get()); }
  uint32_t winner() const noexcept { return tailrace_response_winner(handle_.get()); }
  uint64_t elapsed_us() const noexcept { return tailrace_response_elapsed_us(handle_.get()); }

 private:
  detail::Handle<tailrace_response, tailrace_response_free> handle_;
};

/// An HTTP client; use it from any number of threads.
class Client {
 public:
  explicit Client(const Config &config) {
    tailrace_client *c = nullptr;
    detail::check(tailrace_client_new(config.get(), &c));
    handle_.reset(c);
  }

  /// Send and wait on this thread.
  Response send(Request request) {
    tailrace_response *r = nullptr;
    tailrace_error *e = nullptr;
    tailrace_result rc = tailrace_send_blocking(handle_.get(), request.release(), &r, &e);
    if (rc != TAILRACE_OK) {
      if (e) throw detail::from_handle(e);
      throw Error(rc, tailrace_last_error_message());
    }
    return Response(r);
  }

  /// Send and get a future; `id_out` (optional) receives the id for cancel().
  std::future<Response> send_async(Request request, uint64_t *id_out = nullptr) {
    auto promise = std::make_unique<std::promise<Response>>();
    std::future<Response> future = promise->get_future();
    uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
    tailrace_result rc = tailrace_send_cb(handle_.get(), request.release(), id, &Client::complete, promise.get());
    detail::check(rc);
    promise.release();  // the callback owns it now
    if (id_out) *id_out = id;
    return future;
  }

  /// Cancel a send_async call; its future then throws Error with TAILRACE_E_CANCELLED.
  /// Returns false when the call had already ended.
  bool cancel(uint64_t id) { return tailrace_cancel(handle_.get(), id) == TAILRACE_OK; }

  std::string stats_json() const {
    char *text = nullptr;
    detail::check(tailrace_client_stats_json(handle_.get(), &text, nullptr));
    std::string out(text);
    tailrace_buf_free(text);
    return out;
  }

 private:
  // Runs on a tailrace runtime thread: completes the future and returns at once.
  static void complete(void *userdata, const tailrace_event *event) {
    std::unique_ptr<std::promise<Response>> promise(static_cast<std::promise<Response> *>(userdata));
    if (event->result == TAILRACE_OK) {
      promise->set_value(Response(event->response));
    } else {
      promise->set_exception(std::make_exception_ptr(detail::from_handle(event->error)));
    }
  }

  detail::Handle<tailrace_client, tailrace_client_free> handle_;
  std::atomic<uint64_t> next_id_{1};
};

}  // namespace tailrace
