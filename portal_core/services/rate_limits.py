"""The REST API's rate limits (docs/product.md, The REST API's contract).

The policies are data (``data/rate_limits.csv``):

- ``lookups``: Smart CNAM lookups per organization and second, at the plan's
  ``lookups_per_second`` (Free 1, Starter 5, Competitor 50, Provider 200, from
  ``data/plans.csv``); a Carrier contract's own figure replaces the plan's, and an
  organization whose plan and contract give none gets the largest plan's figure. Call flows
  wait on a lookup, so its limit is a rate, not a budget.
- ``light`` 50, ``medium`` 40, ``heavy`` 10 calls a minute per token: reads, writes, bulk.
- ``auth``: 5 failed credential checks a minute per client address. Once an address has
  failed 5 times in a window, every call from it is refused with 429 until the window ends,
  good credentials included: were a right secret let through, the 429s would tell an attacker
  which of its guesses was right. A call that presents no credentials is not counted (HTTP
  clients that wait for a challenge before sending Basic credentials do that first).

Each window is fixed (it starts at a multiple of its length since the epoch) and counted in
one row of ``rate_limit_windows`` by a single UPSERT … RETURNING, in one round trip, so every
API process shares the count. The same statement reads the client address's failures and,
for ``lookups``, the organization's figure, so a change of plan or contract counts at once.
A call refused by its limit still counts: a client that keeps calling keeps being refused
until the window ends.
"""

from __future__ import annotations

import csv
import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Integer,
    Select,
    String,
    Table,
    bindparam,
    delete,
    func,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import ReturningInsert

from portal_core import db
from portal_core.models.billing import Plan, Subscription
from portal_core.models.rate_limits import RateLimitWindow
from portal_core.settings import DATA_DIR

LOOKUPS = "lookups"
LIGHT = "light"
MEDIUM = "medium"
HEAVY = "heavy"
AUTH = "auth"
TEST_SUFFIX = "-test"  # test tokens' lookups count apart from live traffic
# Windows are at most a minute long; an hour's margin leaves nothing in use to the prune.
KEEP_SECONDS = 3_600

_windows = cast(Table, RateLimitWindow.__table__)  # type: ignore[attr-defined]
_plans = cast(Table, Plan.__table__)  # type: ignore[attr-defined]
_subscriptions = cast(Table, Subscription.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Policy:
    """A row of ``data/rate_limits.csv``; ``requests`` is None when it is the plan's."""

    name: str
    requests: int | None
    window_seconds: int
    counted_per: str
    applies_to: str


@cache
def policies() -> dict[str, Policy]:
    with (DATA_DIR / "rate_limits.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {
        row["policy"]: Policy(
            name=row["policy"],
            requests=int(row["requests"]) if row["requests"].strip() else None,
            window_seconds=int(row["window_seconds"]),
            counted_per=row["counted_per"],
            applies_to=row["applies_to"],
        )
        for row in rows
    }


def policy(name: str) -> Policy:
    return policies()[name]


@dataclass(frozen=True)
class Verdict:
    """Where a bucket stands after a call: what the ``X-Rate-Limit-*`` headers say."""

    policy: str
    limit: int
    count: int
    window_seconds: int
    retry_after_seconds: int  # until the window ends, in whole seconds (at least 1)

    @property
    def allowed(self) -> bool:
        return self.count <= self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    def headers(self) -> dict[str, str]:
        headers = {
            "X-Rate-Limit-Policy": self.policy,
            "X-Rate-Limit-Limit": str(self.limit),
            "X-Rate-Limit-Remaining": str(self.remaining),
            "X-Rate-Limit-Window": str(self.window_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_seconds)
        return headers


@dataclass(frozen=True)
class Counted:
    """A call counted in its policy's bucket, and where its client address stands."""

    call: Verdict
    auth: Verdict

    @property
    def refusal(self) -> Verdict | None:
        """The verdict that refuses this call (its address first), or None."""
        if not self.auth.allowed:
            return self.auth
        return None if self.call.allowed else self.call


def count_in(
    connection: Connection,
    policy_name: str,
    subject: uuid.UUID,
    *,
    address: str,
    now: datetime,
    organization_id: uuid.UUID | None = None,
    test: bool = False,
) -> Counted:
    """Count one authenticated call against ``policy_name`` for ``subject`` (the organization
    for ``lookups``, else the token) in the caller's write transaction (a lookup's own, so the
    count costs no commit of its own); read the address's failures in the same statement."""
    chosen = policy(policy_name)
    auth = policy(AUTH)
    start, retry_after = _window(chosen, now)
    auth_start, auth_retry = _window(auth, now)
    name = f"{policy_name}{TEST_SUFFIX}" if test else policy_name
    row = connection.execute(
        _count_statement(connection.dialect.name, chosen.requests is None),
        {
            "bucket": f"{name}:{subject}",
            "window_start": start,
            "auth_bucket": _auth_bucket(address),
            "auth_start": auth_start,
            "organization_id": organization_id or subject,
        },
    ).one()
    limit = int(row.limit) if chosen.requests is None else chosen.requests
    return Counted(
        call=Verdict(chosen.name, limit, int(row.counted), chosen.window_seconds, retry_after),
        auth=Verdict(
            AUTH, _requests(auth), int(row.failures or 0), auth.window_seconds, auth_retry
        ),
    )


def count_failure(engine: Engine, *, address: str, now: datetime) -> Verdict:
    """Count one failed credential check from ``address``."""
    auth = policy(AUTH)
    start, retry_after = _window(auth, now)
    with db.write_connection(engine) as connection:
        row = connection.execute(
            _count_statement(connection.dialect.name, False),
            {
                "bucket": _auth_bucket(address),
                "window_start": start,
                "auth_bucket": _auth_bucket(address),
                "auth_start": start,
                "organization_id": None,
            },
        ).one()
    return Verdict(AUTH, _requests(auth), int(row.counted), auth.window_seconds, retry_after)


def failures(connection: Connection, *, address: str, now: datetime) -> Verdict:
    """Where ``address`` stands with its failed checks, counting nothing (a call that
    presented no credentials)."""
    auth = policy(AUTH)
    start, retry_after = _window(auth, now)
    counted = connection.execute(
        _failures_statement(), {"auth_bucket": _auth_bucket(address), "auth_start": start}
    ).scalar()
    return Verdict(AUTH, _requests(auth), int(counted or 0), auth.window_seconds, retry_after)


def prune(engine: Engine, *, now: datetime) -> int:
    """Delete the windows that ended more than an hour ago; returns how many."""
    cutoff = int(now.timestamp()) - KEEP_SECONDS
    with db.write_connection(engine) as connection:
        deleted = connection.execute(
            delete(_windows).where(_windows.c.window_start < cutoff)
        ).rowcount
    return int(deleted)


def _requests(chosen: Policy) -> int:
    if chosen.requests is None:
        raise ValueError(f"the {chosen.name} policy needs its requests in rate_limits.csv")
    return chosen.requests


def _window(chosen: Policy, now: datetime) -> tuple[int, int]:
    """The window's start (seconds since the epoch) and the whole seconds until it ends."""
    moment = now.timestamp()
    start = int(moment // chosen.window_seconds) * chosen.window_seconds
    return start, max(1, math.ceil(start + chosen.window_seconds - moment))


def _auth_bucket(address: str) -> str:
    return f"{AUTH}:{address[:100]}"


@cache
def _failures_statement() -> Select[Any]:
    windows = _windows.c
    return select(windows.count).where(
        windows.bucket == bindparam("auth_bucket", type_=String()),
        windows.window_start == bindparam("auth_start", type_=Integer()),
    )


@cache
def _count_statement(dialect: str, plans_figure: bool) -> ReturningInsert[Any]:
    """``INSERT … ON CONFLICT DO UPDATE SET count = count + 1 RETURNING count``, with the
    address's failures and (``plans_figure``) the organization's lookups per second."""
    windows = _windows.c
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = dialect_insert(_windows).values(
        bucket=bindparam("bucket", type_=String()),
        window_start=bindparam("window_start", type_=Integer()),
        count=1,
    )
    upsert = upsert.on_conflict_do_update(
        index_elements=[windows.bucket, windows.window_start],
        set_={"count": windows.count + 1},
    )
    failures = _failures_statement().scalar_subquery().label("failures")
    limit: ColumnElement[Any] = literal(0).label("limit")
    if plans_figure:
        limit = _lookups_per_second().label("limit")
    return upsert.returning(windows.count.label("counted"), failures, limit)


def _lookups_per_second() -> ColumnElement[Any]:
    largest = select(func.max(_plans.c.lookups_per_second)).scalar_subquery()
    figure = (
        select(
            func.coalesce(_subscriptions.c.contract_lookups_per_second, _plans.c.lookups_per_second)
        )
        .select_from(_subscriptions.join(_plans, _plans.c.code == _subscriptions.c.plan_code))
        .where(_subscriptions.c.organization_id == bindparam("organization_id"))
        .scalar_subquery()
    )
    return func.coalesce(figure, largest, 1)
