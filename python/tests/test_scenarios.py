"""The scenario suite (tests/scenarios/*.json, format in tests/scenarios/README.md), run through
the Python binding so it cannot drift from the core. TAILRACE_SCENARIOS points at another folder.

Each call is submitted with `AsyncClient.submit`, which submits on the line that calls it, so
calls are submitted in list order from one thread, each returning before the next."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

import tailrace
from conftest import REPO, Testbed

SCENARIOS = Path(os.environ.get("TAILRACE_SCENARIOS", REPO / "tests" / "scenarios"))
FILES = sorted(SCENARIOS.glob("*.json"))
HUNG_AFTER_S = 30.0


def load(path: Path) -> Dict[str, Any]:
    with open(path) as f:
        return json.load(f)  # type: ignore[no-any-return]


def request_for(i: int, call: Dict[str, Any]) -> tailrace.Request:
    headers = {"x-seq": str(i)}
    if call.get("order_key"):
        headers["x-key"] = call["order_key"]
    path = f"/scenario/{call['id']}?delay_ms={call.get('delay_ms', 0)}&status={call.get('status', 200)}"
    return tailrace.Request(
        call.get("method", "GET"),
        path,
        headers=headers,
        order_key=call.get("order_key") or None,
        flush=bool(call.get("flush", False)),
        limit_key=call.get("limit_key") or None,
        idempotent=call.get("idempotent"),
        timeout_ms=call.get("timeout_ms"),
    )


async def run_calls(client: tailrace.AsyncClient, calls: List[Dict[str, Any]]) -> Dict[str, str]:
    loop = asyncio.get_running_loop()
    futures: Dict[str, "asyncio.Future[tailrace.Response]"] = {}
    for i, call in enumerate(calls):
        if call.get("submit_after_ms"):
            await asyncio.sleep(call["submit_after_ms"] / 1000)
        fut = client.submit(request_for(i, call))
        futures[call["id"]] = fut
        if call.get("cancel_after_ms") is not None:
            loop.call_later(call["cancel_after_ms"] / 1000, fut.cancel)
    _, pending = await asyncio.wait(list(futures.values()), timeout=HUNG_AFTER_S)
    if pending:
        for f in pending:
            f.cancel()
        raise AssertionError(f"hung: {len(pending)} calls still pending after {HUNG_AFTER_S} s")
    outcomes = {}
    for cid, fut in futures.items():
        if fut.cancelled():
            outcomes[cid] = "cancelled"
        elif fut.exception() is not None:
            exc = fut.exception()
            outcomes[cid] = getattr(exc, "kind", type(exc).__name__)
        else:
            outcomes[cid] = "ok"
    return outcomes


def _error_kinds() -> set[str]:
    kinds, todo = set(), [tailrace.TailraceError]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if isinstance(getattr(cls, "kind", None), str):
            kinds.add(cls.kind)
    return kinds


def stat_value(stats: Dict[str, Any], key: str) -> Any:
    if key.startswith("errors."):
        kind = key[len("errors."):]
        # The map lists only kinds that occurred; a kind nobody knows is a typo in the scenario.
        assert kind in stats["errors"] or kind in _error_kinds(), f"no error kind `{kind}`"
        return stats["errors"].get(kind, 0)
    value: Any = stats
    for part in key.split("."):
        value = value[part]
    return value


def check(scenario: Dict[str, Any], outcomes: Dict[str, str], tb: Dict[str, Any], stats: Dict[str, Any]) -> List[str]:
    """Every present `expect` field, checked; returns what differed."""
    expect = scenario.get("expect", {})
    seq_to_id = {i: c["id"] for i, c in enumerate(scenario["calls"])}
    events = [(e["event"], seq_to_id.get(e["seq"])) for e in tb["events"] if e["seq"] in seq_to_id]

    def first(event: str, cid: str) -> Optional[int]:
        for idx, (ev, c) in enumerate(events):
            if c == cid and ev == event:
                return idx
        return None

    def end(cid: str) -> Optional[int]:
        ends = [i for i in (first("finish", cid), first("cancel", cid)) if i is not None]
        return min(ends) if ends else None

    diffs = []
    for cid, want in expect.get("outcomes", {}).items():
        if outcomes.get(cid) != want:
            diffs.append(f"outcome of {cid}: want {want}, got {outcomes.get(cid)}")
    for a, b in expect.get("finished_before_start", []):
        ea, sb = end(a), first("start", b)
        if ea is None or sb is None or ea > sb:
            diffs.append(f"finished_before_start {a} {b}: {a} ended at event {ea}, {b} started at event {sb}")
    for a, b in expect.get("started_before_finish", []):
        sa, fb = first("start", a), end(b)
        if sa is None or fb is None or sa > fb:
            diffs.append(f"started_before_finish {a} {b}: {a} started at event {sa}, {b} ended at event {fb}")
    started = [c for ev, c in events if ev == "start"]
    first_starts = list(dict.fromkeys(started))
    for ids in expect.get("start_order", []):
        seen = [c for c in first_starts if c in ids]
        if seen != list(ids):
            diffs.append(f"start_order: want {ids}, got {seen}")
    if "max_in_flight" in expect and tb["max_in_flight"] != expect["max_in_flight"]:
        diffs.append(f"max_in_flight: want {expect['max_in_flight']}, got {tb['max_in_flight']}")
    if "max_in_flight_at_most" in expect and tb["max_in_flight"] > expect["max_in_flight_at_most"]:
        diffs.append(f"max_in_flight: want at most {expect['max_in_flight_at_most']}, got {tb['max_in_flight']}")
    for cid in expect.get("not_sent", []):
        if cid in started:
            diffs.append(f"not_sent: {cid} reached the testbed")
    for cid in expect.get("sent", []):
        if cid not in started:
            diffs.append(f"sent: {cid} never reached the testbed")
    for key, want in expect.get("stats", {}).items():
        got = stat_value(stats, key)
        if got != want:
            diffs.append(f"stats {key}: want {want}, got {got}")
    return diffs


def run_scenario(scenario: Dict[str, Any], testbed: Testbed) -> List[str]:
    options = dict(scenario.get("client", {}))
    options["hosts"] = testbed.url

    async def main() -> Dict[str, str]:
        async with tailrace.AsyncClient(**options) as client:
            outcomes = await run_calls(client, scenario["calls"])
            main.stats = client.stats()  # type: ignore[attr-defined]
            return outcomes

    outcomes = asyncio.run(main())
    tb = testbed.wait_idle(timeout=HUNG_AFTER_S)
    if tb["in_flight"] != 0:
        return [f"hung: the testbed still has {tb['in_flight']} requests in flight"]
    return check(scenario, outcomes, tb, main.stats)  # type: ignore[attr-defined]


if FILES:

    @pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
    def test_scenario(path: Path, testbed: Testbed) -> None:
        scenario = load(path)
        diffs = run_scenario(scenario, testbed)
        assert not diffs, f"{scenario['name']}\n  rule: {scenario.get('rule')}\n  " + "\n  ".join(diffs)

else:

    def test_no_scenarios_yet() -> None:
        """tests/scenarios/ has no scenario files yet; the runner has nothing to run."""
        assert not FILES
