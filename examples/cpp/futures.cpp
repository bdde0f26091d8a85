// Future-style use of the C++ wrapper: start many calls, then collect them; cancel one.
//   ./futures BASE_URL       e.g. ./futures http://127.0.0.1:8080
#include <cstdio>
#include <future>
#include <vector>

#include "tailrace.hpp"

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s BASE_URL\n", argv[0]);
    return 2;
  }
  try {
    tailrace::Client client(tailrace::Config().set("hosts", argv[1]).set("concurrent_calls", "2"));

    std::vector<std::future<tailrace::Response>> futures;
    for (int i = 0; i < 100; i++)
      futures.push_back(client.send_async(tailrace::Request("GET", "/items?delay_ms=2").set("order_key", "demo")));

    uint64_t slow_id = 0;
    auto slow = client.send_async(tailrace::Request("GET", "/slow?delay_ms=30000"), &slow_id);
    client.cancel(slow_id);

    int ok = 0;
    for (auto &f : futures) ok += f.get().status() == 200;
    try {
      slow.get();
      std::printf("the slow call was not cancelled\n");
      return 1;
    } catch (const tailrace::Error &e) {
      std::printf("slow call: %s\n", e.kind().c_str());
      if (e.code() != TAILRACE_E_CANCELLED) return 1;
    }

    tailrace::Response r = client.send(tailrace::Request("GET", "/hello").header("x-from", "cpp"));
    std::printf("%d/100 futures ok; blocking: %u from %.*s, proto %.*s\n", ok, r.status(),
                static_cast<int>(r.host().size()), r.host().data(),
                static_cast<int>(r.header("x-testbed-proto").value_or("?").size()),
                r.header("x-testbed-proto").value_or("?").data());
    try {
      client.send(tailrace::Request("GET", "ftp://nowhere/x"));
    } catch (const tailrace::Error &e) {
      std::printf("bad URL refused: %s\n", e.kind().c_str());
    }
    return ok == 100 ? 0 : 1;
  } catch (const tailrace::Error &e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
