"""Organization › Access › API Tokens (AppTest): the empty state, creating a token (its secret
shown once, with samples of a lookup), bad input refused, the scopes a role may give, the list
and a token opened, revoking after a confirmation, the roles refused; and Logs naming a token."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from portal_core import db
from portal_core.models.accounts import Role, User
from portal_core.models.api_tokens import ApiToken
from portal_core.models.base import utcnow
from portal_core.models.products import EventAction, EventProduct
from portal_core.rules import api_tokens as rules
from portal_core.services import api_tokens, product_events
from tests.factories import actor_of, make_staff, make_user, organization_of
from tests.pages.conftest import NOT_YOUR_ROLE, Portal, make_member, plain, refused

PAGE = "pages/access_api_tokens.py"


def tokens(portal: Portal) -> list[ApiToken]:
    with db.read_session(portal.engine) as session:
        return list(session.exec(select(ApiToken)))


def mint(portal: Portal, user: User, name: str = "Asterisk PBX") -> ApiToken:
    with db.write_session(portal.engine) as session:
        return api_tokens.create(session, actor_of(user), name=name, scopes=("lookups",)).token


def create(app: AppTest, name: str, scopes: list[str], *, expires: int = 0) -> AppTest:
    app = app.button(key="access.api_tokens.add").click().run()
    app.text_input(key="access.api_tokens.name").input(name)
    for scope in scopes:
        app.multiselect(key="access.api_tokens.scopes").select(scope)
    app.number_input(key="access.api_tokens.expires").set_value(expires)
    [button] = [b for b in app.button if b.form_id == "access.api_tokens.create"]
    button.click()
    return app.run()


def listed(app: AppTest) -> pd.DataFrame:
    [frame] = [frame.value for frame in app.dataframe]
    return frame


def codes(app: AppTest) -> list[str]:
    return [str(code.value) for code in app.code]


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.DEVELOPER], ids=str)
def test_a_token_is_created_and_its_secret_shown_once(portal: Portal, role: Role) -> None:
    user = make_member(portal, role)
    app = portal.open(PAGE, as_user=user)
    assert not app.exception, app.exception
    assert "No API tokens yet" in plain(app)
    assert not app.dataframe

    app = create(app, "Asterisk PBX", ["lookups", "whois:read"], expires=30)
    assert not app.exception, app.exception
    [token] = tokens(portal)
    assert (token.name, token.scopes, token.test) == ("Asterisk PBX", "lookups,whois:read", False)
    shown = codes(app)
    bearer = next(code for code in shown if code.startswith(token.key + "."))
    key, secret = bearer.split(".")
    assert key == token.key and rules.looks_like_secret(secret)
    assert api_tokens.secret_digest(secret) == token.secret_digest
    samples = "\n".join(shown)
    assert f"curl --user {key}:{secret} " in samples
    assert "/api/v1/b/partner/smart-cnam/phoneNumber/14165550100?type=cnam" in samples
    assert f"Bearer {key}.{secret}" in samples  # the Python sample
    assert (
        f"Set(CALLERID(name)=${{CURL(http://{key}:{secret}@localhost:8501/api/v1/b/partner/"
        "smart-cnam/phoneNumber/${CALLERID(num)}/${EXTEN}?type=cnam)})" in samples
    )
    assert "only time the secret is shown" in plain(app)
    assert listed(app)["name"].tolist() == ["Asterisk PBX"]
    assert listed(app)["key"].tolist() == [token.key]
    assert listed(app)["status"].tolist() == ["Active"]

    again = portal.open(PAGE, as_user=user)  # the page reopened: the secret is gone
    assert not again.exception, again.exception
    assert again.code == [] or all(secret not in str(code.value) for code in again.code)
    assert secret not in plain(again)
    assert listed(again)["name"].tolist() == ["Asterisk PBX"]
    # …and so on the next run of the same session (any click).
    app = app.run()
    assert all(secret not in code for code in codes(app))


def test_bad_input_is_refused_with_its_message_and_nothing_is_saved(portal: Portal) -> None:
    user = make_member(portal)
    app = create(portal.open(PAGE, as_user=user), "Asterisk PBX", [])
    assert not app.exception, app.exception
    assert "Choose at least one scope." in plain(app)
    assert tokens(portal) == []
    mint(portal, user, "CRM")
    app = create(portal.open(PAGE, as_user=user), "CRM", ["lookups"])
    assert "A token named “CRM” already exists. Choose another name." in plain(app)
    assert len(tokens(portal)) == 1


def test_a_developer_is_offered_only_the_scopes_of_its_role(portal: Portal) -> None:
    app = portal.open(PAGE, as_user=make_member(portal, Role.DEVELOPER))
    app = app.button(key="access.api_tokens.add").click().run()
    offered = app.multiselect(key="access.api_tokens.scopes").options
    assert [option.split(" — ")[0] for option in offered] == [
        "lookups",
        "whois:read",
        "whois:write",
        "logs:read",
        "reports:write",
    ]
    owner_app = portal.open(PAGE, as_user=make_member(portal, Role.OWNER))
    owner_app = owner_app.button(key="access.api_tokens.add").click().run()
    assert any(
        option.startswith("billing:read")
        for option in owner_app.multiselect(key="access.api_tokens.scopes").options
    )


def test_a_token_is_revoked_after_a_confirmation(portal: Portal) -> None:
    user = make_member(portal, Role.DEVELOPER)
    token = mint(portal, user)
    app = portal.open(PAGE, as_user=user, query_params={"token": token.id})
    assert not app.exception, app.exception
    assert "Asterisk PBX" in [str(h.value) for h in app.subheader]
    assert f"**Key:** {token.key}" in plain(app)
    app = app.button(key="access.api_tokens.revoke_button").click().run()
    assert "This can't be undone" in plain(app)
    app = app.button(key="access.api_tokens.revoke.cancel").click().run()
    assert tokens(portal)[0].revoked_at is None
    app = app.button(key="access.api_tokens.revoke_button").click().run()
    app = app.button(key="access.api_tokens.revoke.confirm").click().run()
    assert not app.exception, app.exception
    assert tokens(portal)[0].revoked_at is not None
    assert [str(toast.value) for toast in app.toast] == ["“Asterisk PBX” is revoked."]
    assert listed(app)["status"].tolist() == ["Revoked"]
    assert "**Status:** Revoked" in plain(app)
    assert not [b for b in app.button if b.key == "access.api_tokens.revoke_button"]


def test_another_organizations_token_is_not_found(portal: Portal) -> None:
    theirs = mint(portal, make_member(portal), "Theirs")
    app = portal.open(PAGE, as_user=make_member(portal), query_params={"token": theirs.id})
    assert not app.exception, app.exception
    assert any("That API token was not found" in str(w.value) for w in app.warning)
    assert "Theirs" not in plain(app)


@pytest.mark.parametrize("role", [Role.BILLING, Role.VIEWER], ids=str)
def test_roles_without_api_tokens_are_refused(portal: Portal, role: Role) -> None:
    owner = make_member(portal)
    mint(portal, owner)
    with db.write_session(portal.engine) as session:
        member = make_user(session, role=role, organization=organization_of(session, owner))
    app = portal.open(PAGE, as_user=member)
    assert not app.exception, app.exception
    assert refused(app)
    assert [str(error.value) for error in app.error] == [NOT_YOUR_ROLE]
    assert not app.dataframe
    assert "Asterisk PBX" not in plain(app)


def test_staff_are_refused(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        staff = make_staff(session)
    app = portal.open(PAGE, as_user=staff)
    assert refused(app)
    assert not app.dataframe


def test_logs_name_the_token_a_program_called_with(portal: Portal) -> None:
    owner = make_member(portal)
    token = mint(portal, owner, "Asterisk PBX")
    with db.write_connection(portal.engine) as connection:
        for user_id, api_token_id, number in (
            (owner.id, token.id, "+16135550198"),
            (owner.id, None, "+16135550197"),
        ):
            product_events.record(
                connection,
                product_events.Event(
                    organization_id=owner.organization_id,  # type: ignore[arg-type]
                    product=EventProduct.REPORTS,
                    action=EventAction.REPORT,
                    user_id=user_id,
                    api_token_id=api_token_id,
                    number=number,
                    result="Reported as spam",
                ),
            )
    app = portal.open("pages/logs.py", as_user=owner)
    assert not app.exception, app.exception
    [frame] = [frame.value for frame in app.dataframe]
    assert sorted(frame["user"].tolist()) == sorted(["Asterisk PBX (API token)", owner.name])
    tokens_filter = app.selectbox(key="analytics.logs.filter.token")
    assert tokens_filter.label == "API token"
    assert tokens_filter.options == ["Any", "Asterisk PBX"]
    tokens_filter.set_value(str(token.id))
    app.button(key="analytics.logs.apply_filters").click()
    app = app.run()
    [frame] = [frame.value for frame in app.dataframe]
    assert frame["numbers"].tolist() == ["+1 613-555-0198"]


def test_a_call_made_in_this_process_shows_as_last_used_at_once(portal: Portal) -> None:
    """Mounted in the portal, the API notes a call in the same process as the page: the
    page writes what is noted before it lists, without waiting for the scheduler's flush."""
    user = make_member(portal, Role.DEVELOPER)
    token = mint(portal, user)
    called = utcnow().replace(second=0, microsecond=0) + timedelta(minutes=2)
    api_tokens.note_used(token.id, called)

    app = portal.open(PAGE, as_user=user)
    assert not app.exception, app.exception
    [last_used] = listed(app)["last_used_at"].tolist()
    assert pd.Timestamp(last_used) == pd.Timestamp(called)

    opened = portal.open(PAGE, as_user=user, query_params={"token": token.id})
    assert not opened.exception, opened.exception
    shown_at = called.astimezone(ZoneInfo("America/Toronto"))  # the billing time zone's
    assert f"**Last used:** {shown_at:%Y-%m-%d %H:%M}" in plain(opened)
