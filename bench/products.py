"""Smart CNAM, Logs and the daily score snapshot at 100,000 registered numbers and 1,000,000
product events, beside the seeded thousand organizations.

Seeded with Core INSERTs in batches, not through the services:

- 100,000 active Whois profiles: 20,000 of one organization (the one that looks numbers up,
  on Starter with funds), the rest spread over the seeded organizations; one in five private,
  one in three verified, every number a valid Canadian one;
- 20,000 community reports, most on registered numbers, a few removed, some older than the
  report window; every profile's stored score is one its snapshot will not see fall into the
  spam bands (a number with net spam reports is seeded there already), so no run alerts;
- 1,000,000 product events over the last year, 900,000 of them another organization's (the
  one whose Logs are opened), the rest spread over the seeded organizations, with their daily
  roll-up rows summed from the same events.

Timed:

1. Lookups through ``lookups.look_up`` on one thread, each parsed, metered, scored and logged:
   a mix of the five lookup types, of registered numbers (the organization's own, others'
   public and private ones), unregistered and unallocated ones, typed in the ways partners
   type them. Every source is a number not looked up before in the run, so nothing a
   process keeps between lookups is given an easy time; Source/Risk's destinations are the
   organization's own numbers, which repeat as a partner's own lines do. In the same run,
   alternately, the bare meter (``bench/meter.py``'s loop: one ``meter_request`` per unit of
   work) for as many requests, on the same organization: the ratio is the lookup's cost over
   the meter's. Target: 1,500 lookups a second or more on one core. Median of 3 each, after a
   warm-up that also spends the plan's allowance, so every timed request is priced.
2. Logs (AppTest, through the shell): Caller ID lookups over a 90-day date range, 20 a page,
   page 20, checked to draw "Showing 381–400 of N" with N counted while seeding; against the
   naive way, the organization's events into pandas (``pd.read_sql``), then filtered, sorted
   and sliced there, checked to find the same N. Targets: 0.5 s or less, 20 times faster or
   more.
3. ``score_snapshot.snapshot`` over the 100,000 numbers: median of 3, after a warm-up (the
   first run of a day writes every score; the next ones write the same points again).
"""

from __future__ import annotations

import itertools
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Engine, insert, select, update
from sqlmodel import col

from bench import seeding
from bench.harness import Result, measure, open_page
from portal_core import db
from portal_core.models.accounts import Organization
from portal_core.models.base import utcnow
from portal_core.models.billing import BillingAccount, EntryKind, LookupType, Product
from portal_core.models.products import (
    CommunityReport,
    EventAction,
    EventProduct,
    EventStatus,
    ProductEvent,
    ProductEventDaily,
    ProfileStatus,
    ReportKind,
    WhoisProfile,
)
from portal_core.money import cents_to_micros
from portal_core.permissions import Actor
from portal_core.rules.numbers import PROFILE_LINE_TYPES
from portal_core.services import ledger, lookups, platform, score_snapshot
from portal_core.services.meter import meter_request

NUMBERS, BIG_NUMBERS = 100_000, 20_000
EVENTS, BIG_EVENTS = 1_000_000, 900_000
REPORTS = 20_000
EVENT_DAYS = 365
LOOKUPS = 10_000
REPEAT = 3
TARGET_PER_SECOND = 1_500
BATCH = 20_000
FUNDS_CENTS = 10_000_00  # $10,000: far more than 80,000 requests at $0.0030
# The registered numbers' area codes; the unregistered ones looked up come from others, so a
# lookup of them never finds an owner.
REGISTERED_AREAS = (416, 647, 437, 514, 438, 604, 778, 403, 587, 905)
UNREGISTERED_AREAS = (613, 343, 819, 873, 250, 236, 780, 825, 204, 306)
# Logs' filter: one lookup type over 90 days ending a month ago, page 20 of 20 rows.
LOGS_TYPE = LookupType.CALLER_ID
LOGS_FROM_DAYS, LOGS_TO_DAYS = 120, 31
LOGS_PAGE = 20


@dataclass(frozen=True)
class _Seeded:
    asking: Actor  # the lookups' organization's owner
    numbers: list[str]  # every registered number, E.164
    own: list[str]  # the asking organization's
    logs_handle: str  # the session of the Logs organization's owner
    logs_organization: uuid.UUID
    logs_range: tuple[date, date]
    logs_expected: int  # its Caller ID lookups within the range
    seconds: float


# --- Seeding -----------------------------------------------------------------------------------


def _unique_numbers(rng: random.Random, areas: tuple[int, ...], count: int) -> list[str]:
    """``count`` distinct valid numbers of the ``areas`` (exchanges 200–999 but N11)."""
    found: set[str] = set()
    while len(found) < count:
        exchange = rng.randint(200, 999)
        if exchange % 100 == 11:
            continue
        found.add(f"+1{rng.choice(areas)}{exchange}{rng.randint(0, 9999):04d}")
    numbers = sorted(found)
    rng.shuffle(numbers)
    return numbers


def _fund(engine: Engine, organization_id: uuid.UUID) -> None:
    with db.write_session(engine) as session:
        ledger.post_entry(
            session,
            organization_id=organization_id,
            kind=EntryKind.PAYMENT,
            amount_cents=FUNDS_CENTS,
            idempotency_key=f"bench-products-funds-{organization_id}",
            memo="benchmark funds",
        )
        session.execute(
            update(BillingAccount)
            .where(BillingAccount.organization_id == organization_id)  # type: ignore[arg-type]
            .values(credit_limit_micros=cents_to_micros(6_000))
        )


def _insert(engine: Engine, model: Any, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        for start in range(0, len(rows), BATCH):
            connection.execute(insert(model), rows[start : start + BATCH])


def _profiles(
    engine: Engine,
    rng: random.Random,
    numbers: list[str],
    owners: list[uuid.UUID],
    scores: dict[str, int],
) -> None:
    now = utcnow()
    line_types = [line_type.value for line_type in PROFILE_LINE_TYPES]
    rows = []
    for index, (number, owner) in enumerate(zip(numbers, owners, strict=True)):
        created = now - timedelta(days=rng.randint(1, 700), minutes=index % 1440)
        rows.append(
            {
                "id": uuid.uuid4(),
                "organization_id": owner,
                "number": number,
                "status": ProfileStatus.ACTIVE.value,
                "private": index % 5 == 0,
                "caller_name": f"Line {index:06d}",
                "business_name": f"Business {index % 7_000:04d} Ltd." if index % 4 else None,
                "line_type": line_types[index % len(line_types)],
                "call_purpose": "customer_service" if index % 3 else None,
                "address_line": f"{index % 900 + 1} King Street West" if index % 2 else None,
                "city": "Toronto",
                "province": "ON",
                "postal_code": "M5H 1A1" if index % 2 else None,
                "country": "CA",
                "website": f"https://line{index}.example.com" if index % 3 else None,
                "email": f"calls{index}@example.com" if index % 3 else None,
                "verified_at": created + timedelta(days=1) if index % 3 == 0 else None,
                "completeness_permille": rng.randint(300, 1000),
                "score_millis": scores.get(number, 3_500),
                "score_updated_at": now - timedelta(days=1),
                "created_at": created,
                "updated_at": created,
            }
        )
    _insert(engine, WhoisProfile, rows)


def _reports(
    engine: Engine,
    rng: random.Random,
    registered: list[str],
    unregistered: list[str],
    reporters: list[uuid.UUID],
) -> dict[str, int]:
    """The community reports; returns the seeded score of every registered number with net
    spam reports: in the spam bands already, as yesterday's snapshot would have left it."""
    now = utcnow()
    rows: list[dict[str, Any]] = []
    net: dict[str, int] = {}
    registered_set = set(registered)
    # A few hundred numbers carry most reports; the rest get one now and then.
    hot = registered[:300] + unregistered[:100]
    for index in range(REPORTS):
        number = rng.choice(hot) if index % 2 else rng.choice(registered)
        kind = ReportKind.SPAM if rng.random() < 0.7 else ReportKind.SAFE
        created = now - timedelta(days=rng.uniform(0, 120))
        removed = created + timedelta(days=1) if index % 50 == 0 else None
        rows.append(
            {
                "id": uuid.uuid4(),
                "organization_id": rng.choice(reporters),
                "number": number,
                "kind": kind.value,
                "comment": "Robocall offering a warranty" if kind is ReportKind.SPAM else None,
                "created_at": created,
                "removed_at": removed,
            }
        )
        if number in registered_set and removed is None:
            net[number] = net.get(number, 0) + (1 if kind is ReportKind.SPAM else -1)
    _insert(engine, CommunityReport, rows)
    return {number: 0 for number, spam in net.items() if spam > 0}


_LOOKUP_RESULTS = ("Safe · Toronto ON", "Spam Likely", "Trusted · Line 000123", "Spam Possible")
_OTHER_ACTIONS = (EventAction.REGISTRATION, EventAction.EDIT, EventAction.REPORT)


def _events(
    engine: Engine,
    rng: random.Random,
    *,
    big: uuid.UUID,
    big_user: uuid.UUID,
    others: list[uuid.UUID],
    numbers: list[str],
    time_zone: ZoneInfo,
    logs_range: tuple[date, date],
) -> int:
    """The product events and their daily roll-up; returns how many of ``big``'s events
    Logs' filter (``LOGS_TYPE`` within ``logs_range``) finds."""
    now = utcnow()
    types = [lookup_type.value for lookup_type in LookupType]
    step = timedelta(days=EVENT_DAYS) / EVENTS
    daily: dict[tuple[Any, ...], list[int]] = {}
    expected = 0
    with engine.begin() as connection:
        for first in range(0, EVENTS, BATCH):
            rows = []
            for index in range(first, min(first + BATCH, EVENTS)):
                # Nine in ten events are the big organization's, interleaved through the year.
                mine = index % 10 != 9
                organization = big if mine else others[index % len(others)]
                created = now - step * (EVENTS - index)
                if index % 20 == 19:
                    action, lookup_type = _OTHER_ACTIONS[index % 3], None
                else:
                    action, lookup_type = EventAction.LOOKUP, types[index % len(types)]
                product = (
                    EventProduct.SMART_CNAM
                    if action is EventAction.LOOKUP
                    else (
                        EventProduct.REPORTS if action is EventAction.REPORT else EventProduct.WHOIS
                    )
                )
                status = EventStatus.REFUSED if index % 53 == 0 else EventStatus.OK
                priced = action is EventAction.LOOKUP and status is EventStatus.OK
                cost = 3_000 if priced and index % 3 else 0
                latency = rng.randint(1, 40)
                rows.append(
                    {
                        "id": uuid.uuid4(),
                        "organization_id": organization,
                        "user_id": big_user if mine and index % 4 == 0 else None,
                        "created_at": created,
                        "product": product.value,
                        "action": action.value,
                        "lookup_type": lookup_type,
                        "number": numbers[index % len(numbers)],
                        "destination": (
                            numbers[(index + 1) % len(numbers)]
                            if lookup_type == LookupType.SOURCE_RISK
                            else None
                        ),
                        "result": _LOOKUP_RESULTS[index % 4] if priced else None,
                        "score_millis": rng.randint(0, 5_000) if priced else None,
                        "cost_micros": cost,
                        "latency_ms": latency,
                        "status": status.value,
                    }
                )
                day = created.astimezone(time_zone).date()
                key = (organization, day, product.value, action.value, lookup_type or "", status)
                totals = daily.setdefault(key, [0, 0, 0])
                totals[0] += 1
                totals[1] += cost
                totals[2] += latency
                if mine and lookup_type == LOGS_TYPE and logs_range[0] <= day <= logs_range[1]:
                    expected += 1
            connection.execute(insert(ProductEvent), rows)
        roll_up = [
            {
                "organization_id": organization,
                "day": day,
                "product": product,
                "action": action,
                "lookup_type": lookup_type,
                "status": status.value,
                "events": events,
                "cost_micros": cost,
                "latency_ms": latency,
            }
            for (organization, day, product, action, lookup_type, status), (
                events,
                cost,
                latency,
            ) in daily.items()
        ]
        for start in range(0, len(roll_up), BATCH):
            connection.execute(insert(ProductEventDaily), roll_up[start : start + BATCH])
    return expected


def _seed(engine: Engine) -> _Seeded:
    rng = random.Random(17)
    started = time.perf_counter()
    with engine.connect() as connection:
        seeded = list(
            connection.execute(
                select(col(Organization.id)).order_by(col(Organization.created_at))
            ).scalars()
        )
    asking_id = seeding.organization(
        engine, "Numbers Giant Telecom", active_since=timedelta(days=400), plan_code="starter"
    )
    _fund(engine, asking_id)
    logs_id = seeding.organization(
        engine, "Logs Giant Telecom", active_since=timedelta(days=400), plan_code="provider"
    )
    asking, _ = seeding.signed_in_owner(
        engine, asking_id, name="Lookup Owner", ip_address="198.51.100.50"
    )
    logs_owner, logs_handle = seeding.signed_in_owner(
        engine, logs_id, name="Logs Owner", ip_address="198.51.100.51"
    )
    numbers = _unique_numbers(rng, REGISTERED_AREAS, NUMBERS)
    owners = [asking_id] * BIG_NUMBERS + [
        seeded[index % len(seeded)] for index in range(NUMBERS - BIG_NUMBERS)
    ]
    scores = _reports(engine, rng, numbers, _unique_numbers(rng, UNREGISTERED_AREAS, 100), seeded)
    _profiles(engine, rng, numbers, owners, scores)
    with db.read_session(engine) as session:
        time_zone = platform.billing_time_zone(session)
    today = utcnow().astimezone(time_zone).date()
    logs_range = (today - timedelta(days=LOGS_FROM_DAYS), today - timedelta(days=LOGS_TO_DAYS))
    expected = _events(
        engine,
        rng,
        big=logs_id,
        big_user=logs_owner.user_id,
        others=seeded,
        numbers=numbers,
        time_zone=time_zone,
        logs_range=logs_range,
    )
    return _Seeded(
        asking=asking,
        numbers=numbers,
        own=numbers[:BIG_NUMBERS],
        logs_handle=logs_handle,
        logs_organization=logs_id,
        logs_range=logs_range,
        logs_expected=expected,
        seconds=time.perf_counter() - started,
    )


# --- Lookups -----------------------------------------------------------------------------------

# How partners type a number: +1AAAEEELLLL as they write it.
_FORMS = (
    "+1 {area}-{exchange}-{line}",
    "({area}) {exchange}-{line}",
    "{area}.{exchange}.{line}",
    "1-{area}-{exchange}-{line}",
    "+1{area}{exchange}{line}",
    "tel:+1-{area}-{exchange}-{line}",
)


def _typed(number: str, index: int) -> str:
    return _FORMS[index % len(_FORMS)].format(
        area=number[2:5], exchange=number[5:8], line=number[8:]
    )


@dataclass(frozen=True)
class _Lookup:
    source: str
    destination: str
    lookup_type: LookupType


def _lookups(seeded: _Seeded, rng: random.Random) -> Iterator[_Lookup]:
    """Lookups without end, each of a source not looked up before: half registered numbers
    (every fifth the organization's own), four in ten unregistered, one in ten unallocated
    (area code 555)."""
    own = set(seeded.own)
    others = [number for number in seeded.numbers if number not in own]
    theirs, mine = iter(others), iter(seeded.own)
    fresh = iter(_unique_numbers(rng, UNREGISTERED_AREAS, 6 * LOOKUPS))
    types = list(LookupType)
    for index in itertools.count():
        kind = index % 10
        if kind < 5:
            number = next(mine) if kind == 0 else next(theirs)
        elif kind < 9:
            number = next(fresh)
        else:
            number = f"+1555{rng.randint(2_000_000, 9_999_999)}"
        lookup_type = types[index % len(types)]
        destination = (
            _typed(rng.choice(seeded.own), index + 1)
            if lookup_type == LookupType.SOURCE_RISK
            else ""
        )
        yield _Lookup(_typed(number, index), destination, lookup_type)


def _lookups_and_meter(engine: Engine, seeded: _Seeded) -> list[Result]:
    """The lookups and the bare meter, timed alternately so the machine's load weighs on both
    alike."""
    actor = seeded.asking
    organization_id = actor.organization_id
    assert organization_id is not None
    planned = _lookups(seeded, random.Random(23))
    keys = itertools.count()
    types = list(LookupType)

    def look_up(count: int) -> None:
        for _ in range(count):
            wanted = next(planned)
            lookups.look_up(
                engine,
                actor,
                source=wanted.source,
                destination=wanted.destination,
                lookup_type=wanted.lookup_type,
                request_key=f"bench-lookup-{next(keys)}",
            )

    def meter(count: int) -> None:
        for _ in range(count):
            number = next(keys)
            with db.write_connection(engine) as connection:
                meter_request(
                    connection,
                    organization_id=organization_id,
                    product=Product.SMART_CNAM,
                    lookup_type=types[number % len(types)],
                    request_key=f"bench-meter-{number}",
                )

    def timed(action: Callable[[int], None]) -> float:
        started = time.perf_counter()
        action(LOOKUPS)
        return time.perf_counter() - started

    look_up(LOOKUPS)  # warm-up; with the meter's, past Starter's 10,000 included requests
    meter(LOOKUPS)
    looked, metered = [], []
    for _ in range(REPEAT):
        metered.append(timed(meter))
        looked.append(timed(look_up))
    lookup = Result(
        f"lookups through the service, {LOOKUPS:,} on one thread",
        statistics.median(looked),
        looked,
    )
    bare = Result(
        f"bare meter, {LOOKUPS:,} requests on one thread (same run, alternately)",
        statistics.median(metered),
        metered,
    )
    rate = LOOKUPS / lookup.median_s
    verdict = "meets" if rate >= TARGET_PER_SECOND else "misses"
    lookup.note = (
        f"median of {REPEAT}; {rate:,.0f} lookups/s ({verdict} the {TARGET_PER_SECOND:,}/s "
        f"target; {lookup.median_s / LOOKUPS * 1e6:,.0f} µs each); "
        f"{lookup.median_s / bare.median_s:.2f}× the bare meter's time"
    )
    bare.note = (
        f"median of {REPEAT}; {LOOKUPS / bare.median_s:,.0f} meterings/s "
        f"({bare.median_s / LOOKUPS * 1e6:,.0f} µs each)"
    )
    return [lookup, bare]


# --- Logs --------------------------------------------------------------------------------------


def _logs_page(seeded: _Seeded) -> None:
    start, end = seeded.logs_range
    app = open_page(
        seeded.logs_handle,
        "pages/logs.py",
        {
            "analytics.logs.filter.lookup_type": LOGS_TYPE.value,
            "analytics.logs.filter.created.from": start,
            "analytics.logs.filter.created.to": end,
            "analytics.logs.page_size": 20,
            "analytics.logs.page": LOGS_PAGE,
        },
    )
    expected = f"Showing 381–400 of {seeded.logs_expected:,}"
    shown = " ".join(str(element.value) for element in (*app.caption, *app.markdown))
    if expected not in shown:
        raise RuntimeError(f"Logs did not draw {expected!r}: {shown[:300]}")


def _naive_logs(engine: Engine, seeded: _Seeded, time_zone: ZoneInfo) -> pd.DataFrame:
    """The organization's events into pandas, then filtered, sorted and sliced there."""
    table = ProductEvent.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        frame = pd.read_sql(
            select(table).where(table.c.organization_id == seeded.logs_organization), connection
        )
    days = pd.to_datetime(frame["created_at"], utc=True).dt.tz_convert(time_zone.key).dt.date
    start, end = seeded.logs_range
    wanted = frame[(frame["lookup_type"] == LOGS_TYPE.value) & (days >= start) & (days <= end)]
    if len(wanted) != seeded.logs_expected:
        raise RuntimeError(f"the naive way found {len(wanted):,}, not {seeded.logs_expected:,}")
    page = wanted.sort_values(["created_at", "id"], ascending=False).iloc[380:400]
    assert len(page) == 20
    return page


# --- The run -----------------------------------------------------------------------------------


def run(engine: Engine) -> list[Result]:
    seeded = _seed(engine)
    with db.read_session(engine) as session:
        time_zone = platform.billing_time_zone(session)
    results = _lookups_and_meter(engine, seeded)
    results[0].note += f"; seeding took {seeded.seconds:.0f} s"

    page = measure(
        f"logs page (AppTest), {BIG_EVENTS:,} of {EVENTS:,} events: Caller ID over 90 days, "
        f"page {LOGS_PAGE}",
        lambda: _logs_page(seeded),
    )
    naive = measure(
        "naive: the organization's events into pandas, then filter",
        lambda: _naive_logs(engine, seeded, time_zone),
    )
    page.note = (
        f"{seeded.logs_expected:,} events match; "
        f"{naive.median_s / page.median_s:.0f}× faster than the naive way"
    )

    def snapshot_all() -> None:
        done = score_snapshot.snapshot(engine)
        if done.numbers != NUMBERS or done.fell:
            raise RuntimeError(f"the snapshot scored {done.numbers:,} numbers, {done.fell} fell")

    snapshot = measure(
        f"score snapshot, {NUMBERS:,} registered numbers",
        snapshot_all,
        repeat=REPEAT,
        note=f"median of {REPEAT}",
    )
    return [*results, page, naive, snapshot]
