"""Analytics › Logs: every product event of the organization, and the volume chart above them
(docs/product.md, Pages › Logs).

The list is the portal's table (``queries.listing``): filtered, sorted, counted and paged in
SQL on ``product_events``, scoped to the acting user's organization
(docs/architecture.md, rule 3), so an event of another organization is simply not found.
The chart counts the daily roll-up ``product_events_daily``, never the events themselves: it
costs the same for ten events or ten million, and it keeps its history after old events are
pruned.

Every role of an organization reads its own events (``USE_PORTAL``); staff belong to no
organization and have no Logs.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from portal_core.errors import NotFound
from portal_core.models.accounts import User
from portal_core.models.api_tokens import ApiToken
from portal_core.models.products import (
    EventAction,
    EventProduct,
    EventStatus,
    ProductEvent,
    ProductEventDaily,
)
from portal_core.money import format_unit_price
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.queries.listing import (
    Choice,
    ChoiceFilter,
    Column,
    ColumnKind,
    DateRange,
    DateRangeFilter,
    Listing,
    Sort,
    equal_choices,
)
from portal_core.rules.lookup_types import LOOKUP_TYPE_NAMES, lookup_type_name
from portal_core.rules.numbers import shown
from portal_core.rules.scoring import format_score

PRODUCTS: dict[str, str] = {product.value: product.label for product in EventProduct}
ACTIONS: dict[str, str] = {action.value: action.label for action in EventAction}
STATUSES: dict[str, str] = {status.value: status.label for status in EventStatus}
CHART_DAYS = 30  # the chart's window when no date range is chosen: the last 30 days
NUMBERS_ARROW = " → "  # a lookup's source, then the destination it was for


def _numbers_shown(numbers: str) -> str:
    """ "+14165550123 → +12125550123" as the portal shows numbers."""
    return NUMBERS_ARROW.join(shown(number) for number in numbers.split(NUMBERS_ARROW))


# --- The list ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventUser:
    """A member the User filter offers: ``label`` is the name as typed (with the e-mail when
    two members share a name)."""

    id: uuid.UUID
    label: str


def event_users(session: Session, actor: Actor) -> list[EventUser]:
    """Every member of the organization, deactivated ones too (their events stay), by name."""
    require(actor, Capability.USE_PORTAL)
    organization_id = require_organization(actor)
    rows = session.execute(
        sa_select(col(User.id), col(User.name), col(User.email))
        .where(col(User.organization_id) == organization_id)
        .order_by(col(User.name), col(User.email))
    ).all()
    names = Counter(str(row.name) for row in rows)
    return [
        EventUser(row.id, str(row.name) if names[row.name] == 1 else f"{row.name} ({row.email})")
        for row in rows
    ]


@dataclass(frozen=True)
class EventToken:
    """An API token the API token filter offers: ``label`` is its name, with its key when
    two of the organization's tokens share a name (a revoked one and its successor)."""

    id: uuid.UUID
    label: str


def event_tokens(session: Session, actor: Actor) -> list[EventToken]:
    """Every API token of the organization, revoked ones too (their events stay), by name."""
    require(actor, Capability.USE_PORTAL)
    organization_id = require_organization(actor)
    rows = session.execute(
        sa_select(col(ApiToken.id), col(ApiToken.name), col(ApiToken.key))
        .where(col(ApiToken.organization_id) == organization_id)
        .order_by(col(ApiToken.name), col(ApiToken.created_at), col(ApiToken.id))
    ).all()
    names = Counter(str(row.name) for row in rows)
    return [
        EventToken(row.id, str(row.name) if names[row.name] == 1 else f"{row.name} ({row.key})")
        for row in rows
    ]


TOKEN_SUFFIX = " (API token)"


def events(
    actor: Actor,
    *,
    users: tuple[EventUser, ...] | list[EventUser] = (),
    tokens: tuple[EventToken, ...] | list[EventToken] = (),
) -> Listing:
    """The organization's product events, newest first. ``users`` and ``tokens`` are the
    User and API token filters' choices (``event_users``, ``event_tokens``)."""
    require(actor, Capability.USE_PORTAL)
    organization_id = require_organization(actor)
    created = col(ProductEvent.created_at)
    number, destination = col(ProductEvent.number), col(ProductEvent.destination)
    # Who did it, read per shown row, so that the base SELECT (and its count) stays on
    # ``product_events`` and its indexes alone: the member, or for a call through the API
    # the token (such an event names no member).
    member_name = (
        select(col(User.name))
        .where(col(User.id) == col(ProductEvent.user_id))
        .correlate(ProductEvent)
        .scalar_subquery()
    )
    token_name = (
        select(col(ApiToken.name) + TOKEN_SUFFIX)
        .where(col(ApiToken.id) == col(ProductEvent.api_token_id))
        .correlate(ProductEvent)
        .scalar_subquery()
    )
    return Listing(
        noun="events",
        select=select(col(ProductEvent.id))
        .select_from(ProductEvent)
        .where(col(ProductEvent.organization_id) == organization_id),
        key=col(ProductEvent.id),
        columns=(
            Column("created_at", "Time", created, ColumnKind.DATETIME),
            Column(
                "user",
                "User or API token",
                func.coalesce(member_name, token_name),
                help="The member who did it, or the API token a program called with.",
            ),
            Column("product", "Product", col(ProductEvent.product), labels=PRODUCTS),
            Column("action", "Action", col(ProductEvent.action), labels=ACTIONS),
            Column(
                "lookup_type",
                "Lookup type",
                col(ProductEvent.lookup_type),
                labels=LOOKUP_TYPE_NAMES,
            ),
            Column(
                "numbers",
                "Numbers",
                case(
                    (destination.is_(None), number),
                    else_=number + NUMBERS_ARROW + destination,
                ),
                help="The number, then the destination it was looked up for.",
                formatter=_numbers_shown,
            ),
            Column("result", "Result", col(ProductEvent.result)),
            Column(
                "score",
                "Score",
                col(ProductEvent.score_millis),
                formatter=format_score,
                help="From 0.000 to 5.000.",
            ),
            Column(
                "cost",
                "Cost",
                col(ProductEvent.cost_micros),
                formatter=format_unit_price,
                help="What it cost, in USD: nothing within your plan's allowance.",
            ),
            Column("latency_ms", "Latency (ms)", col(ProductEvent.latency_ms), ColumnKind.NUMBER),
            Column(
                "status", "Status", col(ProductEvent.status), ColumnKind.STATUS, labels=STATUSES
            ),
        ),
        sorts=(
            Sort("created", "Time", created),
            Sort("score", "Score", col(ProductEvent.score_millis), then=(created,)),
            Sort("cost", "Cost", col(ProductEvent.cost_micros), then=(created,)),
            Sort("latency", "Latency", col(ProductEvent.latency_ms), then=(created,)),
        ),
        default_sort="created",
        default_descending=True,
        filters=(
            DateRangeFilter("created", "Date", created),
            ChoiceFilter("product", "Product", equal_choices(col(ProductEvent.product), PRODUCTS)),
            ChoiceFilter("action", "Action", equal_choices(col(ProductEvent.action), ACTIONS)),
            ChoiceFilter(
                "lookup_type",
                "Lookup type",
                equal_choices(col(ProductEvent.lookup_type), LOOKUP_TYPE_NAMES),
            ),
            ChoiceFilter("status", "Status", equal_choices(col(ProductEvent.status), STATUSES)),
            ChoiceFilter(
                "user",
                "User",
                tuple(
                    Choice(str(user.id), user.label, col(ProductEvent.user_id) == user.id)
                    for user in users
                ),
            ),
            ChoiceFilter(
                "token",
                "API token",
                tuple(
                    Choice(str(token.id), token.label, col(ProductEvent.api_token_id) == token.id)
                    for token in tokens
                ),
            ),
        ),
        empty_message="No events yet: Smart CNAM lookups and Whois Profiles' changes will "
        "appear here.",
    )


def has_events(session: Session, actor: Actor) -> bool:
    """Whether the organization has any event at all (the page's empty state)."""
    require(actor, Capability.USE_PORTAL)
    organization_id = require_organization(actor)
    return bool(
        session.execute(
            sa_select(exists().where(col(ProductEvent.organization_id) == organization_id))
        ).scalar()
    )


# --- One event ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventView:
    id: uuid.UUID
    created_at: datetime
    user_name: str | None
    token_name: str | None  # the API token, when a program called with one
    product: str
    action: str
    lookup_type: str | None
    number: str | None
    destination: str | None
    result: str | None
    score_millis: int | None
    cost_micros: int
    latency_ms: int | None
    status: str


def event(session: Session, actor: Actor, event_id: uuid.UUID) -> EventView:
    """One event of the organization; another organization's is not found."""
    require(actor, Capability.USE_PORTAL)
    organization_id = require_organization(actor)
    row = session.execute(
        sa_select(ProductEvent, col(User.name), col(ApiToken.name))
        .outerjoin(User, col(User.id) == col(ProductEvent.user_id))
        .outerjoin(ApiToken, col(ApiToken.id) == col(ProductEvent.api_token_id))
        .where(
            col(ProductEvent.id) == event_id,
            col(ProductEvent.organization_id) == organization_id,
        )
    ).first()
    if row is None:
        raise NotFound("That event was not found.")
    found: ProductEvent = row[0]
    return EventView(
        id=found.id,
        created_at=found.created_at,
        user_name=row[1],
        token_name=row[2],
        product=str(found.product),
        action=str(found.action),
        lookup_type=found.lookup_type,
        number=found.number,
        destination=found.destination,
        result=found.result,
        score_millis=found.score_millis,
        cost_micros=found.cost_micros,
        latency_ms=found.latency_ms,
        status=str(found.status),
    )


# --- The volume chart --------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumePoint:
    day: date
    series: str  # a lookup type for lookups, else the action
    events: int


@dataclass(frozen=True)
class VolumeByDay:
    """Events per day of the window (billing time zone), one series per lookup type and one
    per other action, oldest first. ``days`` lists every day of the window, quiet ones too;
    ``points`` only the (day, series) pairs that had events."""

    days: list[date]
    points: list[VolumePoint]
    series_names: dict[str, str]

    @property
    def total(self) -> int:
        return sum(point.events for point in self.points)


def chart_window(chosen: Any, today: date) -> DateRange:
    """The days the chart shows for the table's date filter ``chosen``: its range, an open
    end read as today, an open start as ``CHART_DAYS`` before the end; nothing chosen, the
    last ``CHART_DAYS`` days."""
    start = chosen.start if isinstance(chosen, DateRange) else None
    end = chosen.end if isinstance(chosen, DateRange) else None
    end = end or max(today, start or today)
    start = start or end - timedelta(days=CHART_DAYS - 1)
    return DateRange(start, end)


def volume_by_day(session: Session, actor: Actor, window: DateRange) -> VolumeByDay:
    """Events per day and series over ``window`` (both ends included), summed in SQL from the
    daily roll-up."""
    require(actor, Capability.USE_PORTAL)
    organization_id = require_organization(actor)
    assert window.start is not None and window.end is not None
    daily = ProductEventDaily
    lookup = col(daily.action) == EventAction.LOOKUP.value
    typed = and_(lookup, col(daily.lookup_type) != "")
    series = case((typed, col(daily.lookup_type)), else_=col(daily.action))
    rows = session.execute(
        sa_select(col(daily.day), series.label("series"), func.sum(daily.events))
        .where(
            col(daily.organization_id) == organization_id,
            col(daily.day) >= window.start,
            col(daily.day) <= window.end,
        )
        .group_by(col(daily.day), series)
        .order_by(col(daily.day), series)
    ).all()
    points = [VolumePoint(row[0], str(row[1]), int(row[2])) for row in rows if int(row[2])]
    days = [
        window.start + timedelta(days=offset)
        for offset in range((window.end - window.start).days + 1)
    ]
    return VolumeByDay(
        days=days,
        points=points,
        series_names={point.series: series_name(point.series) for point in points},
    )


def series_name(series: str) -> str:
    """A lookup type's name ("Caller ID lookups"), or an action's ("Registrations")."""
    if series in ACTIONS:
        return {
            EventAction.LOOKUP.value: "Lookups",
            EventAction.REGISTRATION.value: "Registrations",
            EventAction.EDIT.value: "Edits",
            EventAction.DELETION.value: "Deletions",
            EventAction.VERIFICATION.value: "Verifications",
            EventAction.IMPORT.value: "Imports",
            EventAction.DISPUTE.value: "Disputes",
            EventAction.REPORT.value: "Reports",
        }.get(series, ACTIONS[series])
    return f"{lookup_type_name(series)} lookups"
