"""Whois Profiles imported from CSV: 10,000 rows in one unit of work (the target: well under
a minute on SQLite).

Each timed import is of a new organization (a number has one owner, so each run registers a
block of numbers of its own): 10,000 new numbers, median of 3; then the same file imported
again over them, all 10,000 updated, median of 3. The rows' completeness varies, as a real
file's does, so the organization's carrier score moves with nearly every row: beside the
portal's way (the carrier score refreshed once, after the last row) the naive way refreshes
it after each row, rescoring every number so far each time — O(n²) — and is timed on 1,000
rows against the portal's way on the same 1,000.
"""

from __future__ import annotations

import csv
import functools
import io
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine

from bench import seeding
from bench.harness import Result
from portal_core import db
from portal_core.models.accounts import Role, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.permissions import Actor
from portal_core.services import whois, whois_import

ROWS = 10_000
NAIVE_ROWS = 1_000
REPEAT = 3
TARGET_SECONDS = 60.0
# Area codes whose exchange 967 the number metadata knows as allocated: one block of
# 10,000 numbers each, so that every run registers numbers nobody holds yet.
_AREA_CODES = ("416", "647", "437", "905", "289", "613", "514", "212", "646", "718")
# Rows of every completeness in turn: a real file's profiles are not alike.
_SHAPES: tuple[dict[str, str], ...] = (
    {
        "business_name": "Bench Widgets Ltd.",
        "call_purpose": "Customer service",
        "address_line": "1 Bench Street",
        "city": "Toronto",
        "province": "ON",
        "postal_code": "M5H 1A1",
        "country": "CA",
        "website": "https://bench.example.com",
        "email": "calls@bench.example.com",
        "description": "Our customer service line.",
        "social_links": "https://social.example.com/bench",
        "monthly_call_volume": "12000",
    },
    {},
    {"city": "Toronto", "country": "CA", "website": "bench.example.com"},
    {"business_name": "Bench Sales", "call_purpose": "sales", "monthly_call_volume": "3,500"},
    {"description": "After-hours line.", "email": "night@bench.example.com"},
)
# An owner who only imports: nobody signs in with it.
_UNUSABLE_HASH = "!bench-import-no-login"


def _owner(engine: Engine, name: str) -> Actor:
    organization_id = seeding.organization(engine, name)
    now = utcnow()
    with db.write_session(engine) as session:
        user = User(
            email=f"importer-{organization_id.hex[:8]}@bench.test",
            name=name,
            password_hash=_UNUSABLE_HASH,
            role=Role.OWNER,
            organization_id=organization_id,
            status=UserStatus.ACTIVE,
            email_verified_at=now,
            created_at=now,
            updated_at=now,
        )
        session.add(user)
        session.flush()
        return Actor(user.id, user.email, Role.OWNER, organization_id)


def _file(rows: int, area_code: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=whois_import.TEMPLATE_COLUMNS)
    writer.writeheader()
    for index in range(rows):
        writer.writerow(
            {
                "number": f"+1 {area_code} 967 {index:04d}",
                "caller_name": f"Bench {index:05d}",
                "line_type": ("Fixed line", "mobile", "Toll-free", "VoIP")[index % 4],
                "private": "no" if index % 10 else "yes",
                **_SHAPES[index % len(_SHAPES)],
            }
        )
    return buffer.getvalue().encode("utf-8")


def _timed(engine: Engine, actor: Actor, data: bytes, expected: str) -> float:
    started = time.perf_counter()
    report = whois_import.import_profiles(engine, actor, data)
    elapsed = time.perf_counter() - started
    if report.count(whois_import.Outcome(expected)) != len(report.rows):
        raise RuntimeError(f"the benchmark's file was not all {expected}: {report.summary()}")
    return elapsed


@contextmanager
def _carrier_refreshed_per_row() -> Iterator[None]:
    """The naive way: every save refreshes the carrier score, as a form's save does."""
    saved: dict[str, Callable[..., Any]] = {
        "save_registration": whois.save_registration,
        "save_update": whois.save_update,
    }
    try:
        for name, function in saved.items():
            setattr(whois, name, _forcing_refresh(function))
        yield
    finally:
        for name, function in saved.items():
            setattr(whois, name, function)


def _forcing_refresh(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def saving(*args: Any, **kwargs: Any) -> Any:
        return function(*args, **{**kwargs, "refresh_carrier": True})

    return saving


def _result(name: str, runs: list[float], note: str = "") -> Result:
    return Result(name=name, median_s=statistics.median(runs), runs_s=runs, note=note)


def run(engine: Engine) -> list[Result]:
    label = uuid.uuid4().hex[:4]
    blocks = iter(_AREA_CODES)
    # Warm-up: the modules, the number metadata and the statements' caches.
    _timed(engine, _owner(engine, f"Import warm-up {label}"), _file(100, next(blocks)), "added")
    added, updated = [], []
    last: tuple[Actor, bytes] | None = None
    for index in range(REPEAT):
        actor, data = _owner(engine, f"Importer {index} {label}"), _file(ROWS, next(blocks))
        added.append(_timed(engine, actor, data, "added"))
        last = (actor, data)
    assert last is not None
    for _ in range(REPEAT):
        updated.append(_timed(engine, *last, "updated"))
    naive_portal = _timed(
        engine, _owner(engine, f"Naive 0 {label}"), _file(NAIVE_ROWS, next(blocks)), "added"
    )
    with _carrier_refreshed_per_row():
        naive = _timed(
            engine, _owner(engine, f"Naive 1 {label}"), _file(NAIVE_ROWS, next(blocks)), "added"
        )
    target = f"target < {TARGET_SECONDS:.0f} s; {ROWS / statistics.median(added):,.0f} rows/s"
    return [
        _result(f"import {ROWS:,} new profiles (median of {REPEAT})", added, target),
        _result(f"import the same {ROWS:,} again, all updated (median of {REPEAT})", updated),
        _result(
            f"import {NAIVE_ROWS:,} new profiles, carrier score once (measured once)",
            [naive_portal],
        ),
        _result(
            f"naive: {NAIVE_ROWS:,} new profiles, carrier score after each row (measured once)",
            [naive],
            f"{naive / naive_portal:.1f}× the portal's way",
        ),
    ]
