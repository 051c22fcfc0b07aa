"""Smart CNAM lookups: parsing in every common form, refusals that cost nothing, Source/Risk's
registered destination, the allowance then the price, refusals logged as refused, replays
charged once, each lookup type's answer, and a private profile's details kept from every
other organization (result, explanation, log)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import event
from sqlmodel import col, select

from portal_core import db
from portal_core.errors import LookupRefused, PermissionDenied, Throttled, ValidationFailed
from portal_core.models.accounts import Role
from portal_core.models.billing import BillingAccount, LookupType, UsageRecord
from portal_core.models.products import EventStatus, ProductEvent, ProductEventDaily
from portal_core.models.rate_limits import RateLimitWindow
from portal_core.queries import logs
from portal_core.queries.listing import ListQuery, export_csv
from portal_core.rules.numbers import NotAPhoneNumber
from portal_core.services import lookups, platform, rate_limits
from tests.factories import actor_of, make_staff
from tests.services.products_support import COMPLETE, look_up, member, register
from tests.services.support import count, fetch

NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)
STARTER_PRICE = 3_000


def _events(engine) -> list[ProductEvent]:
    with db.read_session(engine) as session:
        return list(session.exec(select(ProductEvent).order_by(col(ProductEvent.created_at))))


def test_a_lookup_is_priced_by_the_meter_scored_and_logged(engine) -> None:
    caller = member(engine)
    result = look_up(engine, caller, "416.967.1111", now=NOW)
    assert result.source.e164 == "+14169671111"
    assert result.included and result.cost_micros == 0
    assert result.caller_name == "Toronto ON"  # nobody registered it: where it is from
    assert result.text == f"{result.score.text}Toronto ON"
    assert result.score.millis == 2500  # a valid number nobody knows anything about
    (event,) = _events(engine)
    assert (event.action, event.lookup_type, event.number, event.status) == (
        "lookup",
        "caller_id",
        "+14169671111",
        EventStatus.OK,
    )
    assert event.score_millis == 2500 and event.latency_ms is not None
    assert count(engine, UsageRecord) == 1


def test_past_the_allowance_a_lookup_costs_the_plans_price(engine) -> None:
    caller = member(engine, contract_included_requests=1)
    first = look_up(engine, caller, "+14169671111", now=NOW)
    second = look_up(engine, caller, "+14169671111", now=NOW)
    assert (first.included, first.cost_micros) == (True, 0)
    assert (second.included, second.cost_micros) == (False, STARTER_PRICE)
    assert [event.cost_micros for event in _events(engine)] == [0, STARTER_PRICE]
    account = fetch(engine, BillingAccount, caller.organization_id)
    assert account.unbilled_micros == STARTER_PRICE


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("hello", "not a phone number"),
        ("911", "emergency"),
        ("36363", "short code"),
        ("", "Enter"),
    ],
)
def test_input_that_is_no_callers_number_is_refused_and_costs_nothing(
    engine, typed, reason
) -> None:
    caller = member(engine)
    with pytest.raises(NotAPhoneNumber) as refused:
        look_up(engine, caller, typed, now=NOW)
    assert reason.lower() in refused.value.reason.lower()
    assert refused.value.field == "source"
    assert count(engine, UsageRecord) == 0
    assert count(engine, ProductEvent) == 0


def test_an_unallocated_number_is_looked_up_billed_and_scores_half_a_point_at_most(engine) -> None:
    caller = member(engine, contract_included_requests=0)
    result = look_up(engine, caller, "+1 555 123 4567", now=NOW)
    assert not result.source.valid
    assert result.score.millis <= 500
    assert result.cost_micros == STARTER_PRICE
    assert any("spoofed" in detail.value for detail in result.details)


def test_source_risk_needs_one_of_the_organizations_registered_numbers(engine) -> None:
    caller = member(engine)
    with pytest.raises(ValidationFailed) as missing:
        look_up(engine, caller, "+14169671111", lookup_type=LookupType.SOURCE_RISK, now=NOW)
    assert "destination callee" in missing.value.errors["destination"]
    with pytest.raises(ValidationFailed) as unregistered:
        look_up(
            engine,
            caller,
            "+14169671111",
            lookup_type=LookupType.SOURCE_RISK,
            destination="+12125550123",
            now=NOW,
        )
    assert "not one of your registered numbers" in unregistered.value.errors["destination"]
    assert count(engine, UsageRecord) == 0
    register(engine, caller, "+12125550123")
    result = look_up(
        engine,
        caller,
        "+14169671111",
        lookup_type=LookupType.SOURCE_RISK,
        destination="212 555 0123",
        now=NOW,
    )
    assert result.destination is not None and result.destination.e164 == "+12125550123"
    assert result.text == result.score.text  # Source/Risk answers the score alone
    assert count(engine, UsageRecord) == 1


def test_a_lookup_the_funds_cannot_cover_is_refused_charged_nothing_and_logged(engine) -> None:
    caller = member(engine, funds_cents=0, contract_included_requests=0)
    with pytest.raises(LookupRefused) as refused:
        look_up(engine, caller, "+14169671111", now=NOW)
    assert refused.value.status == 402
    assert "Add funds" in refused.value.message
    assert count(engine, UsageRecord) == 0
    (event,) = _events(engine)
    assert event.status == EventStatus.REFUSED
    assert event.cost_micros == 0
    assert event.result is not None and "Add funds" in event.result
    assert fetch(engine, BillingAccount, caller.organization_id).unbilled_micros == 0
    with db.read_session(engine) as session:
        daily = session.exec(select(ProductEventDaily)).one()
    assert (daily.status, daily.events) == ("refused", 1)


def test_a_capped_plan_past_its_allowance_refuses_and_logs_the_refusal(engine) -> None:
    caller = member(engine, plan="free", funds_cents=0, contract_included_requests=1)
    look_up(engine, caller, "+14169671111", now=NOW)
    with pytest.raises(LookupRefused) as refused:
        look_up(engine, caller, "+14169671111", now=NOW)
    assert "Upgrade" in refused.value.message
    assert [event.status for event in _events(engine)] == [EventStatus.OK, EventStatus.REFUSED]
    assert count(engine, UsageRecord) == 1


def test_a_replayed_request_key_is_charged_and_logged_once(engine) -> None:
    caller = member(engine, contract_included_requests=0)
    first = look_up(engine, caller, "+14169671111", now=NOW, request_key="press-1")
    again = look_up(engine, caller, "+14169671111", now=NOW, request_key="press-1")
    assert not first.replayed and again.replayed
    assert again.event_id is None
    assert count(engine, UsageRecord) == 1
    assert len(_events(engine)) == 1
    assert fetch(engine, BillingAccount, caller.organization_id).unbilled_micros == STARTER_PRICE


def test_each_lookup_type_answers_from_a_public_profile(engine) -> None:
    owner = member(engine)
    register(engine, owner, "+14169671111", caller_name="Café Ltée", **COMPLETE)
    caller = member(engine)
    answers = {
        kind: {
            d.label: d.value
            for d in look_up(engine, caller, "+14169671111", lookup_type=kind).details
        }
        for kind in LookupType
        if kind != LookupType.SOURCE_RISK
    }
    assert answers[LookupType.CALLER_ID]["Caller name"] == "Café Ltée"
    assert answers[LookupType.CALLER_ID]["Business"] == "Acme Widgets Ltd."
    assert answers[LookupType.REGIONAL]["Country"] == "Canada"
    assert answers[LookupType.REGIONAL]["Time zone"] == "America/Toronto"
    assert answers[LookupType.TELCO_CARRIER]["Company"] == "Acme Widgets Ltd."
    assert answers[LookupType.ONLINE_PROFILES]["Website"] == "https://acme.example.com"
    assert answers[LookupType.ONLINE_PROFILES]["E-mail"] == "calls@acme.example.com"
    cnam = look_up(engine, caller, "+14169671111")
    assert cnam.text == f"{cnam.score.text}Cafe Ltee"
    assert cnam.registered and not cnam.withheld and not cnam.own


PRIVATE_DETAILS = (
    "Secret Co",
    "Hidden Holdings",
    "99 Quiet Lane",
    "M4M 4M4",
    "hidden.example",
    "quiet@",
)


def test_a_private_profiles_details_reach_no_other_organization(engine) -> None:
    owner = member(engine)
    register(
        engine,
        owner,
        "+14169671111",
        caller_name="Secret Co",
        private=True,
        business_name="Hidden Holdings",
        address_line="99 Quiet Lane",
        city="Toronto",
        postal_code="M4M 4M4",
        website="https://hidden.example.com",
        email="quiet@hidden.example.com",
        social_links="https://social.example.com/hidden.example",
    )
    caller = member(engine)
    register(engine, caller, "+12125550123")
    seen: list[str] = []
    for kind in LookupType:
        result = look_up(
            engine, caller, "+14169671111", lookup_type=kind, destination="+12125550123"
        )
        assert result.withheld and result.registered
        seen += [result.text, str(result.caller_name)]
        seen += [f"{d.label} {d.value}" for d in result.details]
        seen += [f"{f.label} {f.weight}" for f in result.score.factors]
    seen += [
        str(event.result)
        for event in _events(engine)
        if event.organization_id == caller.organization_id
    ]
    shown = "\n".join(seen)
    for detail in PRIVATE_DETAILS:
        assert detail not in shown
    # Nor the caller's Logs CSV.
    with db.read_session(engine) as session:
        exported = export_csv(session, logs.events(caller.actor), ListQuery()).decode("utf-8-sig")
    assert "+1 416-967-1111" in exported
    for detail in PRIVATE_DETAILS:
        assert detail not in exported
    # Its own organization sees it all.
    own = look_up(engine, owner, "+14169671111")
    assert own.caller_name == "Secret Co" and own.own and not own.withheld


def test_roles_without_lookups_are_refused(engine) -> None:
    owner = member(engine)
    viewer = member(engine, role=Role.VIEWER, organization_id=owner.organization_id)
    with pytest.raises(PermissionDenied):
        look_up(engine, viewer, "+14169671111")
    assert count(engine, UsageRecord) == 0


def test_a_lookup_counts_in_the_day_of_the_billing_time_zone_staff_set(engine) -> None:
    """Its event and the daily roll-up's row fall on the billing time zone's day, whether
    staff left the shipped one (America/Toronto) or set another; a refused one's too."""
    caller = member(engine)
    broke = member(engine, funds_cents=0, contract_included_requests=0)
    look_up(engine, caller, "+14169671111", now=datetime(2026, 11, 17, 3, 0, tzinfo=UTC))
    with db.write_session(engine) as session:
        staff = actor_of(make_staff(session))
        platform.update_setting(session, staff, platform.BILLING_TIME_ZONE, "Pacific/Auckland")
    auckland_next_day = datetime(2026, 11, 17, 12, 0, tzinfo=UTC)  # 01:00 on the 18th there
    look_up(engine, caller, "+14169671111", now=auckland_next_day)
    with pytest.raises(LookupRefused):
        look_up(engine, broke, "+14169671111", now=auckland_next_day)
    with db.read_session(engine) as session:
        days = {
            (row.organization_id, row.day, row.status): row.events
            for row in session.exec(select(ProductEventDaily))
        }
    assert days == {
        (caller.organization_id, date(2026, 11, 16), "ok"): 1,  # 22:00 on the 16th in Toronto
        (caller.organization_id, date(2026, 11, 18), "ok"): 1,
        (broke.organization_id, date(2026, 11, 18), "refused"): 1,
    }


@pytest.mark.parametrize("registered", [True, False], ids=["registered", "nobodys"])
def test_a_lookup_reads_everything_before_its_first_write(engine, registered) -> None:
    """The meter's UPDATE locks the organization's billing account until the commit: reads
    after it would keep the organization's other lookups waiting for them too."""
    number = "+14169671111"
    if registered:
        register(engine, member(engine), number, caller_name="Café Ltée", **COMPLETE)
    caller = member(engine, contract_included_requests=0)
    statements: list[str] = []

    def seen(_conn, _cursor, statement, _parameters, _context, _executemany) -> None:
        statements.append(statement.lstrip().split(None, 1)[0].upper())

    event.listen(engine, "before_cursor_execute", seen)
    try:
        look_up(engine, caller, number, now=NOW)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    work = [verb for verb in statements if verb in {"SELECT", "WITH", "INSERT", "UPDATE"}]
    writes = [i for i, verb in enumerate(work) if verb in {"INSERT", "UPDATE"}]
    # The charge, its usage and day's usage, the event and its day's count, back to back;
    # what reacts to the charge (the low-funds watch, auto-recharge) reads after them.
    assert work[writes[0] : writes[-1] + 1] == ["UPDATE", "INSERT", "INSERT", "INSERT", "INSERT"]
    assert work[: writes[0]].count("SELECT") >= 4, work  # context, owner, reports, the price


def test_what_admits_a_lookup_runs_after_its_reads_and_can_stop_it_before_any_charge(
    engine,
) -> None:
    """The API counts a lookup against its rate limit in the lookup's own transaction: after
    the reads, before the charge; a refusal it raises keeps the count and charges nothing."""
    caller = member(engine, contract_included_requests=0)
    statements: list[str] = []
    seen_when_admitted: list[list[str]] = []

    def seen(_conn, _cursor, statement, _parameters, _context, _executemany) -> None:
        statements.append(statement.lstrip().split(None, 1)[0].upper())

    def admit(connection) -> None:
        seen_when_admitted.append(list(statements))
        rate_limits.count_in(
            connection, rate_limits.LOOKUPS, caller.organization_id, address="192.0.2.1", now=NOW
        )
        refusal = Throttled("Past the limit.", retry_after_seconds=1)
        refusal.keeps_writes = True
        raise refusal

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with pytest.raises(Throttled):
            lookups.look_up(
                engine,
                caller.actor,
                source="+14169671111",
                lookup_type=LookupType.CALLER_ID,
                request_key="admitted-1",
                now=NOW,
                admit=admit,
            )
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    (before,) = seen_when_admitted
    assert before.count("SELECT") >= 3 and not {"INSERT", "UPDATE"} & set(before)
    assert count(engine, UsageRecord) == 0 and count(engine, ProductEvent) == 0
    assert fetch(engine, BillingAccount, caller.organization_id).unbilled_micros == 0
    with db.read_session(engine) as session:
        (window,) = session.exec(select(RateLimitWindow)).all()
    assert window.count == 1  # the refusal's count stands
