"""Every exception class, raised by a real failure against the testbed; bad input of every kind."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Dict

import pytest

import tailrace
from conftest import Testbed


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def test_the_tree_has_one_root_and_the_builtins_mixed_in() -> None:
    classes = [tailrace.InvalidOption, tailrace.InvalidRequest, tailrace.ConnectError, tailrace.TLSError,
               tailrace.Timeout, tailrace.ProtocolError, tailrace.ResponseTooLarge, tailrace.LimitQueueFull,
               tailrace.LimitTimeout, tailrace.AllAttemptsFailed, tailrace.HTTPStatusError, tailrace.Cancelled,
               tailrace.ClientClosed, tailrace.Internal]
    for cls in classes:
        assert issubclass(cls, tailrace.TailraceError)
    assert issubclass(tailrace.Timeout, TimeoutError)
    assert issubclass(tailrace.InvalidRequest, ValueError)
    assert issubclass(tailrace.InvalidOption, ValueError)
    assert issubclass(tailrace.ConnectError, ConnectionError)
    assert len({c.kind for c in classes}) == len(classes)


def test_every_kind_of_the_design_has_a_class_of_its_name() -> None:
    # DESIGN.md, "Errors": `tailrace.<Kind>` for every kind of its table.
    kinds = {"InvalidOption": "invalid_option", "InvalidRequest": "invalid_request", "Connect": "connect",
             "Tls": "tls", "Timeout": "timeout", "ResponseTooLarge": "response_too_large",
             "LimitQueueFull": "limit_queue_full", "LimitTimeout": "limit_timeout",
             "AllAttemptsFailed": "all_attempts_failed", "Cancelled": "cancelled", "ClientClosed": "client_closed",
             "Internal": "internal"}
    for name, kind in kinds.items():
        cls = getattr(tailrace, name)
        assert issubclass(cls, tailrace.TailraceError) and cls.kind == kind, name
        assert name in tailrace.__all__ and getattr(tailrace.errors, name) is cls
    assert tailrace.Connect is tailrace.ConnectError and tailrace.Tls is tailrace.TLSError


# --- options: unknown keyword, bad value, wrong type -------------------------------------------

def test_unknown_keyword_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="concurent_calls") as ei:
        tailrace.Client(concurent_calls=2)  # type: ignore[call-arg]
    assert isinstance(ei.value, tailrace.InvalidOption)
    assert "did you mean concurrent_calls" in str(ei.value)
    assert (ei.value.kind, ei.value.sent) == ("invalid_option", "no")
    with pytest.raises(tailrace.InvalidOption, match="bogus"):
        tailrace.AsyncClient(bogus=1)  # type: ignore[call-arg]


@pytest.mark.parametrize("name,value", [
    ("concurrent_calls", 0), ("concurrent_calls", 11), ("hosts", ["ftp://a"]), ("hosts", "not a url"),
    ("balance", "fastest"), ("hedge_percentile", 100), ("timeout_ms", -1), ("max_response_bytes", 0),
    ("max_count", "many"), ("attempt_header", "maybe"), ("retry_on_status", [999]),
])
def test_bad_option_value_is_a_value_error_naming_the_option(name: str, value: Any) -> None:
    with pytest.raises(tailrace.InvalidOption, match=name):
        tailrace.Client(**{name: value})


def test_options_that_need_each_other_are_checked_at_construction() -> None:
    with pytest.raises(tailrace.InvalidOption, match="max_queue"):
        tailrace.Client(max_queue=10)


@pytest.mark.parametrize("name,value", [
    ("concurrent_calls", [2]), ("timeout_ms", {"ms": 1}), ("hosts", [1, 2]), ("hosts", 8080),
    ("max_count", object()),
])
def test_option_of_the_wrong_type_is_a_type_error_naming_it(name: str, value: Any) -> None:
    with pytest.raises(TypeError, match=name):
        tailrace.Client(**{name: value})


def test_a_comma_inside_a_hosts_item_is_refused() -> None:
    with pytest.raises(tailrace.InvalidOption, match="comma"):
        tailrace.Client(hosts=["http://a:1,http://b:2"])


# --- call arguments ------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["ftp://x/", "http://", "/bad path", "", "http://exa mple.com/"])
def test_invalid_url_is_an_invalid_request_and_nothing_is_sent(client: tailrace.Client, testbed: Testbed,
                                                                target: str) -> None:
    with pytest.raises(tailrace.InvalidRequest) as ei:
        client.get(target)
    assert ei.value.sent == "no"
    assert testbed.stats()["requests"] == 0


def test_a_path_without_hosts_says_to_set_hosts() -> None:
    with tailrace.Client() as c, pytest.raises(tailrace.InvalidRequest, match="hosts"):
        c.get("/relative")


def test_bad_method_is_an_invalid_request(client: tailrace.Client) -> None:
    with pytest.raises(tailrace.InvalidRequest, match="GE T"):
        client.request("GE T", "/x")


@pytest.mark.parametrize("headers,match", [
    ({1: "a"}, "header names must be str"),
    ({"x-a": 1}, "header `x-a` must be str"),
    ({"x-a": b"bytes"}, "header `x-a` must be str"),
    ([("x-a",)], "pair"),
    ("x-a: 1", "headers must be"),
])
def test_non_str_header_is_a_type_error_naming_it(client: tailrace.Client, headers: Any, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        client.get("/x", headers=headers)


def test_crlf_in_a_header_is_an_invalid_request_naming_it(client: tailrace.Client) -> None:
    with pytest.raises(tailrace.InvalidRequest, match="x-evil"):
        client.get("/x", headers={"x-evil": "a\r\nx-injected: 1"})
    with pytest.raises(tailrace.InvalidRequest, match="a b"):
        client.get("/x", headers={"a b": "c"})


@pytest.mark.parametrize("content", [123, ["a"], {"a": 1}, 1.5])
def test_body_of_the_wrong_type_is_a_type_error(client: tailrace.Client, content: Any) -> None:
    with pytest.raises(TypeError, match="content must be bytes"):
        client.post("/x", content=content)


@pytest.mark.parametrize("kwargs,match", [
    ({"order_key": 5}, "order_key"), ({"flush": "yes"}, "flush"), ({"limit_key": b"k"}, "limit_key"),
    ({"idempotent": 1}, "idempotent"), ({"timeout_ms": 1.5}, "timeout_ms"), ({"timeout_ms": "10"}, "timeout_ms"),
])
def test_call_field_of_the_wrong_type_is_a_type_error_naming_it(client: tailrace.Client, kwargs: Dict[str, Any],
                                                               match: str) -> None:
    with pytest.raises(TypeError, match=match):
        client.get("/x", **kwargs)
    with pytest.raises(TypeError, match=match):
        tailrace.Request("GET", "/x", **kwargs)


# A lone surrogate: what os.environ or os.listdir give for bytes that are not UTF-8.
LONE = "\udcff"


@pytest.mark.parametrize("call,match", [
    (lambda c: c.get(f"/x{LONE}"), "url"),
    (lambda c: c.request(f"GE{LONE}", "/x"), "method"),
    (lambda c: c.get("/x", headers={f"x-a{LONE}": "v"}), "header name"),
    (lambda c: c.get("/x", headers=[("x-a", f"v{LONE}")]), "header `x-a`"),
    (lambda c: c.get("/x", order_key=f"k{LONE}"), "order_key"),
    (lambda c: c.get("/x", limit_key=f"k{LONE}"), "limit_key"),
    (lambda c: c.post("/x", content=f"body{LONE}"), "content"),
    (lambda c: c.send(tailrace.Request("GET", "/x", order_key=f"k{LONE}")), "order_key"),
    (lambda c: c.send(tailrace.Request("GET", f"/x{LONE}")), "url"),
])
def test_a_lone_surrogate_is_an_invalid_request_naming_the_field(client: tailrace.Client, testbed: Testbed,
                                                                 call: Any, match: str) -> None:
    with pytest.raises(tailrace.InvalidRequest, match=match) as ei:
        call(client)
    assert "surrogate" in str(ei.value) and ei.value.sent == "no"
    assert testbed.stats()["requests"] == 0


def test_a_lone_surrogate_in_an_async_call_or_an_option_names_it(url: str) -> None:
    async def main() -> None:
        async with tailrace.AsyncClient(hosts=[url]) as ac:
            with pytest.raises(tailrace.InvalidRequest, match="limit_key"):
                await ac.get("/x", limit_key=LONE)

    asyncio.run(main())
    with pytest.raises(tailrace.InvalidOption, match="hosts"):
        tailrace.Client(hosts=[f"http://a{LONE}"])
    with pytest.raises(tailrace.InvalidOption, match="ca_file"):
        tailrace.Client(ca_file=f"/tmp/{LONE}.pem")


def test_negative_timeout_is_an_invalid_request(client: tailrace.Client) -> None:
    with pytest.raises(tailrace.InvalidRequest, match="timeout_ms"):
        client.get("/x", timeout_ms=-1)


def test_unknown_call_keyword_is_a_type_error(client: tailrace.Client) -> None:
    with pytest.raises(TypeError, match="order_keys"):
        client.get("/x", order_keys="k")  # type: ignore[call-arg]


# --- failures at run time ------------------------------------------------------------------------

def test_refused_connection_is_a_connect_error() -> None:
    with tailrace.Client(hosts=[f"http://127.0.0.1:{free_port()}"]) as c:
        with pytest.raises(tailrace.ConnectError) as ei:
            c.get("/x")
    assert isinstance(ei.value, ConnectionError)
    assert ei.value.sent == "no"


def test_untrusted_certificate_is_a_tls_error(tls_testbed: Testbed) -> None:
    with tailrace.Client(hosts=[tls_testbed.url]) as c, pytest.raises(tailrace.TLSError):
        c.get("/x")


def test_ca_file_makes_the_testbed_trusted(tls_testbed: Testbed) -> None:
    with tailrace.Client(hosts=[tls_testbed.url], ca_file=tls_testbed.ca_file) as c:  # type: ignore[attr-defined]
        r = c.get("/x")
    assert r.status == 200 and r.http_version == "HTTP/2"


def test_call_timeout_is_a_timeout_error_saying_which(url: str) -> None:
    with tailrace.Client(hosts=[url], timeout_ms=50) as c:
        with pytest.raises(TimeoutError) as ei:
            c.get("/x?delay_ms=5000")
    assert isinstance(ei.value, tailrace.Timeout)
    assert ei.value.which == "call" and "timeout_ms" in str(ei.value)


def test_attempt_timeout_says_attempt(url: str) -> None:
    with tailrace.Client(hosts=[url], attempt_timeout_ms=50) as c:
        with pytest.raises(tailrace.Timeout) as ei:
            c.get("/x?delay_ms=5000")
    assert ei.value.which == "attempt"


def test_body_over_max_response_bytes_is_response_too_large(url: str) -> None:
    with tailrace.Client(hosts=[url], max_response_bytes=1000) as c:
        assert len(c.get("/x?body_bytes=1000").content) == 1000
        with pytest.raises(tailrace.ResponseTooLarge) as ei:
            c.get("/x?body_bytes=1001")
    assert ei.value.sent == "yes"


def test_broken_response_is_a_protocol_error(client: tailrace.Client) -> None:
    with pytest.raises(tailrace.ProtocolError):
        client.get("/x?close_mid_body=1&body_bytes=100000")


def test_all_attempts_failed_lists_each_attempts_host_and_cause(testbed: Testbed) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with tailrace.Client(hosts=[testbed.url, dead], concurrent_calls=2) as c:
        with pytest.raises(tailrace.AllAttemptsFailed) as ei:
            c.get("/x?status=503")
    attempts = ei.value.attempts
    assert sorted(a.attempt for a in attempts) == [0, 1]
    by_host = {a.host: a.cause for a in attempts}
    assert set(by_host) == {testbed.url, dead}
    assert isinstance(by_host[dead], tailrace.ConnectError)
    answered = by_host[testbed.url]
    assert isinstance(answered, tailrace.HTTPStatusError) and answered.status == 503


def test_pending_call_ends_with_client_closed_when_another_thread_closes(client: tailrace.Client,
                                                                          testbed: Testbed) -> None:
    import threading

    errors: list = []  # type: ignore[type-arg]

    def call() -> None:
        try:
            client.get("/x?delay_ms=10000")
        except tailrace.TailraceError as e:
            errors.append(e)

    t = threading.Thread(target=call)
    t.start()
    testbed.wait_for(lambda s: s["in_flight"] == 1)
    client.close()
    t.join(10)
    assert not t.is_alive()
    assert isinstance(errors[0], tailrace.ClientClosed)


def test_full_queue_is_limit_queue_full_and_nothing_is_sent(testbed: Testbed) -> None:
    with tailrace.Client(hosts=[testbed.url], max_count=1, max_queue=0) as c:
        results = c.send_many([tailrace.Request("GET", "/hold?delay_ms=300"), tailrace.Request("GET", "/rejected")])
    assert isinstance(results[0], tailrace.Response)
    assert isinstance(results[1], tailrace.LimitQueueFull) and results[1].sent == "no"
    assert [e["path"] for e in testbed.wait_idle()["events"] if e["event"] == "start"] == ["/hold"]


def test_waiting_past_queue_timeout_is_limit_timeout(testbed: Testbed) -> None:
    with tailrace.Client(hosts=[testbed.url], max_count=1, max_queue=5, queue_timeout_ms=50) as c:
        results = c.send_many([tailrace.Request("GET", "/hold?delay_ms=2000"), tailrace.Request("GET", "/waits")])
    assert isinstance(results[1], tailrace.LimitTimeout)


def test_a_rust_panic_becomes_tailrace_error_with_the_message() -> None:
    from tailrace import _native

    with pytest.raises(tailrace.Internal, match="boom") as ei:
        _native._panic_for_tests("boom")
    assert ei.value.kind == "internal" and "a bug" in str(ei.value)


def test_exceptions_carry_kind_and_sent_matching_the_stats(client: tailrace.Client) -> None:
    with pytest.raises(tailrace.Timeout) as ei:
        client.get("/x?delay_ms=5000", timeout_ms=20)
    assert ei.value.kind == "timeout"
    assert client.stats()["errors"] == {"timeout": 1}
