"""Ownership: one code sent to the number proves it (limited in time, tries and sends);
registering a held number opens a dispute that leaves the claimant's profile pending; the
dispute ends by a code from either side, by staff with a reason, or by a withdrawal, and the
loser's profile and carrier score pay for it. Every step is in the dispute's history."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from portal_core import db
from portal_core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal_core.models.accounts import Organization, Role
from portal_core.models.notices import Notice, NoticeKind
from portal_core.models.products import (
    DecidedBy,
    DisputeEvent,
    DisputeStatus,
    OwnershipDispute,
    ProfileStatus,
    VerificationCode,
    WhoisProfile,
)
from portal_core.services import ownership, whois
from portal_core.services.ownership import CodeRefused
from portal_core.settings import get_settings
from tests.factories import actor_of, make_staff
from tests.services.products_support import Member, look_up, member, register
from tests.services.support import count, fetch, outbox

NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)
NUMBER = "+14169671111"


def _send(engine, who: Member, profile_id, *, now=NOW):
    with db.write_session(engine) as session:
        return ownership.send_code(session, who.actor, profile_id, now=now)


def _confirm(engine, who: Member, profile_id, code: str, *, now=NOW):
    with db.write_session(engine) as session:
        return ownership.confirm_code(session, who.actor, profile_id, code, now=now)


def _code_sent(outbox_dir, number: str = NUMBER) -> str:
    messages = [m for m in outbox(outbox_dir) if m["X-Phone-Number"] == number]
    assert messages, "no code was sent to the number"
    found = re.search(r"is (\d{6})\.", messages[-1].get_content())
    assert found is not None
    return found.group(1)


def _profile(engine, profile_id) -> WhoisProfile | None:
    with db.read_session(engine) as session:
        return session.get(WhoisProfile, profile_id)


def _dispute(engine) -> OwnershipDispute:
    with db.read_session(engine) as session:
        return session.exec(select(OwnershipDispute)).one()


def _history(engine, dispute_id) -> list[str]:
    with db.read_session(engine) as session:
        steps = session.exec(
            select(DisputeEvent)
            .where(col(DisputeEvent.dispute_id) == dispute_id)
            .order_by(col(DisputeEvent.position))
        )
        return [step.kind for step in steps]


# --- Verification --------------------------------------------------------------------------


def test_a_code_sent_to_the_number_verifies_it_and_raises_its_score(engine, outbox_dir) -> None:
    owner = member(engine)
    profile = register(engine, owner, NUMBER, now=NOW)
    before = profile.score_millis
    sent = _send(engine, owner, profile.id)
    assert sent.expires_at == NOW + ownership.CODE_LIFETIME
    code = _code_sent(outbox_dir)
    with db.read_session(engine) as session:
        stored = session.get_one(VerificationCode, profile.id)
    assert code not in stored.code_digest and len(stored.code_digest) == 64
    verified = _confirm(
        engine, owner, profile.id, f" {code[:3]} {code[3:]} ", now=NOW + timedelta(minutes=2)
    )
    assert verified.number == NUMBER and not verified.won_dispute
    after = fetch(engine, WhoisProfile, profile.id)
    assert after.verified_at is not None
    assert before is not None and after.score_millis is not None
    # +1.000 for a verified owner instead of +0.400, and the carrier score's share.
    assert after.score_millis > before + 600
    assert count(engine, VerificationCode) == 0


def test_the_development_demo_verifies_a_number_without_a_code(engine, monkeypatch) -> None:
    owner = member(engine)
    profile = register(engine, owner, NUMBER, now=NOW)
    with pytest.raises(Conflict, match="development demo"), db.write_session(engine) as session:
        ownership.verify_demo_number(session, owner.actor, profile.id, now=NOW)
    assert fetch(engine, WhoisProfile, profile.id).verified_at is None

    monkeypatch.setenv("PORTAL_ENV", "development")
    get_settings.cache_clear()
    with db.write_session(engine) as session:
        verified = ownership.verify_demo_number(session, owner.actor, profile.id, now=NOW)

    assert verified.number == NUMBER and not verified.won_dispute
    after = fetch(engine, WhoisProfile, profile.id)
    assert after.verified_at == NOW
    assert profile.score_millis is not None and after.score_millis is not None
    assert after.score_millis > profile.score_millis + 600  # as a code typed back raises it


def test_a_wrong_code_costs_a_try_and_the_last_try_ends_the_code(engine, outbox_dir) -> None:
    owner = member(engine)
    profile = register(engine, owner, NUMBER)
    _send(engine, owner, profile.id)
    code = _code_sent(outbox_dir)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        with pytest.raises(CodeRefused) as refused:
            _confirm(engine, owner, profile.id, wrong)
        assert f"{left} {'try' if left == 1 else 'tries'} left" in refused.value.errors["code"]
    with pytest.raises(CodeRefused) as last:
        _confirm(engine, owner, profile.id, wrong)
    assert "last try" in last.value.errors["code"]
    with pytest.raises(ValidationFailed) as spent:
        _confirm(engine, owner, profile.id, code)
    assert "Too many wrong tries" in spent.value.errors["code"]
    assert fetch(engine, WhoisProfile, profile.id).verified_at is None


def test_a_code_expires_and_sends_are_limited(engine, outbox_dir) -> None:
    owner = member(engine)
    profile = register(engine, owner, NUMBER)
    _send(engine, owner, profile.id)
    code = _code_sent(outbox_dir)
    with pytest.raises(ValidationFailed) as expired:
        _confirm(engine, owner, profile.id, code, now=NOW + ownership.CODE_LIFETIME)
    assert "expired" in expired.value.errors["code"]
    with pytest.raises(Conflict) as too_soon:
        _send(engine, owner, profile.id, now=NOW + timedelta(seconds=30))
    assert "wait" in too_soon.value.message
    for minute in range(1, ownership.SENDS_PER_DAY):
        _send(engine, owner, profile.id, now=NOW + timedelta(minutes=minute))
    with pytest.raises(Conflict) as too_many:
        _send(engine, owner, profile.id, now=NOW + timedelta(minutes=30))
    assert "try again tomorrow" in too_many.value.message
    _send(engine, owner, profile.id, now=NOW + timedelta(days=1))


def test_codes_are_refused_without_one_and_in_bad_shapes(engine) -> None:
    owner = member(engine)
    profile = register(engine, owner, NUMBER)
    with pytest.raises(ValidationFailed) as none_sent:
        _confirm(engine, owner, profile.id, "123456")
    assert "send a code" in none_sent.value.errors["code"]
    with pytest.raises(ValidationFailed) as shape:
        _confirm(engine, owner, profile.id, "12ab")
    assert "six digits" in shape.value.errors["code"]


def test_another_organizations_profile_cannot_be_sent_a_code(engine) -> None:
    owner = member(engine)
    profile = register(engine, owner, NUMBER)
    stranger = member(engine)
    for attempt in (
        lambda: _send(engine, stranger, profile.id),
        lambda: _confirm(engine, stranger, profile.id, "123456"),
        lambda: _send(engine, stranger, uuid.uuid4()),
    ):
        with pytest.raises(NotFound):
            attempt()
    viewer = member(engine, role=Role.VIEWER, organization_id=owner.organization_id)
    with pytest.raises(PermissionDenied):
        _send(engine, viewer, profile.id)


# --- Disputes --------------------------------------------------------------------------------


def _disputed(engine) -> tuple[Member, WhoisProfile, Member, WhoisProfile]:
    holder = member(engine, name="Holder Org")
    held = register(engine, holder, NUMBER, now=NOW, caller_name="Holder Name")
    claimant = member(engine, name="Claimant Org")
    with db.write_session(engine) as session:
        from tests.services.products_support import form

        outcome = whois.save_registration(
            session,
            claimant.actor,
            whois.clean(form(NUMBER, "Claimant Name"), default_region="CA"),
            now=NOW,
        )
    assert outcome.disputed
    return holder, held, claimant, outcome.profile


def test_registering_a_held_number_opens_a_dispute_and_the_claim_waits(engine, outbox_dir) -> None:
    holder, held, claimant, claim = _disputed(engine)
    assert claim.status == ProfileStatus.PENDING and claim.score_millis is None
    dispute = _dispute(engine)
    assert (dispute.holder_profile_id, dispute.claimant_profile_id) == (held.id, claim.id)
    assert dispute.status == DisputeStatus.OPEN
    assert _history(engine, dispute.id) == ["opened"]
    with db.read_session(engine) as session:
        notices = session.exec(
            select(Notice).where(col(Notice.kind) == NoticeKind.OWNERSHIP_DISPUTE_OPENED)
        ).all()
    assert {notice.organization_id for notice in notices} == {
        holder.organization_id,
        claimant.organization_id,
    }
    subjects = [m["Subject"] for m in outbox(outbox_dir)]
    assert any("held by another organization" in s for s in subjects)
    assert any("Another organization claims" in s for s in subjects)
    # Hidden from others: a lookup still answers from the holder's profile.
    result = look_up(engine, member(engine), NUMBER)
    assert result.caller_name == "Holder Name"
    # Neither side learns the other's name.
    bodies = "\n".join(str(n.body) + n.title for n in notices)
    assert "Holder Org" not in bodies and "Claimant Org" not in bodies


def test_the_claimant_proves_the_number_and_wins_it(engine, outbox_dir) -> None:
    holder, held, claimant, claim = _disputed(engine)
    _send(engine, claimant, claim.id)
    verified = _confirm(engine, claimant, claim.id, _code_sent(outbox_dir))
    assert verified.won_dispute
    won = fetch(engine, WhoisProfile, claim.id)
    assert won.status == ProfileStatus.ACTIVE and won.verified_at is not None
    assert won.score_millis is not None
    assert _profile(engine, held.id) is None
    dispute = _dispute(engine)
    assert (dispute.status, dispute.decided_by, dispute.winner_organization_id) == (
        DisputeStatus.DECIDED,
        DecidedBy.CODE,
        claimant.organization_id,
    )
    assert _history(engine, dispute.id) == ["opened", "code_sent", "decided"]
    # The holder registered a number it did not own: it loses carrier score.
    assert (
        fetch(engine, Organization, holder.organization_id).carrier_score_millis is None
    )  # no number left
    register(engine, holder, "+12125550123", now=NOW)
    assert fetch(engine, Organization, holder.organization_id).carrier_score_millis == 2500 - 500
    assert look_up(engine, member(engine), NUMBER).caller_name == "Claimant Name"


def test_the_holder_proves_the_number_and_keeps_it(engine, outbox_dir) -> None:
    holder, held, claimant, claim = _disputed(engine)
    register(engine, claimant, "+12125550123", now=NOW)
    _send(engine, holder, held.id)
    assert _confirm(engine, holder, held.id, _code_sent(outbox_dir)).won_dispute
    assert _profile(engine, claim.id) is None
    kept = fetch(engine, WhoisProfile, held.id)
    assert kept.status == ProfileStatus.ACTIVE and kept.verified_at is not None
    assert _dispute(engine).winner_organization_id == holder.organization_id
    assert fetch(engine, Organization, claimant.organization_id).carrier_score_millis == 2500 - 500


def test_staff_decide_with_a_reason(engine) -> None:
    holder, held, claimant, claim = _disputed(engine)
    with db.write_session(engine) as session:
        staff = actor_of(make_staff(session))
    dispute = _dispute(engine)
    with pytest.raises(ValidationFailed):
        with db.write_session(engine) as session:
            ownership.decide(session, staff, dispute.id, winner="claimant", reason="   ")
    with pytest.raises(PermissionDenied):
        with db.write_session(engine) as session:
            ownership.decide(session, holder.actor, dispute.id, winner="holder", reason="mine")
    with db.write_session(engine) as session:
        ownership.decide(
            session,
            staff,
            dispute.id,
            winner="claimant",
            reason="Carrier's letter of authorization",
            now=NOW,
        )
    decided = _dispute(engine)
    assert (decided.decided_by, decided.reason) == (
        DecidedBy.STAFF,
        "Carrier's letter of authorization",
    )
    assert fetch(engine, WhoisProfile, claim.id).status == ProfileStatus.ACTIVE
    assert fetch(engine, WhoisProfile, claim.id).verified_at is None  # staff decide, no code
    assert _profile(engine, held.id) is None
    with pytest.raises(Conflict):
        with db.write_session(engine) as session:
            ownership.decide(session, staff, dispute.id, winner="holder", reason="again")


def test_a_claimant_deleting_its_pending_profile_withdraws(engine) -> None:
    holder, held, claimant, claim = _disputed(engine)
    with db.write_session(engine) as session:
        whois.delete(session, claimant.actor, claim.id, now=NOW)
    dispute = _dispute(engine)
    assert (dispute.status, dispute.decided_by) == (DisputeStatus.WITHDRAWN, DecidedBy.WITHDRAWAL)
    assert fetch(engine, WhoisProfile, held.id).status == ProfileStatus.ACTIVE
    assert _history(engine, dispute.id) == ["opened", "withdrawn"]


def test_a_holder_deleting_its_profile_leaves_the_number_to_the_claimant(engine) -> None:
    holder, held, claimant, claim = _disputed(engine)
    with db.write_session(engine) as session:
        whois.delete(session, holder.actor, held.id, now=NOW)
    assert fetch(engine, WhoisProfile, claim.id).status == ProfileStatus.ACTIVE
    dispute = _dispute(engine)
    assert (dispute.winner_organization_id, dispute.decided_by) == (
        claimant.organization_id,
        DecidedBy.WITHDRAWAL,
    )


def test_a_second_claim_goes_on_against_the_new_holder(engine, outbox_dir) -> None:
    holder, held, claimant, claim = _disputed(engine)
    third = member(engine)
    with db.write_session(engine) as session:
        from tests.services.products_support import form

        second = whois.save_registration(
            session, third.actor, whois.clean(form(NUMBER, "Third"), default_region="CA"), now=NOW
        ).profile
    _send(engine, claimant, claim.id)
    _confirm(engine, claimant, claim.id, _code_sent(outbox_dir))
    with db.read_session(engine) as session:
        open_one = session.exec(
            select(OwnershipDispute).where(col(OwnershipDispute.status) == DisputeStatus.OPEN)
        ).one()
    assert open_one.claimant_profile_id == second.id
    assert open_one.holder_profile_id == claim.id
    assert "holder_changed" in _history(engine, open_one.id)


def test_a_dispute_is_not_found_by_a_third_organization(engine) -> None:
    from portal_core.queries import disputes

    holder, held, claimant, claim = _disputed(engine)
    dispute = _dispute(engine)
    stranger = member(engine)
    with db.read_session(engine) as session:
        assert disputes.dispute(session, holder.actor, dispute.id).side == "holder"
        assert disputes.dispute(session, claimant.actor, dispute.id).side == "claimant"
        for asking in (
            lambda: disputes.dispute(session, stranger.actor, dispute.id),
            lambda: disputes.dispute(session, holder.actor, uuid.uuid4()),
            lambda: disputes.code_waiting(session, stranger.actor, held.id, now=NOW),
        ):
            with pytest.raises(NotFound):
                asking()
        assert not disputes.has_disputes(session, stranger.actor)
