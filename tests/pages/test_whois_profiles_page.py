"""Partner › Whois Profiles (AppTest): registering a number through the form's three tabs,
messages that name their tab and field, the table and a profile's detail (completeness, what
is missing, score, why), editing, deleting with a confirmation, the carrier score, another
organization's profile not found, and who may open and write."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from portal_core import db
from portal_core.models.accounts import Role, User
from portal_core.models.products import OwnershipDispute, WhoisProfile
from portal_core.services import whois
from portal_core.services.whois import ProfileForm
from tests.factories import actor_of, make_staff, make_user, organization_of
from tests.pages.conftest import NOT_YOUR_ROLE, Portal, make_member, plain, refused

PAGE = "pages/whois_profiles.py"
NEW = "partner.whois_profiles.form.new"


def register(portal: Portal, user: User, number: str, **fields: object) -> WhoisProfile:
    with db.write_session(portal.engine) as session:
        return whois.register(
            session,
            actor_of(user),
            ProfileForm(number=number, line_type="mobile", **fields),  # type: ignore[arg-type]
        )


def open_form(app: AppTest) -> AppTest:
    return app.button(key="partner.whois_profiles.add").click().run()


def save(app: AppTest, prefix: str = NEW) -> AppTest:
    [button] = [widget for widget in app.button if widget.form_id == f"{prefix}.form"]
    button.click()
    return app.run()


def listed(app: AppTest) -> pd.DataFrame:
    """The table of registered numbers (the explanation draws a table of factors too)."""
    [frame] = [frame.value for frame in app.dataframe if "number" in frame.value.columns]
    return frame


def profiles(portal: Portal) -> list[WhoisProfile]:
    with db.read_session(portal.engine) as session:
        return list(session.exec(select(WhoisProfile)))


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.DEVELOPER], ids=str)
def test_a_number_is_registered_through_the_three_tabs(portal: Portal, role: Role) -> None:
    user = make_member(portal, role)
    app = open_form(portal.open(PAGE, as_user=user))
    assert not app.exception, app.exception
    assert [tab.label for tab in app.tabs][:3] == ["General", "Location", "Additional"]
    app.text_input(key=f"{NEW}.number").input("(416) 967-1111")
    app.text_input(key=f"{NEW}.caller_name").input("Acme Support")
    app.selectbox(key=f"{NEW}.line_type").set_value("fixed")
    app.text_input(key=f"{NEW}.city").input("Toronto")
    app.selectbox(key=f"{NEW}.country").set_value("CA")
    app.text_input(key=f"{NEW}.website").input("acme.example.com")
    app.toggle(key=f"{NEW}.private").set_value(True)
    app = save(app)

    assert not app.exception, app.exception
    [saved] = profiles(portal)
    assert (saved.number, saved.caller_name, saved.private, saved.website) == (
        "+14169671111",
        "Acme Support",
        True,
        "https://acme.example.com",
    )
    shown = plain(app)
    assert "+1 416-967-1111 is registered." in shown
    assert "+1 416-967-1111 · Acme Support" in [str(h.value) for h in app.subheader]
    assert listed(app)[["number", "caller_name", "private"]].values.tolist() == [
        ["+1 416-967-1111", "Acme Support", "Yes"]
    ]
    metrics = {str(metric.label): str(metric.value) for metric in app.metric}
    assert metrics["Complete"] == "25%"  # 3 of the 12 optional fields
    assert metrics["Ownership"] == "Not verified"
    assert "Missing: General › Business name" in shown
    assert "Why" in shown


def test_the_forms_messages_name_their_tab_and_field_and_nothing_is_saved(portal: Portal) -> None:
    app = open_form(portal.open(PAGE, as_user=make_member(portal)))
    app.text_input(key=f"{NEW}.number").input("911")
    app.text_input(key=f"{NEW}.website").input("not a site")
    app.text_input(key=f"{NEW}.monthly_call_volume").input("lots")
    app = save(app)
    assert not app.exception, app.exception
    shown = plain(app)
    for message in (
        "General › Phone number:",
        "General › Caller name: required.",
        "General › Line type: required.",
        "Additional › Website: enter a web address",
        "Additional › Monthly call volume: a whole number of calls",
    ):
        assert message in shown
    assert profiles(portal) == []


def test_a_profile_is_edited_and_its_completeness_follows(portal: Portal) -> None:
    user = make_member(portal)
    profile = register(portal, user, "+14169671111", caller_name="Old Name")
    app = portal.open(PAGE, as_user=user, query_params={"profile": profile.id})
    assert "0%" in [str(metric.value) for metric in app.metric]
    app = app.button(key="partner.whois_profiles.edit").click().run()
    prefix = f"partner.whois_profiles.form.{profile.id}"
    assert app.text_input(key=f"{prefix}.number").disabled
    app.text_input(key=f"{prefix}.caller_name").input("New Name")
    app.text_input(key=f"{prefix}.business_name").input("Acme Widgets Ltd.")
    app = save(app, prefix)
    assert not app.exception, app.exception
    [saved] = profiles(portal)
    assert (saved.caller_name, saved.business_name) == ("New Name", "Acme Widgets Ltd.")
    assert "+1 416-967-1111 is saved." in plain(app)
    assert {str(metric.label): str(metric.value) for metric in app.metric}["Complete"] == "8%"


def test_a_profile_is_deleted_after_a_confirmation(portal: Portal) -> None:
    user = make_member(portal)
    profile = register(portal, user, "+14169671111", caller_name="Acme")
    app = portal.open(PAGE, as_user=user, query_params={"profile": profile.id})
    app = app.button(key="partner.whois_profiles.delete_button").click().run()
    assert "This can't be undone." in plain(app)
    app = app.button(key="partner.whois_profiles.delete.cancel").click().run()
    assert len(profiles(portal)) == 1
    app = app.button(key="partner.whois_profiles.delete_button").click().run()
    app = app.button(key="partner.whois_profiles.delete.confirm").click().run()
    assert not app.exception, app.exception
    assert profiles(portal) == []
    assert [str(toast.value) for toast in app.toast] == [
        "+1 416-967-1111 is deleted from your Whois Profiles."
    ]
    assert "No registered numbers yet" in plain(app)


def test_the_carrier_score_is_shown_with_what_would_raise_it(portal: Portal) -> None:
    user = make_member(portal)
    app = portal.open(PAGE, as_user=user)
    assert {str(m.label): str(m.value) for m in app.metric}["Carrier score"] == "Not scored yet"
    assert "Register a number to get a carrier score." in plain(app)
    register(portal, user, "+14169671111", caller_name="Acme")
    app = portal.open(PAGE, as_user=user)
    assert {str(m.label): str(m.value) for m in app.metric}["Carrier score"] == "2.500"
    shown = plain(app)
    assert "Verify your unverified numbers (1): up to +1.000" in shown
    assert "Complete your profiles' Location and Additional tabs" in shown


def test_another_organizations_profile_is_not_found(portal: Portal) -> None:
    other = register(portal, make_member(portal), "+14169671111", caller_name="Theirs")
    app = portal.open(PAGE, as_user=make_member(portal), query_params={"profile": other.id})
    assert not app.exception, app.exception
    assert any("That profile was not found" in str(w.value) for w in app.warning)
    assert "Theirs" not in plain(app)


def test_a_viewer_reads_but_may_not_register_edit_or_delete(portal: Portal) -> None:
    owner = make_member(portal)
    profile = register(portal, owner, "+14169671111", caller_name="Acme")
    with db.write_session(portal.engine) as session:
        viewer = make_user(session, role=Role.VIEWER, organization=organization_of(session, owner))
    app = portal.open(PAGE, as_user=viewer, query_params={"profile": profile.id})
    assert not app.exception, app.exception
    assert listed(app)["caller_name"].tolist() == ["Acme"]
    assert "+1 416-967-1111 · Acme" in [str(h.value) for h in app.subheader]
    keys = {button.key for button in app.button}
    assert not keys & {
        "partner.whois_profiles.add",
        "partner.whois_profiles.edit",
        "partner.whois_profiles.delete_button",
    }


@pytest.mark.parametrize("role", [Role.BILLING], ids=str)
def test_roles_without_whois_are_refused(portal: Portal, role: Role) -> None:
    app = portal.open(PAGE, as_user=make_member(portal, role))
    assert not app.exception, app.exception
    assert refused(app)
    assert [str(error.value) for error in app.error] == [NOT_YOUR_ROLE]
    assert not app.dataframe


def test_staff_are_refused(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        staff = make_staff(session)
    app = portal.open(PAGE, as_user=staff)
    assert refused(app)
    assert not app.dataframe


def _code_in_outbox(number: str) -> str:
    from portal_core.mail import outbox_messages
    from portal_core.settings import get_settings

    [message] = [
        m for m in outbox_messages(get_settings().outbox_dir) if m["X-Phone-Number"] == number
    ]
    found = re.search(r"is (\d{6})\.", message.get_content())
    assert found is not None
    return found.group(1)


def test_a_number_is_verified_with_the_code_sent_to_it(portal: Portal) -> None:
    user = make_member(portal)
    profile = register(portal, user, "+14169671111", caller_name="Acme")
    app = portal.open(PAGE, as_user=user, query_params={"profile": profile.id})
    assert "Prove +1 416-967-1111 is yours." in plain(app)
    app = app.button(key="partner.whois_profiles.send_code").click().run()
    assert not app.exception, app.exception
    assert "A code is on its way to +1 416-967-1111." in plain(app)
    code = _code_in_outbox("+14169671111")
    app.text_input(key="partner.whois_profiles.code").input("000000" if code != "000000" else "1")
    [verify] = [b for b in app.button if b.form_id == "partner.whois_profiles.code_form"]
    app = verify.click().run()
    assert "That code is not right: 4 tries left." in plain(app)
    app.text_input(key="partner.whois_profiles.code").input(code)
    [verify] = [b for b in app.button if b.form_id == "partner.whois_profiles.code_form"]
    app = verify.click().run()
    assert not app.exception, app.exception
    assert "+1 416-967-1111 is verified." in plain(app)
    assert {str(m.label): str(m.value) for m in app.metric}["Ownership"] == "Verified"
    assert "Ownership verified on" in plain(app)


def test_a_claim_on_a_held_number_waits_and_shows_its_history(portal: Portal) -> None:
    holder = make_member(portal)
    register(portal, holder, "+14169671111", caller_name="Holder Co")
    claimant = make_member(portal)
    claim = register(portal, claimant, "+14169671111", caller_name="Claimant Co")
    assert claim.status == "pending"
    app = portal.open(PAGE, as_user=claimant, query_params={"profile": claim.id})
    assert not app.exception, app.exception
    shown = plain(app)
    assert "Pending: another organization holds this number." in shown
    assert "your profile is pending" in shown
    assert "registered while another organization holds it" in shown
    assert "Ownership disputes" in [str(h.value) for h in app.subheader]
    assert "Holder Co" not in shown  # the other side is never named
    frames = [f.value for f in app.dataframe if "side" in f.value.columns]
    assert frames and frames[0][["number", "side", "status"]].values.tolist() == [
        ["+1 416-967-1111", "You claim it", "Open"]
    ]
    holder_view = portal.open(PAGE, as_user=holder)
    frames = [f.value for f in holder_view.dataframe if "side" in f.value.columns]
    assert frames[0]["side"].tolist() == ["You hold it"]
    assert "Claimant Co" not in plain(holder_view)


def test_another_organizations_dispute_is_not_found(portal: Portal) -> None:
    register(portal, make_member(portal), "+14169671111", caller_name="Holder Co")
    register(portal, make_member(portal), "+14169671111", caller_name="Claimant Co")
    with db.read_session(portal.engine) as session:
        [theirs] = session.exec(select(OwnershipDispute)).all()
    # The stranger is in a dispute of its own, so its list of disputes is drawn.
    register(portal, make_member(portal), "+12125550123", caller_name="Someone")
    stranger = make_member(portal)
    register(portal, stranger, "+12125550123", caller_name="Mine")
    app = portal.open(PAGE, as_user=stranger, query_params={"dispute": theirs.id})
    assert not app.exception, app.exception
    assert "Ownership disputes" in [str(h.value) for h in app.subheader]
    assert any("That dispute was not found" in str(w.value) for w in app.warning)
    shown = plain(app)
    assert "Holder Co" not in shown and "Claimant Co" not in shown
    assert "+1 416-967-1111" not in shown
