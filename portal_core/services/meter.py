"""The meter: every billable request is priced, guarded and recorded here
(docs/architecture.md, rule 5).

The products call ``meter_request`` once per billable request — a Smart CNAM lookup, from the
portal or the API, keyed by product and lookup type (docs/product.md, Billing model) — inside
the unit of work that serves the request (``db.write_connection``, or a ``write_session``'s
``session.connection()``).

Pricing (docs/product.md, Billing model; the figures are rows of ``plans`` and
``subscriptions``, seeded from ``data/plans.csv``, never constants here):

- Each month of the billing time zone (the platform setting ``billing_time_zone``, by default
  America/Toronto) an organization's first ``included_requests`` requests are included in its
  plan and cost nothing (Free 50, Starter 10,000, Competitor 250,000, Provider 1,000,000).
- Past the allowance each request costs the plan's ``additional_request_micros`` (Starter
  $0.0030 = 3,000 µ$, Competitor $0.0028, Provider $0.0025), added to the unbilled usage that
  the next invoice bills.
- A plan without a price per additional request (Free) is capped: past its allowance a request
  is refused with ``PlanCapReached``, which offers the upgrade (Billing › Pricing).
- Carrier is by contract: the subscription's ``contract_included_requests`` and
  ``contract_additional_request_micros``, when staff set them, replace the plan's figures.
- A request is refused with ``InsufficientFunds`` when the available funds (balance − unbilled
  usage) plus the credit limit cannot cover its cost. A request within the allowance costs
  nothing yet is refused too once an account is past its credit limit. A refused request
  records nothing.

How it stays right under concurrency: one ``UPDATE billing_accounts`` both checks and spends.
In a single statement it rolls the period over when the month changed, counts the request,
prices it by CASE (0 within the allowance), adds the price to ``unbilled_micros``, and only
matches the row while ``balance − unbilled − cost + credit_limit >= 0`` (and, on a capped
plan, while the allowance lasts). Two concurrent requests can therefore never spend the same
funds or the same included request; ``RETURNING`` tells which request of the period this one
was, hence whether it was included, and the balance and unbilled usage after it, hence the
drop of available funds, published to the unit of work as a ``FundsDropped`` fact (the
low-balance alert and auto-recharge react to it: ``services.reactions``). The usage record
and the day's roll-up are written in the same transaction. Everything here is SQLAlchemy
Core (docs/architecture.md, The hot path).

A ``request_key`` is the request's idempotency key, the organization's own (UNIQUE with the
organization on ``usage_records``): a replay returns the first result and charges nothing
more; another organization's request with the same key is a request of its own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Connection,
    Insert,
    Row,
    Select,
    String,
    Table,
    Update,
    bindparam,
    case,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from portal_core import db
from portal_core.errors import (
    Conflict,
    InsufficientFunds,
    NotFound,
    PlanCapReached,
    ValidationFailed,
)
from portal_core.facts import FundsDropped
from portal_core.models.base import utcnow
from portal_core.models.billing import (
    BillingAccount,
    LookupType,
    Plan,
    PlatformSetting,
    Product,
    Subscription,
    UsageDaily,
    UsageRecord,
)
from portal_core.money import format_micros, format_unit_price
from portal_core.services import platform

TIME_ZONE_SETTING = platform.BILLING_TIME_ZONE
MAX_REQUEST_KEY = 120  # usage_records.request_key's width
# A refusal is explained by reading the account after the guarded UPDATE matched nothing; on
# PostgreSQL funds may arrive in between, and then the request is simply tried again.
_ATTEMPTS = 3


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


_accounts = _table(BillingAccount)
_plans = _table(Plan)
_settings = _table(PlatformSetting)
_subscriptions = _table(Subscription)
_records = _table(UsageRecord)
_daily = _table(UsageDaily)


@dataclass(frozen=True)
class MeteredRequest:
    """What a metered request cost and where it counted.

    ``period_requests`` is the organization's request count of ``period`` including this one
    (on a replay: as it stands now). ``replayed`` says the request key had been metered
    before, so nothing was charged this time.
    """

    cost_micros: int
    included: bool
    period: str
    period_requests: int
    replayed: bool = False


def meter_request(
    connection: Connection,
    *,
    organization_id: uuid.UUID,
    product: Product,
    lookup_type: LookupType,
    request_key: str,
    now: datetime | None = None,
) -> MeteredRequest:
    """Price, guard and record one billable request (see the module's docstring for the rules).

    Raises ``PlanCapReached`` past a capped plan's allowance, ``InsufficientFunds`` when the
    funds and credit limit cannot cover it (nothing is recorded then), ``Conflict`` when the
    request key was used for a different request, ``NotFound`` without a subscription,
    ``ValidationFailed`` for a missing or over-long request key.
    """
    if not request_key or len(request_key) > MAX_REQUEST_KEY:
        raise ValidationFailed({"request_key": "A request key of 1–120 characters."})
    now = now or utcnow()
    statements = _statements(connection.dialect.name)
    terms = connection.execute(
        statements.terms, {"p_org": organization_id, "p_key": request_key}
    ).first()
    if terms is None:
        raise NotFound("That organization has no subscription to bill requests to.")
    if terms.first_organization_id is not None:
        return _replay(connection, terms, organization_id, product, lookup_type)

    local = now.astimezone(ZoneInfo(terms.time_zone or platform.shipped_default(TIME_ZONE_SETTING)))
    period = f"{local.year:04d}-{local.month:02d}"
    capped = terms.price is None
    price = 0 if capped else int(terms.price)
    allowance = int(terms.allowance)
    spend = statements.spend_capped if capped else statements.spend
    guard = {"p_org": organization_id, "p_period": period, "p_allowance": allowance}
    spent: Row[Any] | None = None
    for _attempt in range(_ATTEMPTS):
        spent = connection.execute(spend, {**guard, "p_price": price}).first()
        if spent is not None:
            break
        _explain_refusal(connection, terms, organization_id, period, price)
    if spent is None:
        raise InsufficientFunds(
            "Your available funds and credit limit could not cover this request. "
            "Add funds in Billing › Overview, then try again."
        )

    counted_period, period_requests = str(spent.period), int(spent.period_requests)
    included = period_requests <= allowance
    cost = 0 if included else price
    # The period never moves backwards: a request that was still in flight when another one
    # rolled the account into the next month counts (and is invoiced) in that month.
    day = local.date() if counted_period == period else _first_day(counted_period)
    inserted = connection.execute(
        statements.record,
        {
            "id": uuid.uuid4(),
            "organization_id": organization_id,
            "product": product.value,
            "lookup_type": lookup_type.value,
            "period": counted_period,
            "included": included,
            "cost_micros": cost,
            "request_key": request_key,
            "created_at": now,
        },
    ).rowcount
    if inserted == 0:
        # The same key was metered by a transaction that committed after our look-up: take
        # back what this one counted, in this same transaction, and answer as the first did.
        # (Had this request rolled the month over, the new month simply starts at 0 requests.)
        connection.execute(statements.undo, {"p_org": organization_id, "p_cost": cost})
        first = connection.execute(
            statements.by_key, {"p_org": organization_id, "p_key": request_key}
        ).one()
        return _replay(connection, first, organization_id, product, lookup_type)
    connection.execute(
        statements.roll_up,
        {
            "organization_id": organization_id,
            "day": day,
            "product": product.value,
            "lookup_type": lookup_type.value,
            "requests": 1,
            "billable_requests": 0 if included else 1,
            "cost_micros": cost,
        },
    )
    if cost > 0:
        # The guarded UPDATE returned the figures after this request: funds were one cost
        # higher before it (the low-balance alert and auto-recharge watch the drop).
        after = int(spent.balance_micros) - int(spent.unbilled_micros)
        db.publish(
            connection,
            FundsDropped(
                organization_id,
                before_available_micros=after + cost,
                after_available_micros=after,
                cause=f"usage:{request_key}",
                at=now,
            ),
        )
    return MeteredRequest(
        cost_micros=cost, included=included, period=counted_period, period_requests=period_requests
    )


def _explain_refusal(
    connection: Connection, terms: Row[Any], organization_id: uuid.UUID, period: str, price: int
) -> None:
    """Raise why the guarded UPDATE matched no row; return when nothing stands in the way
    any more (funds arrived meanwhile), so the caller tries again."""
    account = connection.execute(
        _statements(connection.dialect.name).account, {"p_org": organization_id}
    ).first()
    if account is None:
        raise NotFound("That organization has no billing account.")
    so_far = 0 if account.period < period else int(account.period_requests)
    allowance = int(terms.allowance)
    if terms.price is None and so_far >= allowance:
        if terms.by_contract:
            raise PlanCapReached(
                f"Your {terms.plan_name} contract includes {allowance:,} requests a month and "
                "this month's are used. Ask SIPSTACK to extend your contract to keep going."
            )
        raise PlanCapReached(
            f"Your {terms.plan_name} plan includes {allowance:,} requests a month and this "
            "month's are used. Upgrade your plan in Billing › Pricing to keep going."
        )
    cost = 0 if so_far < allowance else price
    available = int(account.balance_micros) - int(account.unbilled_micros)
    credit_limit = int(account.credit_limit_micros)
    if available - cost + credit_limit >= 0:
        return
    if cost == 0:
        raise InsufficientFunds(
            f"Your account is past its credit limit of {format_micros(credit_limit)}: its "
            f"available funds are {format_micros(available)}. Add funds in Billing › Overview "
            "to keep going."
        )
    raise InsufficientFunds(
        f"This request costs {format_unit_price(cost)}, more than your available funds "
        f"({format_micros(available)}) plus your credit limit ({format_micros(credit_limit)}) "
        "can cover. Add funds in Billing › Overview to keep going."
    )


def _replay(
    connection: Connection,
    first: Row[Any],
    organization_id: uuid.UUID,
    product: Product,
    lookup_type: LookupType,
) -> MeteredRequest:
    """The first result of a request key, checked to be the same request."""
    if (first.first_organization_id, first.first_product, first.first_lookup_type) != (
        organization_id,
        product.value,
        lookup_type.value,
    ):
        raise Conflict("That request key was already used for a different request.")
    statements = _statements(connection.dialect.name)
    account = connection.execute(statements.account, {"p_org": organization_id}).first()
    if account is not None and account.period == first.first_period:
        period_requests = int(account.period_requests)
    else:
        period_requests = int(
            connection.execute(
                statements.count_period, {"p_org": organization_id, "p_period": first.first_period}
            ).scalar_one()
        )
    return MeteredRequest(
        cost_micros=int(first.first_cost_micros),
        included=bool(first.first_included),
        period=str(first.first_period),
        period_requests=period_requests,
        replayed=True,
    )


def _first_day(period: str) -> date:
    return date(int(period[:4]), int(period[5:7]), 1)


# --- Statements, built once per dialect so SQLAlchemy's compiled cache always hits -----------


@dataclass(frozen=True)
class _Statements:
    terms: Select[Any]
    spend: Update
    spend_capped: Update
    record: Insert
    roll_up: Insert
    undo: Update
    by_key: Select[Any]
    account: Select[Any]
    count_period: Select[Any]


def _first_columns() -> list[Any]:
    """The first metering of a request key, labelled apart from the plan's columns."""
    return [
        _records.c.organization_id.label("first_organization_id"),
        _records.c.product.label("first_product"),
        _records.c.lookup_type.label("first_lookup_type"),
        _records.c.period.label("first_period"),
        _records.c.included.label("first_included"),
        _records.c.cost_micros.label("first_cost_micros"),
    ]


@cache
def _statements(dialect: str) -> _Statements:
    organization = bindparam("p_org", type_=_accounts.c.organization_id.type)
    period = bindparam("p_period", type_=String())
    allowance = bindparam("p_allowance", type_=BigInteger())
    price = bindparam("p_price", type_=BigInteger())

    time_zone = (
        select(_settings.c.value)
        .where(_settings.c.key == TIME_ZONE_SETTING)
        .scalar_subquery()
        .label("time_zone")
    )
    # One round trip: the plan's terms (a contract's figures first), the time zone, and the
    # first metering of this request key if there was one.
    terms = (
        select(
            _plans.c.name.label("plan_name"),
            _plans.c.by_contract,
            func.coalesce(
                _subscriptions.c.contract_included_requests, _plans.c.included_requests
            ).label("allowance"),
            func.coalesce(
                _subscriptions.c.contract_additional_request_micros,
                _plans.c.additional_request_micros,
            ).label("price"),
            time_zone,
            *_first_columns(),
        )
        .select_from(
            _subscriptions.join(_plans, _plans.c.code == _subscriptions.c.plan_code).outerjoin(
                _records,
                (_records.c.organization_id == _subscriptions.c.organization_id)
                & (_records.c.request_key == bindparam("p_key", type_=String())),
            )
        )
        .where(_subscriptions.c.organization_id == organization)
    )

    accounts = _accounts.c
    requests_so_far = case((accounts.period < period, 0), else_=accounts.period_requests)
    cost = case((requests_so_far < allowance, 0), else_=price)
    spend = (
        update(_accounts)
        .where(
            accounts.organization_id == organization,
            accounts.balance_micros - accounts.unbilled_micros - cost + accounts.credit_limit_micros
            >= 0,
        )
        .values(
            period=case((accounts.period < period, period), else_=accounts.period),
            period_requests=requests_so_far + 1,
            unbilled_micros=accounts.unbilled_micros + cost,
        )
        .returning(
            accounts.period,
            accounts.period_requests,
            accounts.balance_micros,
            accounts.unbilled_micros,
        )
    )
    undo = (
        update(_accounts)
        .where(accounts.organization_id == organization)
        .values(
            period_requests=accounts.period_requests - 1,
            unbilled_micros=accounts.unbilled_micros - bindparam("p_cost", type_=BigInteger()),
        )
    )

    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # Without preserve_rowcount SQLAlchemy reports no reliable row count for an INSERT, and
    # the count is how a key taken by a concurrent transaction shows.
    record = (
        dialect_insert(_records)
        .on_conflict_do_nothing(index_elements=["organization_id", "request_key"])
        .execution_options(preserve_rowcount=True)
    )
    upsert = dialect_insert(_daily)
    roll_up = upsert.on_conflict_do_update(
        index_elements=["organization_id", "day", "product", "lookup_type"],
        set_={
            "requests": _daily.c.requests + upsert.excluded.requests,
            "billable_requests": _daily.c.billable_requests + upsert.excluded.billable_requests,
            "cost_micros": _daily.c.cost_micros + upsert.excluded.cost_micros,
        },
    )
    return _Statements(
        terms=terms,
        spend=spend,
        spend_capped=spend.where(requests_so_far < allowance),
        record=record,
        roll_up=roll_up,
        undo=undo,
        by_key=select(*_first_columns()).where(
            _records.c.organization_id == organization,
            _records.c.request_key == bindparam("p_key", type_=String()),
        ),
        account=select(
            accounts.balance_micros,
            accounts.unbilled_micros,
            accounts.credit_limit_micros,
            accounts.period,
            accounts.period_requests,
        ).where(accounts.organization_id == organization),
        count_period=select(func.count())
        .select_from(_records)
        .where(_records.c.organization_id == organization, _records.c.period == period),
    )
