"""Hedging seen from Python: r.attempts, r.winner, r.host, the loser cancelled at the testbed."""

from __future__ import annotations

import tailrace
from conftest import Testbed


def test_all_at_once_the_fast_host_wins_and_the_loser_is_cancelled(
    steady_testbed: Testbed, slow_testbed: Testbed
) -> None:
    slow_testbed.wait_idle()
    slow_testbed.reset()
    with tailrace.Client(hosts=[slow_testbed.url, steady_testbed.url], concurrent_calls=2, hedge_delay_ms=0) as c:
        r = c.get("/hedged")
        assert r.status == 200 and r.host == steady_testbed.url and r.attempts == 2
        s = slow_testbed.wait_for(lambda s: s["in_flight"] == 0)
        # The loser's attempt index is in the slow host's log; the winner is the other one.
        loser = [e for e in s["events"] if e["event"] == "start"][0]["attempt"]
        assert r.winner == 1 - loser
        assert [e["event"] for e in s["events"]] == ["start", "cancel"]
        st = c.stats()
        assert (st["hedges_sent"], st["attempts"]) == (1, 2)
        assert st["hedges_won"] == (1 if r.winner == 1 else 0)


def test_a_delayed_hedge_wins_when_the_first_attempt_is_slow(testbed: Testbed, slow_testbed: Testbed) -> None:
    with tailrace.Client(hosts=[slow_testbed.url, testbed.url], concurrent_calls=2, hedge_delay_ms=20) as c:
        r = c.get("/first-goes-to-the-slow-host")
        assert (r.winner, r.attempts, r.host) == (1, 2, testbed.url)
        assert c.stats()["hedges_won"] == 1


def test_no_hedge_when_the_first_attempt_answers_within_the_delay(testbed: Testbed) -> None:
    with tailrace.Client(hosts=[testbed.url], concurrent_calls=3, hedge_delay_ms=2000) as c:
        r = c.get("/fast")
        assert (r.winner, r.attempts) == (0, 1)
        assert c.stats()["hedges_sent"] == 0


def test_send_many_hedges_every_call(testbed: Testbed, slow_testbed: Testbed) -> None:
    with tailrace.Client(hosts=[slow_testbed.url, testbed.url], concurrent_calls=2) as c:
        results = c.send_many([tailrace.Request("GET", f"/m{i}") for i in range(50)])
    assert all(isinstance(r, tailrace.Response) and r.host == testbed.url for r in results)
    assert all(r.attempts == 2 for r in results)  # type: ignore[union-attr]
