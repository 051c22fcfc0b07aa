"""Group commit on SQLite (``portal_core.group_commit``): the lookups waiting behind a group
are done by one thread and committed once, each answered only after that commit, and a group
is never undone piecemeal. A caller refused before it wrote, or refused keeping its writes,
leaves the rest of its group as it was; one that fails after writing has every caller of its
group done again alone, each charged once. Under concurrency and replay, from two engines as
from two processes, every lookup is charged and logged exactly once.

SQLite only: on PostgreSQL the API's lookups run side by side (tests/api)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, func, select
from sqlmodel import col

from portal_core import db, group_commit
from portal_core.errors import LookupRefused, ValidationFailed
from portal_core.models.billing import BillingAccount, LookupType, Product, UsageRecord
from portal_core.models.products import EventStatus, ProductEvent
from portal_core.services import meter
from portal_core.services.lookups import LookupResult
from tests.conftest import build_schema
from tests.services.products_support import Member, look_up, member
from tests.services.support import count, fetch

NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)
PRICE = 3_000  # Starter's $0.0030
WAIT_S = 10.0
NUMBERS = ["+14169671111", "+14165550123", "+16135550188", "+15145550111", "+16045550142"]


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[Engine]:
    """A file database in WAL, which several threads really share."""
    engine = db.create_engine(f"sqlite:///{tmp_path / 'group.db'}")
    build_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def commits(sqlite_engine) -> Iterator[list[object]]:
    made: list[object] = []

    def committed(connection) -> None:
        made.append(connection)

    event.listen(sqlite_engine, "commit", committed)
    yield made
    event.remove(sqlite_engine, "commit", committed)


@pytest.fixture
def who(sqlite_engine) -> Member:
    return member(sqlite_engine, contract_included_requests=0)


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.001)


def in_one_group(
    engine: Engine, works: list[Callable[[], Any]], journal: list[object] | None = None
) -> list[Any]:
    """Do ``works`` through the engine's group commit as one group: a first caller keeps the
    lead (in a group of its own) until all of them wait behind it, in order. Returns what each
    returned or raised; ``journal`` gets ``("answered", index)`` as each caller gets its
    answer."""
    group = group_commit.of(engine)
    release = threading.Event()
    outcomes: list[Any] = [None] * len(works)

    def call(index: int, work: Callable[[], Any]) -> None:
        try:
            outcomes[index] = group.run(work)
        except BaseException as error:
            outcomes[index] = error
        if journal is not None:
            journal.append(("answered", index))

    holding = threading.Event()

    def hold() -> None:
        holding.set()  # the first caller leads, its group of one taken
        release.wait(WAIT_S)

    first = threading.Thread(target=group.run, args=(hold,))
    first.start()
    assert holding.wait(WAIT_S), "the first caller never led"
    callers = []
    for index, work in enumerate(works):
        caller = threading.Thread(target=call, args=(index, work))
        caller.start()
        callers.append(caller)
        _until(partial(_waiting, group, index + 1), f"caller {index} waits")
    release.set()
    for thread in [first, *callers]:
        thread.join(WAIT_S)
        assert not thread.is_alive()
    return outcomes


def _waiting(group: group_commit.GroupCommit, callers: int) -> bool:
    return group.waiting() == callers


def _lookup(engine: Engine, who: Member, number: str, key: str | None = None) -> Callable[[], Any]:
    return lambda: look_up(engine, who, number, now=NOW, request_key=key)


def _lookups(engine: Engine, who: Member) -> list[Callable[[], Any]]:
    return [_lookup(engine, who, number) for number in NUMBERS]


def _meter(connection: Connection, who: Member, key: str) -> None:
    meter.meter_request(
        connection,
        organization_id=who.organization_id,
        product=Product.SMART_CNAM,
        lookup_type=LookupType.CALLER_ID,
        request_key=key,
        now=NOW,
    )


def _logged(engine: Engine, status: EventStatus = EventStatus.OK) -> int:
    return count(engine, ProductEvent, col(ProductEvent.status) == status)


def _unbilled(engine: Engine, who: Member) -> int:
    return fetch(engine, BillingAccount, who.organization_id).unbilled_micros


def test_the_lookups_waiting_are_charged_and_logged_in_one_commit(
    sqlite_engine, who, commits
) -> None:
    results = in_one_group(sqlite_engine, _lookups(sqlite_engine, who))
    assert [result.source.e164 for result in results] == NUMBERS
    assert all(result.cost_micros == PRICE and not result.replayed for result in results)
    assert len(commits) == 2  # the first caller's group, then the five behind it
    assert count(sqlite_engine, UsageRecord) == 5
    assert _logged(sqlite_engine) == 5
    assert _unbilled(sqlite_engine, who) == 5 * PRICE


def test_a_lookup_refused_before_it_wrote_leaves_its_group_as_it_was(
    sqlite_engine, who, commits
) -> None:
    works = _lookups(sqlite_engine, who)
    works[2] = _lookup(sqlite_engine, who, "not a number")
    results = in_one_group(sqlite_engine, works)
    assert isinstance(results[2], ValidationFailed)
    assert "source" in results[2].errors
    assert all(isinstance(results[index], LookupResult) for index in (0, 1, 3, 4))
    assert len(commits) == 2
    assert count(sqlite_engine, UsageRecord) == 4
    assert _unbilled(sqlite_engine, who) == 4 * PRICE


def test_a_refusal_that_keeps_its_writes_keeps_them_in_the_group(
    sqlite_engine, who, commits
) -> None:
    broke = member(sqlite_engine, funds_cents=0, contract_included_requests=0)
    with db.write_session(sqlite_engine) as session:
        account = session.get_one(BillingAccount, broke.organization_id)
        account.credit_limit_micros = 0
        session.add(account)
    commits.clear()
    works = _lookups(sqlite_engine, who)
    works[1] = _lookup(sqlite_engine, broke, NUMBERS[1])
    results = in_one_group(sqlite_engine, works)
    assert isinstance(results[1], LookupRefused)
    assert len(commits) == 2
    assert _logged(sqlite_engine, EventStatus.REFUSED) == 1  # kept, as alone
    assert _logged(sqlite_engine) == 4
    assert _unbilled(sqlite_engine, who) == 4 * PRICE
    assert _unbilled(sqlite_engine, broke) == 0


def test_a_caller_that_fails_after_writing_has_every_caller_done_again_alone(
    sqlite_engine, who, commits
) -> None:
    def fails_after_metering() -> None:
        with db.write_connection(sqlite_engine) as connection:
            _meter(connection, who, "broken")
            raise RuntimeError("broken after metering")

    works = _lookups(sqlite_engine, who)
    works.insert(2, fails_after_metering)
    results = in_one_group(sqlite_engine, works)
    assert isinstance(results[2], RuntimeError)
    assert [result.source.e164 for index, result in enumerate(results) if index != 2] == NUMBERS
    # The group rolled back; each lookup then committed alone, the failure rolled back alone.
    assert len(commits) == 1 + 5
    assert count(sqlite_engine, UsageRecord) == 5  # each lookup charged once, "broken" never
    assert count(sqlite_engine, UsageRecord, col(UsageRecord.request_key) == "broken") == 0
    assert _logged(sqlite_engine) == 5
    assert _unbilled(sqlite_engine, who) == 5 * PRICE


def test_work_that_wrote_and_then_failed_outside_its_unit_keeps_its_writes(
    sqlite_engine, who, commits
) -> None:
    """As alone: the unit of work committed before the failure."""

    def fails_after_its_lookup() -> None:
        look_up(sqlite_engine, who, NUMBERS[0], now=NOW, request_key="answered")
        raise RuntimeError("the answer could not be written")

    results = in_one_group(
        sqlite_engine, [fails_after_its_lookup, _lookup(sqlite_engine, who, NUMBERS[1])]
    )
    assert isinstance(results[0], RuntimeError) and isinstance(results[1], LookupResult)
    assert len(commits) == 2
    assert count(sqlite_engine, UsageRecord, col(UsageRecord.request_key) == "answered") == 1
    assert _unbilled(sqlite_engine, who) == 2 * PRICE


def test_a_request_key_sent_twice_in_one_group_is_charged_once(sqlite_engine, who, commits) -> None:
    first, again = in_one_group(
        sqlite_engine,
        [
            _lookup(sqlite_engine, who, NUMBERS[0], key="one-press"),
            _lookup(sqlite_engine, who, NUMBERS[0], key="one-press"),
        ],
    )
    assert (first.replayed, again.replayed) == (False, True)
    assert again.cost_micros == first.cost_micros == PRICE
    assert count(sqlite_engine, UsageRecord) == 1 and _logged(sqlite_engine) == 1
    assert _unbilled(sqlite_engine, who) == PRICE


def test_what_a_caller_deferred_runs_after_the_commit_and_before_its_answer(
    sqlite_engine, who
) -> None:
    journal: list[object] = []

    def seen_committed() -> int:
        with sqlite_engine.connect() as reader:  # another connection: committed rows only
            return int(reader.execute(select(func.count()).select_from(UsageRecord)).scalar_one())

    def defers() -> str:
        with db.write_connection(sqlite_engine) as connection:
            _meter(connection, who, "deferring")
            db.after_commit(connection, lambda: journal.append(("deferred", seen_committed())))
        return "metered"

    def defers_then_refuses() -> None:
        with db.write_connection(sqlite_engine) as connection:
            db.after_commit(connection, lambda: journal.append("never"))
            raise ValidationFailed({"source": "Not a phone number."})

    works = [_lookup(sqlite_engine, who, NUMBERS[0]), defers, defers_then_refuses]
    results = in_one_group(sqlite_engine, works, journal)
    assert results[1] == "metered" and isinstance(results[2], ValidationFailed)
    assert ("deferred", 2) in journal  # ran once both usage records were committed
    assert journal.index(("deferred", 2)) < journal.index(("answered", 1))
    assert "never" not in journal


def test_an_orm_unit_of_work_has_its_group_done_again_alone(sqlite_engine, who, commits) -> None:
    def with_the_orm() -> str:
        with db.write_session(sqlite_engine) as session:
            account = session.get_one(BillingAccount, who.organization_id)
            account.credit_limit_micros += 1
            session.add(account)
        return "written"

    works = _lookups(sqlite_engine, who)[:2] + [with_the_orm]
    before = fetch(sqlite_engine, BillingAccount, who.organization_id).credit_limit_micros
    results = in_one_group(sqlite_engine, works)
    assert results[2] == "written" and all(isinstance(r, LookupResult) for r in results[:2])
    assert len(commits) == 1 + 3
    assert count(sqlite_engine, UsageRecord) == 2
    account = fetch(sqlite_engine, BillingAccount, who.organization_id)
    assert account.credit_limit_micros == before + 1
    assert account.unbilled_micros == 2 * PRICE


def test_a_group_whose_commit_fails_is_done_again_alone(sqlite_engine, who, commits) -> None:
    failed: list[object] = []

    def fail_once(connection) -> None:
        if len(commits) == 1 and not failed:  # the group behind the first caller's
            failed.append(connection)
            raise RuntimeError("disk I/O error")

    event.listen(sqlite_engine, "commit", fail_once)
    try:
        results = in_one_group(sqlite_engine, _lookups(sqlite_engine, who)[:3])
    finally:
        event.remove(sqlite_engine, "commit", fail_once)
    assert failed and all(isinstance(result, LookupResult) for result in results)
    assert count(sqlite_engine, UsageRecord) == 3 and _logged(sqlite_engine) == 3
    assert _unbilled(sqlite_engine, who) == 3 * PRICE


def test_under_concurrency_and_replay_from_two_processes_each_lookup_is_charged_once(
    tmp_path,
) -> None:
    """Eight threads, on two engines (as two API processes on one file), each sending every
    request key twice: a lookup is charged, recorded and logged once, whichever group or
    process it lands in."""
    url = f"sqlite:///{tmp_path / 'two.db'}"
    engines = [db.create_engine(url), db.create_engine(url)]
    build_schema(engines[0])
    who = member(engines[0], contract_included_requests=0)
    commits: list[object] = []
    for engine in engines:
        event.listen(engine, "commit", lambda connection: commits.append(connection))
    keys = [f"{thread}-{call // 2}" for thread in range(8) for call in range(30)]
    results: dict[int, list[LookupResult]] = {thread: [] for thread in range(8)}
    start = threading.Barrier(8)

    def caller(thread: int) -> None:
        engine = engines[thread % 2]
        start.wait(WAIT_S)
        for key in keys[thread * 30 : (thread + 1) * 30]:
            work = _lookup(engine, who, NUMBERS[thread % 5], key=key)
            results[thread].append(group_commit.of(engine).run(work))

    threads = [threading.Thread(target=caller, args=(thread,)) for thread in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    answered = [result for per_thread in results.values() for result in per_thread]
    assert len(answered) == 240
    assert sum(result.replayed for result in answered) == 120
    assert count(engines[0], UsageRecord) == 120
    assert _logged(engines[0]) == 120
    assert _unbilled(engines[0], who) == 120 * PRICE
    assert len(commits) < 240  # lookups that waited together committed together
    for engine in engines:
        engine.dispose()


def test_the_group_commit_is_one_per_engine(sqlite_engine, tmp_path) -> None:
    other = db.create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    assert group_commit.of(sqlite_engine) is group_commit.of(sqlite_engine)
    assert group_commit.of(other) is not group_commit.of(sqlite_engine)
    other.dispose()


def test_a_unit_of_work_of_another_engine_does_not_join_the_group(
    sqlite_engine, who, commits, tmp_path
) -> None:
    other = db.create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    build_schema(other)
    elsewhere = member(other, contract_included_requests=0)
    results = in_one_group(
        sqlite_engine,
        [_lookup(sqlite_engine, who, NUMBERS[0]), _lookup(other, elsewhere, NUMBERS[1])],
    )
    assert all(isinstance(result, LookupResult) for result in results)
    assert count(other, UsageRecord) == 1 and count(sqlite_engine, UsageRecord) == 1
    assert len(commits) == 2
    other.dispose()


def test_the_same_key_from_two_organizations_in_one_group_is_two_requests(sqlite_engine) -> None:
    """A key is the organization's own: the same key from two organizations is two requests."""
    one = member(sqlite_engine, contract_included_requests=0)
    two = member(sqlite_engine, contract_included_requests=0)
    key = uuid.uuid4().hex
    first, second = in_one_group(
        sqlite_engine,
        [
            _lookup(sqlite_engine, one, NUMBERS[0], key),
            _lookup(sqlite_engine, two, NUMBERS[0], key),
        ],
    )
    assert not first.replayed and not second.replayed
    assert count(sqlite_engine, UsageRecord) == 2
