"""The API's rate limits as the service counts them: policies from data, the plan's lookups
per second, fixed windows that reset, failures counted per address, the prune, and counts
that no concurrent caller loses."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from portal_core import db
from portal_core.models.rate_limits import RateLimitWindow
from portal_core.services import rate_limits
from portal_core.services.jobs import JOBS
from tests.services.products_support import member
from tests.services.support import count

NOW = datetime(2026, 11, 16, 15, 0, 0, 400_000, tzinfo=UTC)
ADDRESS = "203.0.113.7"


def count_call(
    engine: Engine,
    policy_name: str,
    subject: uuid.UUID,
    *,
    address: str,
    now: datetime,
    organization_id: uuid.UUID | None = None,
    test: bool = False,
) -> rate_limits.Counted:
    """One call counted in a unit of work of its own, as a route without writes counts it."""
    with db.write_connection(engine) as connection:
        return rate_limits.count_in(
            connection,
            policy_name,
            subject,
            address=address,
            now=now,
            organization_id=organization_id,
            test=test,
        )


def _lookups(engine: Engine, organization_id: uuid.UUID, now: datetime = NOW):
    return count_call(engine, rate_limits.LOOKUPS, organization_id, address=ADDRESS, now=now).call


def test_the_policies_are_the_published_ones() -> None:
    policies = rate_limits.policies()
    assert {name: (p.requests, p.window_seconds) for name, p in policies.items()} == {
        "lookups": (None, 1),
        "light": (50, 60),
        "medium": (40, 60),
        "heavy": (10, 60),
        "auth": (5, 60),
    }


@pytest.mark.parametrize(
    ("plan", "per_second"), [("free", 1), ("starter", 5), ("competitor", 50), ("provider", 200)]
)
def test_lookups_are_limited_at_the_plans_figure(engine, plan, per_second) -> None:
    organization_id = member(engine, plan=plan).organization_id
    verdict = _lookups(engine, organization_id)
    assert (verdict.policy, verdict.limit, verdict.window_seconds) == ("lookups", per_second, 1)


def test_a_carrier_contracts_figure_replaces_the_plans(engine) -> None:
    contracted = member(engine, plan="carrier", contract_lookups_per_second=750)
    assert _lookups(engine, contracted.organization_id).limit == 750


def test_without_a_figure_an_organization_gets_the_largest_plans(engine) -> None:
    uncontracted = member(engine, plan="carrier")
    assert _lookups(engine, uncontracted.organization_id).limit == 200


def test_the_limit_th_call_passes_the_next_is_refused_and_the_window_resets(engine) -> None:
    organization_id = member(engine, plan="starter").organization_id
    verdicts = [_lookups(engine, organization_id) for _ in range(6)]
    assert [v.allowed for v in verdicts] == [True] * 5 + [False]
    assert [v.remaining for v in verdicts] == [4, 3, 2, 1, 0, 0]
    assert verdicts[-1].retry_after_seconds == 1
    assert verdicts[-1].headers()["Retry-After"] == "1"
    later = _lookups(engine, organization_id, NOW + timedelta(seconds=1))
    assert (later.allowed, later.remaining) == (True, 4)


def test_a_minute_window_says_how_long_until_it_ends(engine) -> None:
    token_id = uuid.uuid4()
    at = datetime(2026, 11, 16, 15, 0, 42, 500_000, tzinfo=UTC)
    verdicts = [
        count_call(engine, rate_limits.HEAVY, token_id, address=ADDRESS, now=at).call
        for _ in range(11)
    ]
    assert [v.allowed for v in verdicts].count(True) == 10
    assert verdicts[-1].retry_after_seconds == 18  # 17.5 s, in whole seconds up
    assert verdicts[-1].headers() == {
        "X-Rate-Limit-Policy": "heavy",
        "X-Rate-Limit-Limit": "10",
        "X-Rate-Limit-Remaining": "0",
        "X-Rate-Limit-Window": "60",
        "Retry-After": "18",
    }


def test_each_token_and_each_organization_has_its_own_bucket(engine) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    for _ in range(50):
        count_call(engine, rate_limits.LIGHT, first, address=ADDRESS, now=NOW)
    assert not count_call(engine, rate_limits.LIGHT, first, address=ADDRESS, now=NOW).call.allowed
    assert count_call(engine, rate_limits.LIGHT, second, address=ADDRESS, now=NOW).call.allowed
    assert count_call(engine, rate_limits.MEDIUM, first, address=ADDRESS, now=NOW).call.allowed


def test_test_tokens_lookups_count_apart_from_live_ones(engine) -> None:
    organization_id = member(engine, plan="free").organization_id
    assert _lookups(engine, organization_id).allowed
    test = count_call(
        engine, rate_limits.LOOKUPS, organization_id, address=ADDRESS, now=NOW, test=True
    ).call
    assert test.allowed and not _lookups(engine, organization_id).allowed


def test_failed_checks_count_per_address_and_a_good_call_reads_them(engine) -> None:
    failures = [rate_limits.count_failure(engine, address=ADDRESS, now=NOW) for _ in range(6)]
    assert [f.allowed for f in failures] == [True] * 5 + [False]
    assert rate_limits.count_failure(engine, address="198.51.100.1", now=NOW).allowed
    counted = count_call(engine, rate_limits.LIGHT, uuid.uuid4(), address=ADDRESS, now=NOW)
    assert counted.call.allowed and counted.refusal == counted.auth
    assert counted.auth.policy == "auth" and not counted.auth.allowed
    with engine.connect() as connection:
        standing = rate_limits.failures(connection, address=ADDRESS, now=NOW)
        again = rate_limits.failures(connection, address=ADDRESS, now=NOW)
    assert standing.count == again.count == 6  # reading counts nothing
    later = NOW + timedelta(seconds=60)
    with engine.connect() as connection:
        assert rate_limits.failures(connection, address=ADDRESS, now=later).allowed


def test_the_prune_deletes_only_windows_that_ended_over_an_hour_ago(engine) -> None:
    rate_limits.count_failure(engine, address=ADDRESS, now=NOW - timedelta(hours=2))
    rate_limits.count_failure(engine, address=ADDRESS, now=NOW - timedelta(minutes=30))
    _lookups(engine, member(engine).organization_id)
    assert rate_limits.prune(engine, now=NOW) == 1
    assert count(engine, RateLimitWindow) == 2
    [job] = [job for job in JOBS if job.name == "rate_limits.prune"]
    report = job.run(engine, NOW + timedelta(hours=2))
    assert report.succeeded and report.summary.startswith("2 ended rate-limit windows")
    assert count(engine, RateLimitWindow) == 0


def test_concurrent_calls_are_all_counted(concurrent_engine) -> None:
    token_id = uuid.uuid4()
    threads = 8
    per_thread = 10
    verdicts: list[rate_limits.Verdict] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def call() -> None:
        start.wait()
        for _ in range(per_thread):
            verdict = count_call(
                concurrent_engine, rate_limits.LIGHT, token_id, address=ADDRESS, now=NOW
            ).call
            with lock:
                verdicts.append(verdict)

    workers = [threading.Thread(target=call) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(v.count for v in verdicts) == list(range(1, threads * per_thread + 1))
    assert sum(v.allowed for v in verdicts) == 50
