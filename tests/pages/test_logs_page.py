"""Analytics › Logs (AppTest): every role of an organization reads its events in the table
and the volume chart, filters change what is drawn, the CSV holds the filtered events, an
event opens from a link (another organization's is not found), a new organization is told
what will appear, and staff are refused."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import timedelta

import pandas as pd
import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from portal_core import db
from portal_core.models.accounts import Organization, Role, User
from portal_core.models.base import utcnow
from portal_core.models.billing import LookupType
from portal_core.models.products import EventAction, EventProduct, EventStatus
from portal_core.services import product_events
from portal_core.services.product_events import Event
from tests.factories import make_organization, make_staff, make_user
from tests.pages.conftest import (
    NOT_YOUR_ROLE,
    Downloads,
    Portal,
    plain,
    refused,
    texts,
)

PAGE = "pages/logs.py"
TABLE = "analytics.logs"
PARTNER_ROLES = [Role.OWNER, Role.ADMIN, Role.BILLING, Role.DEVELOPER, Role.VIEWER]
EMPTY = "No events yet."


def member(portal: Portal, role: Role, organization: Organization | None = None, **kw: str) -> User:
    with db.write_session(portal.engine) as session:
        return make_user(session, role=role, organization=organization, **kw)  # type: ignore[arg-type]


def organization_of(portal: Portal, user: User) -> Organization:
    with db.read_session(portal.engine) as session:
        found = session.get(Organization, user.organization_id)
        assert found is not None
        return found


def record(portal: Portal, event: Event, *, minutes_ago: int = 0) -> uuid.UUID:
    with db.write_connection(portal.engine) as connection:
        return product_events.record(
            connection, event, now=utcnow() - timedelta(minutes=minutes_ago)
        )


def lookup(user: User, **fields: object) -> Event:
    assert user.organization_id is not None
    values: dict[str, object] = {
        "organization_id": user.organization_id,
        "product": EventProduct.SMART_CNAM,
        "action": EventAction.LOOKUP,
        "user_id": user.id,
        "lookup_type": LookupType.CALLER_ID.value,
        "number": "+14165550123",
        "result": "Harbor Dental",
        "score_millis": 3_750,
        "cost_micros": 3_000,
        "latency_ms": 42,
    }
    values.update(fields)
    return Event(**values)  # type: ignore[arg-type]


def registration(user: User) -> Event:
    assert user.organization_id is not None
    return Event(
        organization_id=user.organization_id,
        product=EventProduct.WHOIS,
        action=EventAction.REGISTRATION,
        user_id=user.id,
        number="+16135550199",
        result="Registered",
    )


def table_of(app: AppTest) -> pd.DataFrame:
    [frame] = app.dataframe
    return frame.value


def cells(frame: pd.DataFrame) -> list[list[object]]:
    """The frame's rows, an empty cell as None (the table draws it as "—")."""
    return [[None if pd.isna(value) else value for value in row] for row in frame.values.tolist()]


def chart_traces(app: AppTest) -> list[tuple[str, int]]:
    """Each bar series of the volume chart: its name and its events in all."""
    [chart] = app.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    return [(trace["name"], sum(y or 0 for y in trace["y"])) for trace in spec["data"]]


@pytest.mark.parametrize("role", PARTNER_ROLES, ids=str)
def test_every_role_reads_its_organizations_events_and_their_volume(
    portal: Portal, role: Role
) -> None:
    owner = member(portal, Role.OWNER, name="Ann Lee")
    reader = member(portal, role, organization_of(portal, owner)) if role != Role.OWNER else owner
    record(portal, lookup(owner, destination="+16135550100"), minutes_ago=5)
    record(portal, registration(owner), minutes_ago=1)

    app = portal.open(PAGE, as_user=reader)

    assert not app.exception, app.exception
    assert [str(title.value) for title in app.title] == ["Logs"]
    frame = table_of(app)
    assert cells(frame.drop(columns=["created_at"])) == [
        ["Ann Lee", "Whois Profiles", "Registration", None, "+1 613-555-0199", "Registered"]
        + [None, "$0.0000", None, "OK"],
        ["Ann Lee", "Smart CNAM", "Lookup", "Caller ID", "+1 416-555-0123 → +1 613-555-0100"]
        + ["Harbor Dental", "3.750", "$0.0030", 42, "OK"],
    ]
    assert sorted(chart_traces(app)) == [("Caller ID lookups", 1), ("Registrations", 1)]
    assert "Showing 1–2 of 2 events" in texts(app)


def test_staff_are_refused(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        staff = make_staff(session)

    app = portal.open(PAGE, as_user=staff)

    assert not app.exception, app.exception
    assert refused(app)
    assert [str(error.value) for error in app.error] == [NOT_YOUR_ROLE]
    assert not app.dataframe
    assert not app.get("plotly_chart")


def test_a_new_organization_is_told_what_will_appear_without_a_chart_or_table(
    portal: Portal,
) -> None:
    app = portal.open(PAGE, as_user=member(portal, Role.DEVELOPER))

    assert not app.exception, app.exception
    [info] = app.info
    assert str(info.value).startswith(EMPTY)
    assert "Smart CNAM lookup" in str(info.value)
    assert not app.dataframe
    assert not app.get("plotly_chart")
    # Where lookups are made: a developer may make them.
    links = [str(link.proto.label) for link in app.main.get("page_link")]
    assert "Make a lookup in Smart CNAM" in links


def test_a_viewer_is_told_who_makes_lookups_instead_of_a_link(portal: Portal) -> None:
    app = portal.open(PAGE, as_user=member(portal, Role.VIEWER))
    assert not app.exception, app.exception
    assert "Owners, admins and developers make lookups, in Smart CNAM." in texts(app)
    assert "Make a lookup in Smart CNAM" not in [
        str(link.proto.label) for link in app.main.get("page_link")
    ]


def test_another_organizations_events_are_not_shown(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        other = make_user(session, organization=make_organization(session))
    record(portal, lookup(other, result="Their secret"))

    app = portal.open(PAGE, as_user=member(portal, Role.OWNER))

    assert not app.exception, app.exception
    assert str(app.info[0].value).startswith(EMPTY)
    assert "Their secret" not in texts(app)
    assert not app.dataframe


@pytest.fixture
def busy(portal: Portal) -> User:
    """An owner whose organization made two Caller ID lookups, a refused Regional one, and a
    registration by its viewer."""
    owner = member(portal, Role.OWNER, name="Ann Lee")
    viewer = member(portal, Role.VIEWER, organization_of(portal, owner), name="Bo Chen")
    record(portal, lookup(owner, result="First"), minutes_ago=40)
    record(
        portal,
        lookup(
            owner,
            lookup_type=LookupType.REGIONAL.value,
            status=EventStatus.REFUSED,
            result="Refused",
            cost_micros=0,
            score_millis=None,
        ),
        minutes_ago=30,
    )
    record(portal, registration(viewer), minutes_ago=20)
    record(portal, lookup(owner, result="Last"), minutes_ago=10)
    return owner


def apply(app: AppTest, **choices: str) -> AppTest:
    for name, value in choices.items():
        app.selectbox(key=f"{TABLE}.filter.{name}").set_value(value)
    app.button(key=f"{TABLE}.apply_filters").click()
    return app.run()


@pytest.mark.parametrize(
    ("choices", "expected"),
    [
        ({"product": "whois"}, ["Registered"]),
        ({"action": "lookup"}, ["Last", "Refused", "First"]),
        ({"lookup_type": "caller_id"}, ["Last", "First"]),
        ({"status": "refused"}, ["Refused"]),
    ],
)
def test_each_filter_changes_the_events_drawn(
    portal: Portal, busy: User, choices: dict[str, str], expected: list[str]
) -> None:
    app = portal.open(PAGE, as_user=busy)
    assert table_of(app)["result"].tolist() == ["Last", "Registered", "Refused", "First"]

    app = apply(app, **choices)

    assert not app.exception, app.exception
    assert table_of(app)["result"].tolist() == expected


def test_the_user_filter_offers_the_members_by_name(portal: Portal, busy: User) -> None:
    app = portal.open(PAGE, as_user=busy)
    users = app.selectbox(key=f"{TABLE}.filter.user")
    assert users.options == ["Any", "Ann Lee", "Bo Chen"]

    with db.read_session(portal.engine) as session:
        viewer = session.exec(select(User).where(User.name == "Bo Chen")).one()
    users.set_value(str(viewer.id))
    app.button(key=f"{TABLE}.apply_filters").click()
    app = app.run()

    assert not app.exception, app.exception
    assert table_of(app)[["user", "result"]].values.tolist() == [["Bo Chen", "Registered"]]


def test_a_date_range_without_events_says_so_and_the_chart_is_of_those_days(
    portal: Portal, busy: User
) -> None:
    app = portal.open(PAGE, as_user=busy)
    long_ago = utcnow().date() - timedelta(days=400)

    app.date_input(key=f"{TABLE}.filter.created.from").set_value(long_ago)
    app.date_input(key=f"{TABLE}.filter.created.to").set_value(long_ago + timedelta(days=6))
    app.button(key=f"{TABLE}.apply_filters").click()
    app = app.run()

    assert not app.exception, app.exception
    assert not app.dataframe
    assert "No events match these filters." in texts(app)
    assert f"Events per day from {long_ago:%B %-d, %Y}" in plain(app)
    [chart] = app.get("plotly_chart")
    assert "No events on these days." in chart.proto.spec


def test_sorting_by_cost_puts_the_dearest_first(portal: Portal, busy: User) -> None:
    app = portal.open(PAGE, as_user=busy)

    app.selectbox(key=f"{TABLE}.sort").set_value("cost").run()

    assert not app.exception, app.exception
    assert table_of(app)["cost"].tolist()[:2] == ["$0.0030", "$0.0030"]
    assert table_of(app)["cost"].tolist()[2:] == ["$0.0000", "$0.0000"]


def test_the_csv_holds_the_filtered_events(
    portal: Portal, busy: User, downloads: Downloads
) -> None:
    app = apply(portal.open(PAGE, as_user=busy), product="smart_cnam")

    assert not app.exception, app.exception
    [file_name] = downloads
    assert file_name.startswith("events-") and file_name.endswith(".csv")
    rows = list(csv.reader(io.StringIO(downloads[file_name]().decode("utf-8-sig"))))
    assert rows[0][:3] == ["Time", "User or API token", "Product"]
    assert [(row[1], row[6], row[7], row[8], row[10]) for row in rows[1:]] == [
        ("Ann Lee", "Last", "3.750", "$0.0030", "OK"),
        ("Ann Lee", "Refused", "", "$0.0000", "Refused"),
        ("Ann Lee", "First", "3.750", "$0.0030", "OK"),
    ]


def test_a_link_opens_the_event_with_its_result_in_full(portal: Portal) -> None:
    owner = member(portal, Role.VIEWER, name="Ann Lee")
    long_result = "Caller ID: " + "Harbor Dental Clinic of Toronto " * 7  # kept to 200
    event_id = record(portal, lookup(owner, result=long_result, destination="+16135550100"))

    app = portal.open(PAGE, as_user=owner, query_params={"event": event_id})

    assert not app.exception, app.exception
    assert [str(header.value) for header in app.subheader][0].startswith("Caller ID lookup, ")
    assert [str(text.value) for text in app.main.text][-1] == long_result[:199] + "…"
    drawn = plain(app)
    for field in ("User:** Ann Lee", "Destination:** +16135550100", "Score:** 3.750"):
        assert f"**{field}" in drawn
    assert "**Cost:** $0.0030" in drawn
    assert not app.dataframe


def test_a_link_to_another_organizations_event_is_not_found(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        other = make_user(session, organization=make_organization(session))
    theirs = record(portal, lookup(other, result="Their secret"))
    owner = member(portal, Role.OWNER)
    record(portal, lookup(owner))

    app = portal.open(PAGE, as_user=owner, query_params={"event": theirs})

    assert not app.exception, app.exception
    assert "That event was not found." in texts(app)
    assert "Their secret" not in texts(app)
