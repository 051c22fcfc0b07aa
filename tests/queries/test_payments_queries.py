"""Billing › Payments and the card reads (Payment Methods' table and the plain list of cards):
filtered, sorted and paged in SQL, scoped to the organization (another organization's payment
or card is "not found", and never listed), and refused to roles that may not read Billing."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from portal_core import db
from portal_core.errors import NotFound, PaymentDeclined, PermissionDenied, ValidationFailed
from portal_core.models.accounts import Role
from portal_core.models.payments import GatewayName, Payment, PaymentMethod, PaymentStatus
from portal_core.payments.gateway import card_label
from portal_core.permissions import Actor
from portal_core.queries import payments as queries
from portal_core.queries.listing import DateRange, ListQuery, Page, export_csv, fetch_page
from portal_core.services.payments import cards, top_ups
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
                return top_ups.add_funds(
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
            top_ups.add_funds(
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
        cards.remove_card(session, org.actor, org.amex.id)
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
    with pytest.raises(PermissionDenied):
        queries.payment_methods_listing(actor, today=NOVEMBER_2026.date())
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
        with pytest.raises(PermissionDenied):
            queries.payment_method(session, actor, uuid.uuid4())


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


# --- Payment Methods' table --------------------------------------------------------------------

NOVEMBER_2026 = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)


class Wallet:
    """An owner's cards: Visa 4242 (the default, expires 12/2034), American Express 0005
    (expires 11/2026: good through November 2026), Mastercard 4444 (expired 10/2026), and a
    removed Visa 0002; added on October 1st to 4th, in that order."""

    def __init__(self, engine: Engine) -> None:
        with db.write_session(engine) as session:
            owner = make_user(session)
            organization = organization_of(session, owner)
            self.visa = make_card(session, organization, created_at=_day(1))
            self.amex = make_card(
                session,
                organization,
                test_card="pm_card_amex",
                exp_month=11,
                exp_year=2026,
                created_at=_day(2),
            )
            self.mastercard = make_card(
                session,
                organization,
                test_card="pm_card_mastercard",
                exp_month=10,
                exp_year=2026,
                created_at=_day(3),
            )
            self.removed = make_card(
                session, organization, test_card="pm_card_chargeDeclined", created_at=_day(4)
            )
        self.actor = actor_of(owner)
        with db.write_session(engine) as session:
            cards.remove_card(session, self.actor, self.removed.id)


@pytest.fixture
def wallet(engine: Engine) -> Wallet:
    return Wallet(engine)


def _cards_page(
    engine: Engine, actor: Actor, query: ListQuery | None = None, *, now: datetime = NOVEMBER_2026
) -> Page:
    with db.read_session(engine) as session:
        listing = queries.payment_methods_listing(actor, today=now.date())
        return fetch_page(session, listing, query or ListQuery())


def _card_labels(engine: Engine, actor: Actor, query: ListQuery | None = None) -> list[str]:
    return [row["card"] for row in _cards_page(engine, actor, query).rows]


def test_the_cards_table_shows_card_brand_last_four_expiry_default_and_status_newest_first(
    engine, wallet
):
    page = _cards_page(engine, wallet.actor)

    assert [
        (row["card"], row["brand"], row["last4"], row["expiry"], row["default"], row["status"])
        for row in page.rows
    ] == [
        ("Mastercard •••• 4444", "Mastercard", "4444", "10/2026", "no", "expired"),
        ("American Express •••• 0005", "American Express", "0005", "11/2026", "no", "active"),
        ("Visa •••• 4242", "Visa", "4242", "12/2034", "yes", "active"),
    ]
    assert page.keys == [wallet.mastercard.id, wallet.amex.id, wallet.visa.id]
    assert [row["created_at"] for row in page.rows] == [_day(3), _day(2), _day(1)]


def test_removed_cards_are_not_in_the_cards_table(engine, wallet):
    page = _cards_page(engine, wallet.actor)

    assert wallet.removed.id not in page.keys and page.total == 3


def test_a_card_expires_after_its_expiry_month_in_the_table(engine, wallet):
    december = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)

    rows = _cards_page(engine, wallet.actor, now=december).rows

    assert [row["status"] for row in rows] == ["expired", "expired", "active"]


@pytest.mark.parametrize(
    ("filters", "labels"),
    [
        ({"name": "american"}, ["American Express •••• 0005"]),
        ({"name": "AMEX"}, ["American Express •••• 0005"]),
        ({"name": "visa"}, ["Visa •••• 4242"]),
        ({"name": "•••• 4444"}, ["Mastercard •••• 4444"]),
        ({"last4": "4444"}, ["Mastercard •••• 4444"]),
        ({"last4": "00"}, ["American Express •••• 0005"]),
        ({"status": "expired"}, ["Mastercard •••• 4444"]),
        ({"status": "active"}, ["American Express •••• 0005", "Visa •••• 4242"]),
        (
            {"created": DateRange(date(2026, 10, 2), date(2026, 10, 3))},
            ["Mastercard •••• 4444", "American Express •••• 0005"],
        ),
        ({"created": DateRange(start=date(2026, 10, 3))}, ["Mastercard •••• 4444"]),
        ({"name": "visa", "status": "expired"}, []),
    ],
)
def test_the_cards_table_filters_by_name_last_four_status_and_date_added(
    engine, wallet, filters, labels
):
    query = ListQuery(filters=filters, time_zone=TORONTO)

    assert _card_labels(engine, wallet.actor, query) == labels


def test_an_unknown_card_status_is_refused_with_the_choices(engine, wallet):
    with pytest.raises(ValidationFailed, match="choose Active or Expired"):
        _cards_page(engine, wallet.actor, ListQuery(filters={"status": "stolen"}))


@pytest.mark.parametrize(
    ("sort", "descending", "labels"),
    [
        (
            "expiry",
            False,
            ["Mastercard •••• 4444", "American Express •••• 0005", "Visa •••• 4242"],
        ),
        (
            "expiry",
            True,
            ["Visa •••• 4242", "American Express •••• 0005", "Mastercard •••• 4444"],
        ),
        (
            "created",
            False,
            ["Visa •••• 4242", "American Express •••• 0005", "Mastercard •••• 4444"],
        ),
    ],
)
def test_the_cards_table_sorts_by_expiry_and_date_added(engine, wallet, sort, descending, labels):
    query = ListQuery(sort=sort, descending=descending)

    assert _card_labels(engine, wallet.actor, query) == labels


def test_the_cards_table_sorts_by_last_update(engine, wallet):
    with db.write_session(engine) as session:
        cards.set_default_card(session, wallet.actor, wallet.amex.id, now=NOVEMBER_2026)

    newest = _card_labels(engine, wallet.actor, ListQuery(sort="updated", descending=True))
    oldest = _card_labels(engine, wallet.actor, ListQuery(sort="updated", descending=False))
    rows = _cards_page(engine, wallet.actor).rows

    # Making Amex the default updated it and the Visa it replaced; the Mastercard was not.
    assert set(newest[:2]) == {"American Express •••• 0005", "Visa •••• 4242"}
    assert newest[2] == oldest[0] == "Mastercard •••• 4444"
    assert [row["default"] for row in rows] == ["no", "yes", "no"]


def test_the_cards_table_pages_in_sql(engine, wallet):
    second = _cards_page(engine, wallet.actor, ListQuery(page=2, page_size=10))

    assert (second.total, second.page_count, second.page) == (3, 1, 1)


def test_the_cards_table_names_every_stripe_brand_as_everywhere_else(engine):
    with db.write_session(engine) as session:
        owner = make_user(session)
        organization = organization_of(session, owner)
        for index, brand in enumerate(queries.STRIPE_CARD_BRANDS):
            session.add(
                PaymentMethod(
                    organization_id=organization.id,
                    gateway=GatewayName.STRIPE,
                    gateway_ref=f"pm_{brand}",
                    brand=brand,
                    last4=f"{index:04d}",
                    exp_month=12,
                    exp_year=2034,
                )
            )
    query = ListQuery(page_size=50)

    rows = _cards_page(engine, actor_of(owner), query).rows

    assert sorted(row["card"] for row in rows) == sorted(
        card_label(brand, f"{index:04d}") for index, brand in enumerate(queries.STRIPE_CARD_BRANDS)
    )


def test_the_cards_csv_has_every_column_in_words(engine, wallet):
    with db.read_session(engine) as session:
        listing = queries.payment_methods_listing(wallet.actor, today=NOVEMBER_2026.date())
        exported = export_csv(session, listing, ListQuery(filters={"status": "expired"}))

    lines = exported.decode("utf-8-sig").splitlines()
    assert lines[0] == '"Card","Brand","Last four","Expires","Default","Status","Added"'
    assert lines[1].startswith(
        '"Mastercard •••• 4444","Mastercard","4444","10/2026","No","Expired","2026-10-03'
    )
    assert len(lines) == 2


def test_the_cards_table_never_lists_another_organizations_cards(engine, wallet):
    other = Wallet(engine)

    mine = set(_cards_page(engine, wallet.actor).keys)
    theirs = set(_cards_page(engine, other.actor).keys)

    assert mine == {wallet.visa.id, wallet.amex.id, wallet.mastercard.id}
    assert theirs == {other.visa.id, other.amex.id, other.mastercard.id}


@pytest.mark.parametrize("role", [Role.ADMIN, Role.BILLING])
def test_admins_and_billing_members_read_the_cards_table(engine, wallet, role):
    with db.write_session(engine) as session:
        member = make_user(session, role=role, organization=organization_of(session, wallet.actor))

    assert _card_labels(engine, actor_of(member)) == _card_labels(engine, wallet.actor)


def test_one_card_reads_with_its_expiry_and_flags(engine, wallet):
    with db.read_session(engine) as session:
        card = queries.payment_method(session, wallet.actor, wallet.mastercard.id)

    assert (card.label, card.expiry, card.is_default, card.expired) == (
        "Mastercard •••• 4444",
        "10/2026",
        False,
        True,
    )


def test_a_removed_card_or_another_organizations_is_not_found(engine, wallet):
    other = Wallet(engine)

    with db.read_session(engine) as session:
        for card_id in (wallet.removed.id, other.visa.id, uuid.uuid4()):
            with pytest.raises(NotFound, match="card was not found"):
                queries.payment_method(session, wallet.actor, card_id)
