"""The synchronous client: every verb, every per-call argument, every option, the response."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tailrace
from conftest import Testbed


def echo(r: tailrace.Response) -> dict:  # type: ignore[type-arg]
    return r.json()  # type: ignore[no-any-return]


def test_get_returns_status_headers_body_and_where_it_came_from(client: tailrace.Client, url: str) -> None:
    r = client.get("/hello?body_bytes=5")
    assert r.status == 200 and r.ok
    assert r.content == b"xxxxx" and r.text == "xxxxx"
    assert r.headers["content-length"] == "5"
    assert r.headers["x-testbed-proto"] == "HTTP/1.1"
    assert r.host == url
    assert (r.attempts, r.winner) == (1, 0)
    assert r.elapsed > 0
    assert r.http_version == "HTTP/1.1"
    assert "200" in repr(r)


@pytest.mark.parametrize("verb", ["get", "head", "options", "delete", "post", "put", "patch"])
def test_every_verb_sends_its_method(client: tailrace.Client, verb: str) -> None:
    r = getattr(client, verb)("/__echo")
    assert r.status == 200
    if verb != "head":
        assert echo(r)["method"] == verb.upper()


def test_headers_as_dict_or_pairs_and_body_as_bytes_or_str(client: tailrace.Client) -> None:
    r = client.post("/__echo", headers={"x-a": "1"}, content=b"\x00\x01binary")
    e = echo(r)
    assert e["headers"]["x-a"] == "1"
    assert e["body_len"] == 8
    r = client.put("/__echo", headers=[("x-b", "1"), ("x-b", "2")], content="héllo")
    e = echo(r)
    assert e["headers"]["x-b"] == "1, 2"
    assert e["body"] == "héllo"
    r = client.request("PATCH", "/__echo", content=bytearray(b"abc"))
    assert echo(r)["body"] == "abc"


def test_full_url_works_without_hosts(url: str) -> None:
    with tailrace.Client() as c:
        assert c.get(f"{url}/full").status == 200


def test_a_4xx_or_5xx_answer_without_hedging_is_a_response(client: tailrace.Client) -> None:
    assert client.get("/x?status=404").status == 404
    assert client.get("/x?status=418").ok is False


def test_json_and_text_of_the_echo(client: tailrace.Client) -> None:
    r = client.post("/__echo", content=json.dumps({"k": [1, 2]}))
    assert json.loads(echo(r)["body"]) == {"k": [1, 2]}


def test_timeout_ms_per_call_overrides_the_client(client: tailrace.Client) -> None:
    with pytest.raises(tailrace.Timeout) as ei:
        client.get("/slow?delay_ms=5000", timeout_ms=50)
    assert ei.value.which == "call"
    assert client.get("/quick?delay_ms=1", timeout_ms=5000).status == 200


def test_order_flush_and_limit_key_are_accepted_on_every_call(client: tailrace.Client) -> None:
    r = client.get("/a", order_key="k1", flush=False, limit_key=None, idempotent=None, timeout_ms=None)
    assert r.status == 200
    assert client.get("/b", order_key="k1", flush=True, limit_key="tenant-1").status == 200
    assert client.delete("/c", idempotent=False).status == 200


def test_idempotent_true_lets_a_post_be_hedged(testbed: Testbed) -> None:
    with tailrace.Client(hosts=[testbed.url], concurrent_calls=2) as c:
        assert c.post("/p", content=b"x").attempts == 1  # POST is not idempotent by default
        assert c.post("/p", content=b"x", idempotent=True).attempts == 2
        assert c.get("/g", idempotent=False).attempts == 1


def test_send_a_prepared_request(client: tailrace.Client) -> None:
    req = tailrace.Request("POST", "/__echo", headers={"x-r": "1"}, content=b"body", order_key="k",
                           flush=True, limit_key="l", idempotent=True, timeout_ms=1000)
    assert (req.method, req.url, req.order_key, req.flush, req.limit_key, req.idempotent, req.timeout_ms) == (
        "POST", "/__echo", "k", True, "l", True, 1000)
    assert "order_key" in repr(req)
    e = echo(client.send(req))
    assert e["method"] == "POST" and e["body"] == "body" and e["headers"]["x-r"] == "1"


def test_send_many_returns_responses_and_exceptions_in_list_order(client: tailrace.Client, testbed: Testbed) -> None:
    # Later items answer sooner, so completion order is not list order.
    reqs = [tailrace.Request("GET", f"/__echo?i={i}&delay_ms={30 - i}") for i in range(20)]
    reqs.insert(5, tailrace.Request("GET", "ftp://nope/"))
    reqs.insert(9, tailrace.Request("GET", "/slow?delay_ms=3000", timeout_ms=30))
    results = client.send_many(reqs)
    assert len(results) == 22
    assert isinstance(results[5], tailrace.InvalidRequest)
    assert isinstance(results[9], tailrace.Timeout)
    oks = [r for i, r in enumerate(results) if i not in (5, 9)]
    assert all(isinstance(r, tailrace.Response) and r.status == 200 for r in oks)
    assert [echo(r)["query"].split("&")[0] for r in oks] == [f"i={i}" for i in range(20)]  # type: ignore[union-attr]
    assert testbed.wait_idle()["requests"] == 21


def test_send_many_rejects_a_wrong_item_before_sending_anything(client: tailrace.Client, testbed: Testbed) -> None:
    with pytest.raises(TypeError, match="item 1"):
        client.send_many([tailrace.Request("GET", "/a"), "GET /b"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="iterable"):
        client.send_many(tailrace.Request("GET", "/a"))  # type: ignore[arg-type]
    # A generator is read to its end before anything is submitted.
    with pytest.raises(TypeError, match="item 2"):
        client.send_many(r for r in [tailrace.Request("GET", "/a"), tailrace.Request("GET", "/b"), None])
    assert testbed.stats()["requests"] == 0


def test_send_many_takes_any_iterable(client: tailrace.Client, testbed: Testbed) -> None:
    reqs = [tailrace.Request("GET", f"/__echo?i={i}") for i in range(3)]
    for iterable in [tuple(reqs), (r for r in reqs), iter(reqs), {i: r for i, r in enumerate(reqs)}.values()]:
        results = client.send_many(iterable)
        assert [echo(r)["query"] for r in results] == ["i=0", "i=1", "i=2"]  # type: ignore[arg-type]


def test_send_many_of_nothing_is_an_empty_list(client: tailrace.Client) -> None:
    assert client.send_many([]) == []


def test_stats_has_the_keys_of_the_stats_json(client: tailrace.Client) -> None:
    client.get("/s")
    s = client.stats()
    for key in ["calls", "attempts", "hedges_sent", "hedges_won", "hedges_skipped_budget",
                "hedges_skipped_no_slot", "hedge_delay_us", "errors", "latency_us", "in_flight", "queued",
                "rejected_queue_full", "limit_timeouts", "max_in_flight", "waiting_for_order", "flush_waits",
                "utilization_percent", "hosts"]:
        assert key in s, key
    assert s["calls"] == 1 and s["attempts"] == 1
    assert set(s["latency_us"]) >= {"p50", "p90", "p99", "p999"}
    assert s["hosts"][0]["attempts"] == 1


EVERY_OPTION = {
    "hosts": ["http://127.0.0.1:1", "http://127.0.0.1:2"],
    "balance": "p2c",
    "concurrent_calls": 3,
    "hedge_delay_ms": 2.5,
    "hedge_percentile": 95,
    "hedge_max_extra_load": 0.05,
    "retry_on_status": [502, 503],
    "attempt_header": False,
    "eject_after": 3,
    "eject_ms": 1000,
    "max_count": 32,
    "max_queue": 100,
    "queue_timeout_ms": 1000,
    "timeout_ms": 5000,
    "attempt_timeout_ms": 1000,
    "connect_timeout_ms": 500,
    "max_response_bytes": 1 << 20,
    "http2": "never",
    "http2_prior_knowledge": False,
    "pool_max_idle_per_host": 8,
    "pool_idle_timeout_ms": 1000,
}


def test_every_option_is_accepted_as_a_keyword() -> None:
    with tailrace.Client(**EVERY_OPTION) as c:  # type: ignore[arg-type]
        assert not c.closed
    tailrace.AsyncClient(**EVERY_OPTION).close()  # type: ignore[arg-type]


def test_option_values_as_strings_and_none_mean_the_same(url: str) -> None:
    with tailrace.Client(hosts=url, concurrent_calls="2", timeout_ms=None, retry_on_status="5xx") as c:  # type: ignore[arg-type]
        assert c.get("/x").attempts == 2


def test_close_refuses_new_calls_and_the_context_manager_closes(url: str) -> None:
    c = tailrace.Client(hosts=[url])
    with c:
        assert c.get("/x").status == 200
    assert c.closed
    with pytest.raises(tailrace.ClientClosed):
        c.get("/x")
    c.close()  # idempotent
    assert "closed" in repr(c)


def test_a_lowercase_method_is_sent_upper_cased_and_hedged_like_its_upper_case(testbed: Testbed) -> None:
    with tailrace.Client(hosts=[testbed.url], concurrent_calls=2) as c:
        r = c.request("get", "/__echo")
        assert echo(r)["method"] == "GET"
        assert r.attempts == 2  # GET is idempotent, so it was hedged
        assert c.request("post", "/__echo", content=b"x").attempts == 1
        req = tailrace.Request("delete", "/__echo")
        assert req.method == "DELETE"
        assert echo(c.send(req))["method"] == "DELETE"
        assert echo(c.request("Patch", "/__echo"))["method"] == "PATCH"


def test_request_reports_the_method_as_given_even_one_that_cannot_be_sent(client: tailrace.Client) -> None:
    req = tailrace.Request("GE T", "/x")
    assert req.method == "GE T" and "GE T" in repr(req)
    with pytest.raises(tailrace.InvalidRequest, match="GE T"):
        client.send(req)
    assert tailrace.Request("purge", "/x").method == "PURGE"


class Index:
    """An int that is not an int: a numpy integer, say (has __index__)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __index__(self) -> int:
        return self.n


class Floaty:
    """A number with __float__ only (numpy.float64 is a float subclass; this one is not)."""

    def __init__(self, f: float) -> None:
        self.f = f

    def __float__(self) -> float:
        return self.f


def test_numeric_options_take_anything_with_index_or_float(url: str) -> None:
    with tailrace.Client(hosts=[url], concurrent_calls=Index(2), hedge_delay_ms=Floaty(0.0),  # type: ignore[arg-type]
                         timeout_ms=Index(5000), retry_on_status=[Index(503), "5xx"]) as c:  # type: ignore[list-item]
        r = c.get("/x")
        assert r.status == 200 and r.attempts == 2
    tailrace.Client(hedge_delay_ms=Floaty(2.5)).close()  # type: ignore[arg-type]
    with pytest.raises(tailrace.InvalidOption, match="hedge_delay_ms"):
        tailrace.Client(hedge_delay_ms=Floaty(-1.0))  # type: ignore[arg-type]
    with pytest.raises(tailrace.InvalidOption, match="concurrent_calls"):
        tailrace.Client(concurrent_calls=Index(11))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="retry_on_status"):
        tailrace.Client(retry_on_status=[True])


GIL_WHILE_SETTING_UP_TLS = """
import sys, threading, time
import tailrace

client = tailrace.Client()  # reads no roots: TLS is set up at the first https connect
outcome = []

def call():
    try:
        client.get("https://127.0.0.1:9/")  # nothing listens there: refused after the setup
    except tailrace.TailraceError as e:
        outcome.append(e)

t = threading.Thread(target=call)
t.start()
time.sleep(0.5)  # the call's TLS setup is now blocked opening the FIFO
# Taking the GIL back: a call that held it while it waited would deadlock here.
with open(sys.argv[1], "w"):
    pass  # a reader and a writer met: the setup reads an empty file and goes on
t.join()
client.close()
print("called" if outcome else "no error")
"""


def test_a_call_waiting_for_tls_setup_releases_the_gil(tmp_path: Path) -> None:
    # A process's first https connect loads the system's CA roots, from SSL_CERT_FILE when set.
    # Make that a FIFO, so the setup blocks until this process opens it for writing, which needs
    # the GIL back.
    fifo = tmp_path / "roots.pem"
    os.mkfifo(fifo)
    env = dict(os.environ, SSL_CERT_FILE=str(fifo), SSL_CERT_DIR="")
    try:
        out = subprocess.run([sys.executable, "-c", GIL_WHILE_SETTING_UP_TLS, str(fifo)], env=env,
                             capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("a call held the GIL while TLS setup waited on a file")
    assert out.returncode == 0 and out.stdout.strip() == "called", out.stderr


def test_help_shows_documentation_for_every_public_method() -> None:
    for cls in (tailrace.Client, tailrace.AsyncClient, tailrace.Request, tailrace.Response):
        assert cls.__doc__, cls
        for name in dir(cls):
            if not name.startswith("_"):
                attr = getattr(cls, name)
                if callable(attr):
                    assert attr.__doc__, f"{cls.__name__}.{name} has no docstring"
