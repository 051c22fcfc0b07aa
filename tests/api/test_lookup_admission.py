"""How a lookup over the API is let in: counted against the organization's rate limit in the
lookup's own write transaction (one commit per lookup), every call counted whatever its
answer, and on SQLite the lookups of a process run one after the other, those that wait
together committed together (``group_commit``)."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from types import SimpleNamespace

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlmodel import select

from portal_core import db, group_commit
from portal_core.api import app as api_module
from portal_core.models.billing import BillingAccount, UsageRecord
from portal_core.models.products import ProductEvent
from portal_core.models.rate_limits import RateLimitWindow
from portal_core.services import lookups
from tests.api.support import api_over, mint
from tests.services.support import count, fetch

LOOKUP = "/v1/smart-cnam/+14169671111"
SIPSTACK = "/v1/b/partner/smart-cnam/phoneNumber/+14169671111"


def _windows(engine) -> dict[str, int]:
    with db.read_session(engine) as session:
        return {window.bucket: window.count for window in session.exec(select(RateLimitWindow))}


def test_a_lookup_is_counted_charged_and_logged_in_one_commit(engine, client) -> None:
    token = mint(engine)
    commits: list[object] = []

    def committed(connection) -> None:
        commits.append(connection)

    event.listen(engine, "commit", committed)
    try:
        answer = client.get(SIPSTACK, headers=token.basic)
    finally:
        event.remove(engine, "commit", committed)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Rate-Limit-Remaining"] == "4"
    assert len(commits) == 1  # the count, the charge, the usage and the event together
    assert count(engine, UsageRecord) == 1 and count(engine, ProductEvent) == 1
    assert _windows(engine) == {f"lookups:{token.owner.organization_id}": 1}


def test_every_lookup_counts_against_the_limit_whatever_its_answer(engine, client) -> None:
    token = mint(engine, plan="starter")  # 5 lookups a second
    answers = [
        client.get("/v1/smart-cnam/hello", headers=token.bearer),  # not a number
        client.get(f"{LOOKUP}?type=telco&format=text", headers=token.bearer),  # no text answer
        client.get(LOOKUP, headers={**token.bearer, "Idempotency-Key": "k" * 121}),  # bad key
        client.get(LOOKUP, headers=token.bearer),
        client.get(SIPSTACK, headers=token.basic),
    ]
    assert [a.status_code for a in answers] == [422, 406, 422, 200, 200]
    assert [a.headers["X-Rate-Limit-Remaining"] for a in answers] == ["4", "3", "2", "1", "0"]
    refused = client.get(LOOKUP, headers=token.bearer)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert count(engine, UsageRecord) == 2  # the two answered, nothing for the refusals


def test_a_lookup_refused_for_funds_is_counted_with_its_refusal(engine, client) -> None:
    token = mint(engine, funds_cents=0, contract_included_requests=0)
    with db.write_session(engine) as session:
        account = session.get_one(BillingAccount, token.owner.organization_id)
        account.credit_limit_micros = 0
        session.add(account)
    refused = client.get(LOOKUP, headers=token.bearer)
    assert refused.status_code == 402
    assert refused.headers["X-Rate-Limit-Remaining"] == "4"
    (line,) = _events(engine)
    assert line.status == "refused" and line.cost_micros == 0
    assert _windows(engine) == {f"lookups:{token.owner.organization_id}": 1}


def test_a_token_without_the_scope_is_refused_and_counted(engine, client) -> None:
    token = mint(engine, scopes=("whois:read",))
    refused = client.get(LOOKUP, headers=token.bearer)
    assert refused.status_code == 403 and "lookups scope" in refused.json()["detail"]
    assert refused.headers["X-Rate-Limit-Remaining"] == "4"
    assert count(engine, UsageRecord) == 0
    assert [line.action for line in _events(engine)] == ["call"]  # the refused call's line
    assert _windows(engine) == {f"lookups:{token.owner.organization_id}": 1}


def _events(engine) -> list[ProductEvent]:
    with db.read_session(engine) as session:
        return list(session.exec(select(ProductEvent)))


def test_on_sqlite_a_processs_lookups_run_one_at_a_time(engine, clock, monkeypatch) -> None:
    """SQLite writes one transaction at a time: lookups side by side would only contend for
    the interpreter lock. PostgreSQL's run side by side."""
    token = mint(engine)
    running = 0
    most = 0
    guard = threading.Lock()

    def slow_lookup(*_args, **_kwargs) -> SimpleNamespace:
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
        time.sleep(0.2)
        with guard:
            running -= 1
        return SimpleNamespace(text="2.500Toronto ON")

    monkeypatch.setattr(lookups, "look_up", slow_lookup)

    async def four_at_once() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=api_over(engine, clock))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await asyncio.gather(
                *(client.get(SIPSTACK, headers=token.basic) for _ in range(4))
            )

    answers = asyncio.run(four_at_once())
    assert [(a.status_code, a.text) for a in answers] == [(200, "2.500Toronto ON")] * 4
    if engine.dialect.name == "sqlite":
        assert most == 1
    else:
        assert most > 1


def test_lookups_at_once_are_each_counted_charged_and_logged_once(
    concurrent_engine, clock, monkeypatch
) -> None:
    """On SQLite the lookups that wait together are done by one thread and answered from one
    commit; on PostgreSQL each commits on its own, side by side. Either way every call is
    counted, every lookup charged and logged once, a replayed key once in all."""
    engine = concurrent_engine
    token = mint(engine, plan="competitor", contract_included_requests=0)  # 50 a second
    commits: list[object] = []
    real_look_up = lookups.look_up
    grouped = engine.dialect.name == "sqlite"

    first_started = threading.Event()

    def first_waits_for_the_rest(*args, **kwargs):
        # On SQLite one thread does the lookups, so only the first call finds it unset.
        if grouped and not first_started.is_set():
            first_started.set()
            _until_waiting(engine, 7)
        return real_look_up(*args, **kwargs)

    monkeypatch.setattr(lookups, "look_up", first_waits_for_the_rest)
    keys = ["a", "b", "c", "d", "e", "f", "twice", "twice"]

    async def eight_at_once() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=api_over(engine, clock))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:

            async def get(key: str) -> httpx.Response:
                return await client.get(LOOKUP, headers={**token.bearer, "Idempotency-Key": key})

            first = asyncio.create_task(get(keys[0]))
            if grouped:  # the first leads, alone in its group, before the others come
                assert await asyncio.to_thread(first_started.wait, 10)
            rest = await asyncio.gather(*(get(key) for key in keys[1:]))
            return [await first, *rest]

    def committed(connection) -> None:
        commits.append(connection)

    event.listen(engine, "commit", committed)
    try:
        answers = asyncio.run(eight_at_once())
    finally:
        event.remove(engine, "commit", committed)
    assert [answer.status_code for answer in answers] == [200] * 8
    assert [answer.json()["request_id"] for answer in answers] == keys
    assert sorted(answer.json()["replayed"] for answer in answers) == [False] * 7 + [True]
    assert len(commits) == (2 if grouped else 8)
    assert count(engine, UsageRecord) == 7 and count(engine, ProductEvent) == 7
    assert _windows(engine) == {f"lookups:{token.owner.organization_id}": 8}
    account = fetch(engine, BillingAccount, token.owner.organization_id)
    assert account.unbilled_micros == 7 * 2_800  # Competitor's $0.0028


def _until_waiting(engine, callers: int) -> None:
    deadline = time.monotonic() + 10
    while group_commit.of(engine).waiting() < callers:
        assert time.monotonic() < deadline, f"never {callers} lookups waiting"
        time.sleep(0.001)


@pytest.mark.parametrize("settle", [True, False], ids=["served", "made-by-a-test"])
def test_a_served_api_keeps_its_start_up_heap_out_of_full_collections(
    engine, clock, settle
) -> None:
    frozen_before = gc.get_freeze_count()
    served = api_module.create_app(lambda: engine, clock, settle_heap=settle)
    with TestClient(served) as client:
        assert client.get("/healthz").status_code == 200
        frozen = gc.get_freeze_count()
    assert (frozen > frozen_before) is settle
    assert gc.get_freeze_count() == frozen_before  # given back when the server stops
