"""Analytics › Logs' read side: the organization's product events filtered, sorted and paged in
SQL, never another organization's; the CSV as a partner reads it; and the volume chart counted
from the daily roll-up."""

from __future__ import annotations

import csv
import dataclasses
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, delete

from portal_core import db
from portal_core.errors import NotFound, PermissionDenied, ValidationFailed
from portal_core.models.accounts import Organization, Role
from portal_core.models.billing import LookupType
from portal_core.models.products import (
    EventAction,
    EventProduct,
    EventStatus,
    ProductEvent,
)
from portal_core.permissions import Actor
from portal_core.queries import logs
from portal_core.queries.listing import DateRange, ListQuery, Page, export_csv, fetch_page
from portal_core.services import product_events
from portal_core.services.product_events import Event
from tests.factories import actor_of, make_organization, make_staff, make_user

TORONTO = ZoneInfo("America/Toronto")
# 10:00 in Toronto (EDT); twelve hours later is 22:00 there but the next day in UTC.
NOON = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Members:
    owner: Actor
    viewer: Actor
    organization_id: uuid.UUID


def record(engine: Engine, event: Event, at: datetime) -> uuid.UUID:
    with db.write_connection(engine) as connection:
        return product_events.record(connection, event, now=at)


def lookup(
    members: Members,
    *,
    by: Actor | None = None,
    lookup_type: LookupType = LookupType.CALLER_ID,
    number: str = "+14165550123",
    destination: str | None = None,
    score_millis: int | None = 3_750,
    cost_micros: int = 3_000,
    latency_ms: int | None = 42,
    status: EventStatus = EventStatus.OK,
    result: str | None = "Harbor Dental",
) -> Event:
    return Event(
        organization_id=members.organization_id,
        product=EventProduct.SMART_CNAM,
        action=EventAction.LOOKUP,
        user_id=(by or members.owner).user_id,
        lookup_type=lookup_type.value,
        number=number,
        destination=destination,
        result=result,
        score_millis=score_millis,
        cost_micros=cost_micros,
        latency_ms=latency_ms,
        status=status,
    )


def registration(members: Members, *, by: Actor | None = None) -> Event:
    return Event(
        organization_id=members.organization_id,
        product=EventProduct.WHOIS,
        action=EventAction.REGISTRATION,
        user_id=(by or members.owner).user_id,
        number="+16135550199",
        result="Registered as “Harbor Dental”",
    )


@pytest.fixture
def members(engine: Engine) -> Members:
    with db.write_session(engine) as session:
        organization = make_organization(session)
        owner = make_user(session, organization=organization, role=Role.OWNER, name="Ann Lee")
        viewer = make_user(session, organization=organization, role=Role.VIEWER, name="Bo Chen")
        return Members(actor_of(owner), actor_of(viewer), organization.id)


def users_of(engine: Engine, actor: Actor) -> list[logs.EventUser]:
    with db.read_session(engine) as session:
        return logs.event_users(session, actor)


def page(engine: Engine, actor: Actor, query: ListQuery | None = None) -> Page:
    with db.read_session(engine) as session:
        listing = logs.events(actor, users=logs.event_users(session, actor))
        return fetch_page(session, listing, query or ListQuery(time_zone=TORONTO))


def shown(engine: Engine, actor: Actor, key: str, query: ListQuery | None = None) -> list:
    column = next(c for c in logs.events(actor).columns if c.key == key)
    return [column.shown(row[key]) for row in page(engine, actor, query).rows]


def test_each_event_shows_time_user_product_action_type_numbers_result_score_cost_latency_status(
    engine: Engine, members: Members
) -> None:
    record(engine, lookup(members, destination="+16135550100"), NOON)

    [row] = page(engine, members.owner).rows
    listing = logs.events(members.owner)
    drawn = {column.key: column.shown(row[column.key]) for column in listing.columns}

    assert drawn["created_at"].astimezone(UTC) == NOON
    assert {key: value for key, value in drawn.items() if key != "created_at"} == {
        "user": "Ann Lee",
        "product": "Smart CNAM",
        "action": "Lookup",
        "lookup_type": "Caller ID",
        "numbers": "+1 416-555-0123 → +1 613-555-0100",
        "result": "Harbor Dental",
        "score": "3.750",
        "cost": "$0.0030",
        "latency_ms": 42,
        "status": "OK",
    }


def test_an_event_without_a_member_or_a_destination_leaves_those_empty(
    engine: Engine, members: Members
) -> None:
    event = lookup(members, score_millis=None, latency_ms=None, cost_micros=0)
    record(engine, dataclasses.replace(event, user_id=None), NOON)

    [row] = page(engine, members.owner).rows

    assert (row["user"], row["numbers"], row["score"], row["latency_ms"]) == (
        None,
        "+14165550123",
        None,
        None,
    )
    assert shown(engine, members.owner, "cost") == ["$0.0000"]


def test_every_role_of_the_organization_reads_its_events(engine: Engine, members: Members) -> None:
    record(engine, lookup(members), NOON)
    record(engine, registration(members, by=members.viewer), NOON + timedelta(minutes=1))

    for actor in (members.owner, members.viewer):
        assert shown(engine, actor, "user") == ["Bo Chen", "Ann Lee"]


def test_another_organizations_events_are_not_listed_nor_found(
    engine: Engine, members: Members
) -> None:
    with db.write_session(engine) as session:
        other = actor_of(make_user(session, organization=make_organization(session)))
    assert other.organization_id is not None
    theirs = record(
        engine,
        Event(
            organization_id=other.organization_id,
            product=EventProduct.SMART_CNAM,
            action=EventAction.LOOKUP,
            user_id=other.user_id,
            result="Their secret",
        ),
        NOON,
    )
    mine = record(engine, lookup(members), NOON)

    assert [row["result"] for row in page(engine, members.owner).rows] == ["Harbor Dental"]
    with db.read_session(engine) as session:
        assert logs.event(session, members.owner, mine).result == "Harbor Dental"
        with pytest.raises(NotFound):
            logs.event(session, members.owner, theirs)
        assert logs.event(session, other, theirs).result == "Their secret"


def test_staff_have_no_logs(engine: Engine) -> None:
    with db.write_session(engine) as session:
        staff = actor_of(make_staff(session))
    with pytest.raises(PermissionDenied):
        logs.events(staff)
    with db.read_session(engine) as session, pytest.raises(PermissionDenied):
        logs.has_events(session, staff)


@pytest.fixture
def history(engine: Engine, members: Members) -> Members:
    """Six events over three days: lookups of three types (one refused), a registration by
    the viewer, an edit."""
    events = [
        lookup(members, lookup_type=LookupType.CALLER_ID, score_millis=3_750, cost_micros=0),
        lookup(
            members,
            lookup_type=LookupType.SOURCE_RISK,
            score_millis=1_200,
            cost_micros=3_000,
            latency_ms=120,
        ),
        lookup(
            members,
            lookup_type=LookupType.REGIONAL,
            score_millis=None,
            cost_micros=0,
            latency_ms=5,
            status=EventStatus.REFUSED,
            result="Your available funds cannot cover this lookup.",
        ),
        registration(members, by=members.viewer),
        Event(
            organization_id=members.organization_id,
            product=EventProduct.WHOIS,
            action=EventAction.EDIT,
            user_id=members.owner.user_id,
            number="+16135550199",
            result="Caller name changed",
        ),
        lookup(
            members,
            lookup_type=LookupType.CALLER_ID,
            score_millis=4_900,
            cost_micros=2_500,
            latency_ms=80,
        ),
    ]
    for index, event in enumerate(events):
        record(engine, event, NOON + timedelta(hours=12 * index))
    return members


def results(engine: Engine, actor: Actor, **choices: object) -> list:
    return shown(engine, actor, "result", ListQuery(time_zone=TORONTO, **choices))  # type: ignore[arg-type]


def test_newest_first_by_default(engine: Engine, history: Members) -> None:
    assert shown(engine, history.owner, "action") == [
        "Lookup",
        "Edit",
        "Registration",
        "Lookup",
        "Lookup",
        "Lookup",
    ]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"product": "whois"}, ["Caller name changed", "Registered as “Harbor Dental”"]),
        ({"action": "edit"}, ["Caller name changed"]),
        ({"lookup_type": "caller_id"}, ["Harbor Dental", "Harbor Dental"]),
        ({"status": "refused"}, ["Your available funds cannot cover this lookup."]),
        ({"lookup_type": "source_risk", "status": "ok"}, ["Harbor Dental"]),
    ],
)
def test_each_filter_keeps_only_its_events(
    engine: Engine, history: Members, filters: dict, expected: list[str]
) -> None:
    assert results(engine, history.owner, filters=filters) == expected


def test_the_user_filter_offers_the_members_and_keeps_their_events(
    engine: Engine, history: Members
) -> None:
    offered = users_of(engine, history.owner)
    assert [user.label for user in offered] == ["Ann Lee", "Bo Chen"]
    viewer = next(user for user in offered if user.label == "Bo Chen")

    assert results(engine, history.owner, filters={"user": str(viewer.id)}) == [
        "Registered as “Harbor Dental”"
    ]


def test_members_who_share_a_name_are_told_apart_by_their_e_mail(
    engine: Engine, members: Members
) -> None:
    with db.write_session(engine) as session:
        organization = session.get(Organization, members.organization_id)
        make_user(session, organization=organization, name="Ann Lee", email="ann2@example.com")

    labels = [user.label for user in users_of(engine, members.owner)]

    assert "Ann Lee (ann2@example.com)" in labels
    assert f"Ann Lee ({members.owner.email})" in labels


def test_a_member_of_another_organization_is_not_a_choice(engine: Engine, history: Members) -> None:
    with db.write_session(engine) as session:
        stranger = make_user(session, organization=make_organization(session))

    with pytest.raises(ValidationFailed, match="is not a choice of User"):
        results(engine, history.owner, filters={"user": str(stranger.id)})


def test_the_date_range_is_whole_days_of_the_billing_time_zone(
    engine: Engine, history: Members
) -> None:
    # Events at 10:00 and 22:00 in Toronto, alternately: the second is the next day in UTC.
    query = {"filters": {"created": DateRange(date(2026, 3, 10), date(2026, 3, 10))}}
    assert shown(engine, history.owner, "lookup_type", ListQuery(time_zone=TORONTO, **query)) == [  # type: ignore[arg-type]
        "Source/Risk",
        "Caller ID",
    ]


@pytest.mark.parametrize(
    ("sort", "descending", "key", "expected"),
    [
        ("score", True, "score", [None, None, None, "4.900", "3.750", "1.200"]),
        ("score", False, "score", ["1.200", "3.750", "4.900", None, None, None]),
        ("cost", True, "cost", ["$0.0030", "$0.0025", "$0.0000", "$0.0000", "$0.0000", "$0.0000"]),
        ("latency", False, "latency_ms", [5, 42, 80, 120, None, None]),
    ],
)
def test_sorts_by_score_cost_and_latency_with_the_empty_ones_last_ascending(
    engine: Engine, history: Members, sort: str, descending: bool, key: str, expected: list
) -> None:
    query = ListQuery(sort=sort, descending=descending, time_zone=TORONTO)
    assert shown(engine, history.owner, key, query) == expected


def test_ties_follow_by_time_in_the_sorts_direction(engine: Engine, history: Members) -> None:
    # Four events cost nothing: newest first when descending.
    query = ListQuery(sort="cost", descending=True, time_zone=TORONTO)
    assert shown(engine, history.owner, "action", query)[2:] == [
        "Edit",
        "Registration",
        "Lookup",
        "Lookup",
    ]


@pytest.mark.parametrize("size", [10, 20, 50])
def test_pages_of_10_20_or_50_without_repeats(engine: Engine, members: Members, size: int) -> None:
    for index in range(55):
        record(engine, lookup(members, result=f"Event {index}"), NOON + timedelta(seconds=index))

    seen: list[str] = []
    for number in range(1, -(-55 // size) + 1):
        current = page(engine, members.owner, ListQuery(page=number, page_size=size))
        assert current.total == 55
        seen += [row["result"] for row in current.rows]

    assert seen == [f"Event {index}" for index in range(54, -1, -1)]


def test_the_csv_holds_every_filtered_event_as_the_table_reads_it(
    engine: Engine, history: Members
) -> None:
    query = ListQuery(filters={"product": "smart_cnam"}, time_zone=TORONTO)
    with db.read_session(engine) as session:
        data = export_csv(session, logs.events(history.owner), query)

    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))

    assert rows[0] == [
        "Time",
        "User or API token",
        "Product",
        "Action",
        "Lookup type",
        "Numbers",
        "Result",
        "Score",
        "Cost",
        "Latency (ms)",
        "Status",
    ]
    assert len(rows) == 5
    assert rows[1] == [
        "2026-03-12 22:00:00-04:00",
        "Ann Lee",
        "Smart CNAM",
        "Lookup",
        "Caller ID",
        "'+1 416-555-0123",  # a spreadsheet reads it as text, never as a formula or a number
        "Harbor Dental",
        "4.900",
        "$0.0025",
        "80",
        "OK",
    ]
    assert [row[-1] for row in rows[1:]] == ["OK", "Refused", "OK", "OK"]


def test_has_events_is_false_for_a_new_organization(engine: Engine, members: Members) -> None:
    with db.read_session(engine) as session:
        assert not logs.has_events(session, members.owner)
    record(engine, lookup(members), NOON)
    with db.read_session(engine) as session:
        assert logs.has_events(session, members.owner)


# --- The volume chart --------------------------------------------------------------------------


def test_volume_counts_each_day_by_lookup_type_and_other_action_from_the_roll_up(
    engine: Engine, history: Members
) -> None:
    # The raw events go; the roll-up, which the chart reads, stays.
    with db.write_session(engine) as session:
        session.execute(delete(ProductEvent))
    window = DateRange(date(2026, 3, 9), date(2026, 3, 13))

    with db.read_session(engine) as session:
        volume = logs.volume_by_day(session, history.owner, window)

    assert volume.days == [date(2026, 3, day) for day in range(9, 14)]
    assert [(point.day.day, point.series, point.events) for point in volume.points] == [
        (10, "caller_id", 1),
        (10, "source_risk", 1),
        (11, "regional", 1),
        (11, "registration", 1),
        (12, "caller_id", 1),
        (12, "edit", 1),
    ]
    assert volume.series_names == {
        "caller_id": "Caller ID lookups",
        "source_risk": "Source/Risk lookups",
        "regional": "Regional lookups",
        "registration": "Registrations",
        "edit": "Edits",
    }
    assert volume.total == 6


def test_volume_is_of_the_window_and_of_the_organization_only(
    engine: Engine, history: Members
) -> None:
    with db.write_session(engine) as session:
        other = actor_of(make_user(session, organization=make_organization(session)))
    assert other.organization_id is not None
    record(
        engine,
        Event(other.organization_id, EventProduct.SMART_CNAM, EventAction.LOOKUP),
        NOON,
    )

    with db.read_session(engine) as session:
        volume = logs.volume_by_day(
            session, history.owner, DateRange(date(2026, 3, 11), date(2026, 3, 11))
        )

    assert [(point.series, point.events) for point in volume.points] == [
        ("regional", 1),
        ("registration", 1),
    ]


@pytest.mark.parametrize(
    ("chosen", "expected"),
    [
        (None, (date(2026, 2, 9), date(2026, 3, 10))),
        (DateRange(date(2026, 1, 1), date(2026, 1, 31)), (date(2026, 1, 1), date(2026, 1, 31))),
        (DateRange(date(2026, 3, 1), None), (date(2026, 3, 1), date(2026, 3, 10))),
        (DateRange(None, date(2026, 1, 31)), (date(2026, 1, 2), date(2026, 1, 31))),
        (DateRange(date(2026, 4, 1), None), (date(2026, 4, 1), date(2026, 4, 1))),
    ],
)
def test_the_chart_window_follows_the_date_filter(chosen: object, expected: tuple) -> None:
    window = logs.chart_window(chosen, date(2026, 3, 10))
    assert (window.start, window.end) == expected
