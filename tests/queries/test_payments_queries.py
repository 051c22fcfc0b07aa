"""Billing › Payments and the card reads: filtered, sorted and paged in SQL, scoped to the
organization (another organization's payment is "not found"), and refused to roles that may
not read Billing."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from portal_core import db
from portal_core.errors import NotFound, PaymentDeclined, PermissionDenied, ValidationFailed
from portal_core.models.accounts import Role
from portal_core.models.payments import Payment, PaymentStatus
from portal_core.permissions import Actor
from portal_core.queries import payments as queries
from portal_core.queries.listing import DateRange, ListQuery, Page, fetch_page
from portal_core.services import payments
from tests.factories import actor_of, make_auto_recharge, make_card, make_user, organization_of

TORONTO = ZoneInfo("America/Toronto")


class PayingOrganization:
    """An owner with three cards and four payments of known amounts, dates and outcomes."""

    def __init__(self, engine: Engine) -> None:
        with db.write_session(engine) as session:
            owner = make_user(session)
            organization = organization_of(session, owner)
            self.visa = make_card(session, organization, created_at=_day(1))
            self.amex = make_card(
                session, organization, test_card="pm_card_amex", created_at=_day(2)
            )
            self.declined = make_card(
                session, organization, test_card="pm_card_chargeDeclined", created_at=_day(3)
            )
        self.actor = actor_of(owner)
        self.payments = [
            self._pay(engine, self.visa.id, 1_000, _day(10)),
            self._pay(engine, self.amex.id, 25_000, _day(11)),
            self._pay(engine, self.declined.id, 5_000, _day(12)),
            self._pay(engine, self.visa.id, 7_500, _day(13)),
        ]

    def _pay(self, engine: Engine, card_id: uuid.UUID, cents: int, when: datetime) -> uuid.UUID:
        try:
            with db.write_session(engine) as session:
                return payments.add_funds(
                    session,
                    self.actor,
                    payment_method_id=card_id,
                    amount_cents=cents,
                    idempotency_key=uuid.uuid4().hex,
                    now=when,
                ).id
        except PaymentDeclined as declined:
            assert declined.payment_id is not None
            return declined.payment_id


def _day(day: int) -> datetime:
    return datetime(2026, 10, day, 15, 0, tzinfo=UTC)


@pytest.fixture
def org(engine: Engine) -> PayingOrganization:
    return PayingOrganization(engine)


def _page(engine: Engine, actor: Actor, query: ListQuery | None = None) -> Page:
    with db.read_session(engine) as session:
        return fetch_page(session, queries.payments(actor), query or ListQuery())


def _column(engine, actor, key, query=None) -> list:
    return [row[key] for row in _page(engine, actor, query).rows]


def test_payments_show_date_card_amount_fee_total_status_and_reference_newest_first(engine, org):
    rows = _page(engine, org.actor).rows

    assert [row["amount_cents"] for row in rows] == [7_500, 5_000, 25_000, 1_000]
    newest = rows[0]
    assert newest["card_label"] == "Visa •••• 4242"
    assert (newest["fee_cents"], newest["total_cents"]) == (221, 7_721)
    assert newest["status"] == PaymentStatus.SUCCEEDED
    assert newest["reference"].startswith("PAY-")
    assert rows[1]["status"] == PaymentStatus.FAILED


@pytest.mark.parametrize(
    ("sort", "descending", "amounts"),
    [
        ("amount", False, [1_000, 5_000, 7_500, 25_000]),
        ("total", True, [25_000, 7_500, 5_000, 1_000]),
        ("created", False, [1_000, 25_000, 5_000, 7_500]),
    ],
)
def test_payments_sort_in_sql(engine, org, sort, descending, amounts):
    query = ListQuery(sort=sort, descending=descending)

    assert _column(engine, org.actor, "amount_cents", query) == amounts


def test_payments_sort_by_last_update(engine, org):
    query = ListQuery(sort="updated", descending=True)

    assert _column(engine, org.actor, "amount_cents", query)[0] == 7_500


@pytest.mark.parametrize(
    ("filters", "amounts"),
    [
        ({"card": "0005"}, [25_000]),
        ({"card": "4242"}, [7_500, 1_000]),
        ({"status": "failed"}, [5_000]),
        ({"status": "succeeded"}, [7_500, 25_000, 1_000]),
        ({"created": DateRange(date(2026, 10, 11), date(2026, 10, 12))}, [5_000, 25_000]),
    ],
)
def test_payments_filter_by_card_status_and_date(engine, org, filters, amounts):
    query = ListQuery(filters=filters, time_zone=TORONTO)

    assert _column(engine, org.actor, "amount_cents", query) == amounts


def test_payments_filter_by_reference(engine, org):
    reference = _page(engine, org.actor).rows[2]["reference"]

    rows = _page(engine, org.actor, ListQuery(filters={"reference": reference[-5:].lower()})).rows

    assert [row["reference"] for row in rows] == [reference]


def test_an_unknown_status_filter_is_refused_with_the_choices(engine, org):
    with pytest.raises(ValidationFailed, match="Needs authentication"):
        _page(engine, org.actor, ListQuery(filters={"status": "lost"}))


def test_payments_pages_in_sql(engine, org):
    with db.write_session(engine) as session:
        for _ in range(11):
            payments.add_funds(
                session,
                org.actor,
                payment_method_id=org.visa.id,
                amount_cents=1_000,
                idempotency_key=uuid.uuid4().hex,
            )

    second = _page(engine, org.actor, ListQuery(page=2, page_size=10))

    assert (second.total, second.page_count, len(second.rows)) == (15, 2, 5)


def test_payments_never_show_another_organizations(engine, org):
    other = PayingOrganization(engine)

    mine = set(_page(engine, org.actor).keys)
    theirs = set(_page(engine, other.actor).keys)

    assert mine == set(org.payments) and theirs == set(other.payments)
    assert not mine & theirs


def test_one_payment_reads_for_its_receipt(engine, org):
    with db.read_session(engine) as session:
        payment = queries.payment(session, org.actor, org.payments[1])

    assert (payment.amount_cents, payment.card_label) == (25_000, "American Express •••• 0005")


def test_another_organizations_payment_is_not_found(engine, org):
    other = PayingOrganization(engine)

    with db.read_session(engine) as session, pytest.raises(NotFound, match="payment was not found"):
        queries.payment(session, org.actor, other.payments[0])
    with db.read_session(engine) as session, pytest.raises(NotFound):
        queries.payment(session, org.actor, uuid.uuid4())


def test_the_last_payment_is_the_newest_whatever_its_outcome(engine, org):
    with db.read_session(engine) as session:
        last = queries.last_payment(session, org.actor)

    assert last is not None and last.id == org.payments[-1]


def test_an_organization_without_payments_has_no_last_payment(engine):
    with db.write_session(engine) as session:
        actor = actor_of(make_user(session))
    with db.read_session(engine) as session:
        assert queries.last_payment(session, actor) is None
        assert queries.payment_methods(session, actor) == []
        assert queries.default_card(session, actor) is None


def test_cards_list_the_default_first_then_newest_with_expiry(engine, org):
    with db.write_session(engine) as session:
        expired = make_card(
            session,
            organization_of(session, org.actor),
            test_card="pm_card_mastercard",
            exp_month=1,
            exp_year=2020,
            created_at=_day(4),
        )
    with db.read_session(engine) as session:
        cards = queries.payment_methods(session, org.actor)

    assert [card.label for card in cards] == [
        "Visa •••• 4242",
        "Mastercard •••• 4444",
        "Visa •••• 0002",
        "American Express •••• 0005",
    ]
    assert [card.is_default for card in cards] == [True, False, False, False]
    assert cards[1].id == expired.id and cards[1].expired and cards[1].expiry == "01/2020"
    assert not cards[0].expired


def test_removed_cards_are_not_listed(engine, org):
    with db.write_session(engine) as session:
        payments.remove_card(session, org.actor, org.amex.id)
    with db.read_session(engine) as session:
        ids = [card.id for card in queries.payment_methods(session, org.actor)]

    assert org.amex.id not in ids and len(ids) == 2


def test_another_organizations_cards_never_show(engine, org):
    other = PayingOrganization(engine)
    with db.read_session(engine) as session:
        ids = {card.id for card in queries.payment_methods(session, org.actor)}
        default = queries.default_card(session, other.actor)

    assert ids == {org.visa.id, org.amex.id, org.declined.id}
    assert default is not None and default.id == other.visa.id


def test_auto_recharge_settings_show_the_card_it_charges_and_the_daily_limit(engine, org):
    with db.write_session(engine) as session:
        make_auto_recharge(
            session,
            organization_of(session, org.actor),
            threshold_cents=1_500,
            amount_cents=10_000,
        )
    with db.read_session(engine) as session:
        view = queries.auto_recharge_settings(session, org.actor)

    assert (view.enabled, view.threshold_cents, view.amount_cents, view.max_per_day) == (
        True,
        1_500,
        10_000,
        3,
    )
    assert view.default_card is not None and view.default_card.id == org.visa.id


def test_auto_recharge_settings_read_off_before_any_is_saved(engine, org):
    with db.read_session(engine) as session:
        view = queries.auto_recharge_settings(session, org.actor)

    assert not view.enabled and view.updated_at is None


def test_the_sandbox_offers_stripes_test_cards_by_name(engine):
    cards = queries.sandbox_test_cards()

    assert queries.uses_sandbox()
    assert {card.name for card in cards} >= {
        "Visa",
        "Declined",
        "Insufficient funds",
        "Expired card",
        "Authentication required",
    }
    assert all(card.gateway_ref.startswith("pm_card_") for card in cards)


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.VIEWER, Role.STAFF])
def test_roles_that_may_not_read_billing_are_refused(engine, role):
    with db.write_session(engine) as session:
        actor = actor_of(make_user(session, role=role))

    with pytest.raises(PermissionDenied):
        queries.payments(actor)
    with db.read_session(engine) as session:
        for read in (
            queries.payment_methods,
            queries.last_payment,
            queries.default_card,
            queries.auto_recharge_settings,
        ):
            with pytest.raises(PermissionDenied):
                read(session, actor)
        with pytest.raises(PermissionDenied):
            queries.payment(session, actor, uuid.uuid4())


@pytest.mark.parametrize("role", [Role.ADMIN, Role.BILLING])
def test_admins_and_billing_members_read_payments(engine, org, role):
    with db.write_session(engine) as session:
        member = make_user(session, role=role, organization=organization_of(session, org.actor))

    assert len(_page(engine, actor_of(member)).rows) == 4


def test_a_pending_payment_reads_as_pending(engine, org):
    with db.write_session(engine) as session:
        payment = session.get(Payment, org.payments[0])
        assert payment is not None
        payment.status = PaymentStatus.PENDING
        payment.updated_at = _day(20) + timedelta(hours=1)

    rows = _page(engine, org.actor, ListQuery(filters={"status": "pending"})).rows

    assert [row["amount_cents"] for row in rows] == [1_000]
