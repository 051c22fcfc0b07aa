"""Organization › Access › API Tokens drawn (docs/product.md, Pages › API tokens): the green +
and its form, the new token's secret shown once with samples of a lookup, the table of
tokens, a token opened (``?token=<id>``) with Revoke after a confirmation, and the empty
state that says what a token is for.

The secret is kept in session state only from the commit to the next run, which draws it and
forgets it: the portal can never show it again.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, tzinfo

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from portal_core.errors import PortalError, ValidationFailed
from portal_core.models.api_tokens import NAME_WIDTH
from portal_core.queries import api_tokens as token_queries
from portal_core.queries.api_tokens import STATUSES, TokenView
from portal_core.rules import api_tokens as token_rules
from portal_core.rules import code_samples
from portal_core.services import api_tokens
from portal_core.services.sessions import SessionView
from portal_core.settings import get_settings
from portal_core.ui import confirm, forms, list_detail, resources
from portal_core.ui.text import markdown_escape

PARAM = "token"
TABLE_KEY = "access.api_tokens.table"
FORM_ASKED = "access.api_tokens.form"
REVOKE_ASKED = "access.api_tokens.revoke"  # the id of the token whose revocation is asked
NEW_TOKEN = "access.api_tokens.new"  # the token just created, secret included, for one run
OUTCOME = "access.api_tokens.outcome"
NEVER = 0  # the expiry box's "no expiry"

log = logging.getLogger(__name__)


def write_last_use() -> None:
    """Write the last-used times this process noted before the tokens are read: mounted in
    the portal, the API answers in this process, so a call just made shows at once instead
    of after the scheduler's next flush (which still writes those of API processes apart).
    A failed write stays buffered for the next flush and must not cost the page."""
    try:
        api_tokens.flush_last_used(resources.engine())
    except SQLAlchemyError:
        log.exception("The API tokens' last-used times could not be written")


def heading() -> None:
    title, plus = st.columns([4, 1], vertical_alignment="bottom")
    title.title("API Tokens")
    plus.button(
        "Create a token",
        type="primary",
        icon=":material/add:",
        key="access.api_tokens.add",
        on_click=confirm.ask,
        args=(FORM_ASKED, True),
        width="stretch",
    )
    st.caption(
        "Your programs call the SIPSTACK API with a token: one per application, so that each "
        "can be revoked alone. Tokens belong to your organization, not to whoever created "
        "them: a call flow keeps working when its creator leaves."
    )


def empty_state() -> None:
    st.info(
        "No API tokens yet. A token lets a program — your PBX's dialplan, your CRM, a "
        "script — look numbers up in Smart CNAM, read or keep your Whois Profiles, or read "
        "your Logs through the SIPSTACK API, with only the scopes you give it. Create one "
        "with **Create a token**.",
        icon=":material/key:",
    )


def new_token_once() -> None:
    """The token created on the last run, its secret shown this once, with samples."""
    minted = st.session_state.pop(NEW_TOKEN, None)
    if not isinstance(minted, dict):
        return
    name, key, secret = minted["name"], minted["key"], minted["secret"]
    bearer = f"{key}.{secret}"
    st.success(
        f"The token “{markdown_escape(name)}” is created. Copy its secret now.",
        icon=":material/check_circle:",
    )
    st.warning(
        "This is the only time the secret is shown: the portal keeps only a digest of it. "
        "If it is lost, revoke the token and create another.",
        icon=":material/warning:",
    )
    st.markdown("**Bearer** (`Authorization: Bearer KEY.SECRET`)")
    st.code(bearer, language=None)
    st.markdown("**Key** and **secret** (Basic: `KEY:SECRET`)")
    st.code(f"{key}\n{secret}", language=None)
    st.markdown("**A Smart CNAM lookup with this token**")
    base_url = get_settings().public_url
    for sample in code_samples.lookup_samples(base_url, key, secret):
        st.caption(sample.title)
        st.code(sample.code, language=sample.language)


def token_table(viewer: SessionView, *, now: datetime, time_zone: tzinfo) -> None:
    list_detail.listing_table(
        token_queries.tokens_listing(viewer.actor, now=now),
        key=TABLE_KEY,
        param=PARAM,
        time_zone=time_zone,
    )


def opened_token(viewer: SessionView, raw: str, *, now: datetime) -> TokenView | None:
    def read(token_id: uuid.UUID) -> TokenView:
        with resources.reading() as session:
            return token_queries.token(session, viewer.actor, token_id, now=now)

    return list_detail.read_opened(raw, read, noun="API token")


def detail(found: TokenView, *, time_zone: tzinfo) -> None:
    list_detail.detail_heading(
        markdown_escape(found.name),
        close_key="access.api_tokens.close",
        param=PARAM,
        table_key=TABLE_KEY,
        forget=(REVOKE_ASKED,),
        outcome_key=OUTCOME,
    )

    def when(moment: datetime | None, empty: str) -> str:
        return f"{moment.astimezone(time_zone):%Y-%m-%d %H:%M}" if moment else empty

    fields = [
        ("Key", found.key),
        ("Status", STATUSES[found.status]),
        ("Scopes", found.scopes),
        ("Live or test", "Test (sample data, never billed)" if found.test else "Live"),
        ("Created by", found.creator_name or "—"),
        ("Created", when(found.created_at, "—")),
        ("Last used", when(found.last_used_at, "Never")),
        ("Expires", when(found.expires_at, "Never")),
    ]
    if found.revoked_at is not None:
        fields.append(("Revoked", when(found.revoked_at, "—")))
    st.markdown("  \n".join(f"**{label}:** {markdown_escape(value)}" for label, value in fields))
    if found.status != token_queries.REVOKED:
        st.button(
            "Revoke",
            key="access.api_tokens.revoke_button",
            icon=":material/block:",
            on_click=confirm.ask,
            args=(REVOKE_ASKED, str(found.id)),
        )


def revoke_dialog(viewer: SessionView) -> None:
    asked = confirm.asked(REVOKE_ASKED)
    if not asked:
        return

    def revoke() -> str:
        with resources.writing() as session:
            token = api_tokens.revoke(session, viewer.actor, uuid.UUID(str(asked)))
            name = token.name
        st.session_state[OUTCOME] = f"“{name}” is revoked: its calls are refused from now on."
        return f"“{name}” is revoked."

    confirm.dialog(
        REVOKE_ASKED,
        title="Revoke this token?",
        message=(
            "Programs that call with it are refused from their next call on. This can't be "
            "undone: to let them in again, create a new token and give them its secret."
        ),
        confirm_label="Revoke",
        action=revoke,
    )


def form_dialog(viewer: SessionView) -> None:
    """While the + is asked: name, scopes (those the viewer's role may grant), test, expiry."""
    if not confirm.asked(FORM_ASKED):
        return
    grantable = token_rules.grantable(viewer.actor.role)

    @st.dialog("Create an API token", on_dismiss=lambda: confirm.ask(FORM_ASKED, False))
    def token_form() -> None:
        errors = forms.FieldErrors()
        with st.form("access.api_tokens.create", border=False):
            name = st.text_input(
                "Name *",
                max_chars=NAME_WIDTH,
                placeholder="Asterisk PBX",
                help="The application that will use it; unique among your active tokens.",
                key="access.api_tokens.name",
            )
            errors.slot("name")
            scopes = st.multiselect(
                "Scopes *",
                [scope.value for scope in grantable],
                format_func=lambda value: f"{value} — {token_rules.Scope(value).label}",
                help="What the token may do; your role limits what you may give.",
                key="access.api_tokens.scopes",
            )
            errors.slot("scopes")
            test = st.toggle(
                "Test token",
                key="access.api_tokens.test",
                help="Smart CNAM lookups answered from fixed sample data and never billed: for "
                "building a call flow before it goes live. A test token takes the lookups scope "
                "alone.",
            )
            expires = st.number_input(
                "Expires after (days; 0: never)",
                min_value=NEVER,
                max_value=api_tokens.MAX_EXPIRY_DAYS,
                value=NEVER,
                step=1,
                key="access.api_tokens.expires",
            )
            errors.slot("expires_days")
            errors.general()
            create = st.form_submit_button("Create", type="primary", icon=":material/key:")
        if st.button("Cancel", key="access.api_tokens.cancel"):
            confirm.ask(FORM_ASKED, False)
            st.rerun()
        if not create:
            return
        try:
            with resources.writing() as session:
                new = api_tokens.create(
                    session,
                    viewer.actor,
                    name=name,
                    scopes=scopes,
                    test=test,
                    expires_days=int(expires) or None,
                )
                # Plain strings: session state keeps no objects of the portal's.
                minted = {"name": new.token.name, "key": new.key, "secret": new.secret}
        except ValidationFailed as error:
            errors.show(error)
            return
        except PortalError as error:
            st.error(error.message, icon=":material/error:")
            return
        confirm.ask(FORM_ASKED, False)
        st.session_state[NEW_TOKEN] = minted
        st.rerun()

    token_form()
