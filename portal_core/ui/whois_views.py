"""Partner › Whois Profiles drawn: the carrier score, the green + and the profile form in three
tabs, the table of registered numbers, and a profile's detail — completeness and what is
missing, its score explained and its history — with Edit and Delete
(docs/product.md, Whois Profiles).

The form's messages name their tab and field ("Location › Country: …"), and are said both
above the tabs (a field on a tab not shown is found by its tab's name) and under the field.
The open profile is a query parameter (``?profile=<id>``), as every list-then-detail is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import streamlit as st

from portal_core.errors import PortalError, ValidationFailed
from portal_core.models.products import CallPurpose, ProfileStatus, WhoisProfile
from portal_core.queries import whois as whois_queries
from portal_core.queries.disputes import DisputeView
from portal_core.queries.whois import ProfileDetail
from portal_core.rules import profiles
from portal_core.rules.numbers import PROFILE_LINE_TYPES, shown
from portal_core.services import company, whois
from portal_core.services.sessions import SessionView
from portal_core.services.whois import ProfileForm
from portal_core.ui import (
    confirm,
    forms,
    list_detail,
    ownership_views,
    resources,
    score_views,
    whois_import_views,
)
from portal_core.ui.text import markdown_escape


@dataclass(frozen=True)
class OwnershipState:
    code_expires: datetime | None  # a code sent and not typed yet
    open_dispute: DisputeView | None


PARAM = "profile"
TABLE_KEY = "partner.whois_profiles.table"
FORM_ASKED = "partner.whois_profiles.form"  # "new", or the id of the profile being edited
DELETE_ASKED = "partner.whois_profiles.delete"  # the id of the profile whose deletion is asked
OUTCOME = "partner.whois_profiles.outcome"
_PURPOSES = ["", *(purpose.value for purpose in CallPurpose)]
_LINE_TYPES = [line_type.value for line_type in PROFILE_LINE_TYPES]


def heading(*, can_write: bool) -> None:
    title, upload, plus = st.columns([3, 1, 1], vertical_alignment="bottom")
    title.title("Whois Profiles")
    if can_write:
        with upload:
            whois_import_views.button()
        plus.button(
            "Register a number",
            type="primary",
            icon=":material/add:",
            key="partner.whois_profiles.add",
            on_click=confirm.ask,
            args=(FORM_ASKED, "new"),
            width="stretch",
        )
    st.caption(
        "The numbers your organization calls from. A registered number's caller name is what "
        "called parties see, and a complete, verified profile scores higher. A private "
        "profile's details are never shown to other organizations."
    )


def profile_table(viewer: SessionView, *, time_zone: tzinfo) -> None:
    list_detail.listing_table(
        whois_queries.profiles_listing(viewer.actor),
        key=TABLE_KEY,
        param=PARAM,
        time_zone=time_zone,
    )


def _label(key: str) -> str:
    field = profiles.BY_KEY[key]
    return f"{field.label} *" if field.required else field.label


def form_dialog(viewer: SessionView) -> None:
    """While the + (or Edit) is asked, the form in its three tabs."""
    asked = confirm.asked(FORM_ASKED)
    if not asked:
        return
    editing: WhoisProfile | None = None
    if asked != "new":
        try:
            with resources.reading() as session:
                editing = whois_queries.get_profile(session, viewer.actor, uuid.UUID(str(asked)))
        except (PortalError, ValueError):
            confirm.ask(FORM_ASKED, False)
            return
    start = ProfileForm.of(editing) if editing else ProfileForm()
    prefix = f"partner.whois_profiles.form.{asked}"
    title = f"Edit {shown(editing.number)}" if editing else "Register a number"

    @st.dialog(title, width="large", on_dismiss=lambda: confirm.ask(FORM_ASKED, False))
    def profile_form() -> None:
        summary = st.container()
        errors = forms.FieldErrors()
        with st.form(f"{prefix}.form", border=False):
            private = st.toggle(
                "Private caller",
                value=start.private,
                key=f"{prefix}.private",
                help="Other organizations see neither the caller name nor any detail of a "
                "private number: their lookups answer with where the number is from.",
            )
            typed: dict[str, str] = {}

            def text(key: str, *, area: bool = False, **options: Any) -> None:
                """A text field of the profile, its message slot under it."""
                draw: Any = st.text_area if area else st.text_input
                typed[key] = draw(
                    _label(key),
                    value=getattr(start, key),
                    max_chars=profiles.BY_KEY[key].max_length,
                    key=f"{prefix}.{key}",
                    **options,
                )
                errors.slot(key)

            def choice(key: str, values: list[str], names: dict[str, str], **options: Any) -> None:
                """A choice of the profile (``unset``: the index shown when it has none)."""
                current = getattr(start, key)
                unset = options.pop("unset", 0)
                typed[key] = (
                    st.selectbox(
                        _label(key),
                        values,
                        index=values.index(current) if current in values else unset,
                        format_func=lambda value: names.get(value, "—"),
                        key=f"{prefix}.{key}",
                        **options,
                    )
                    or ""
                )
                errors.slot(key)

            general, location, additional = st.tabs([tab.value for tab in profiles.Tab])
            with general:
                text(
                    "number",
                    disabled=editing is not None,
                    placeholder="+1 416 555 0123",
                    help="Stored in international form (E.164). A registered number's number "
                    "never changes: register another number as a new profile.",
                )
                text(
                    "caller_name",
                    help="What called parties' screens show (CNAM allows 15 characters).",
                )
                text("business_name")
                choice(
                    "line_type",
                    _LINE_TYPES,
                    whois_queries.LINE_TYPES,
                    unset=None,
                    placeholder="Choose the line type",
                )
                choice("call_purpose", _PURPOSES, whois_queries.PURPOSES)
            with location:
                for key in ("address_line", "city", "province", "postal_code"):
                    text(key)
                countries = company.countries()
                choice("country", ["", *(code for code, _name in countries)], dict(countries))
            with additional:
                text("website", placeholder="https://example.com")
                text("email")
                text("description", area=True)
                text(
                    "social_links",
                    area=True,
                    help=f"Up to {profiles.MAX_SOCIAL_LINKS} addresses, one per line.",
                )
                text("monthly_call_volume", placeholder="12,000")
            st.caption("Fields marked * are required.")
            save = st.form_submit_button(
                "Save changes" if editing else "Register", type="primary", icon=":material/save:"
            )
        if st.button("Cancel", key=f"{prefix}.cancel"):
            confirm.ask(FORM_ASKED, False)
            st.rerun()
        if not save:
            return
        form = ProfileForm(**typed, private=private)
        try:
            with resources.writing() as session:
                if editing is None:
                    saved = whois.register(session, viewer.actor, form)
                else:
                    saved = whois.update(session, viewer.actor, editing.id, form)
                saved_id, saved_number = saved.id, saved.number
        except ValidationFailed as error:
            summary.error(
                "Check these fields:\n\n"
                + "\n".join(f"- {markdown_escape(message)}" for message in error.errors.values()),
                icon=":material/error:",
            )
            errors.show(error)
            return
        except PortalError as error:
            summary.error(error.message, icon=":material/error:")
            return
        confirm.ask(FORM_ASKED, False)
        st.session_state[OUTCOME] = (
            f"{shown(saved_number)} is saved."
            if editing
            else f"{shown(saved_number)} is registered."
        )
        st.query_params[PARAM] = str(saved_id)
        st.rerun()

    profile_form()


def detail(
    viewer: SessionView,
    opened: ProfileDetail,
    *,
    ownership: OwnershipState,
    can_write: bool,
    time_zone: tzinfo,
) -> None:
    """A profile below the list: what it says, how complete it is, its score and history."""
    profile = opened.profile
    list_detail.detail_heading(
        f"{shown(profile.number)} · {markdown_escape(profile.caller_name)}",
        close_key="partner.whois_profiles.close",
        param=PARAM,
        table_key=TABLE_KEY,
        forget=(DELETE_ASKED,),
        outcome_key=OUTCOME,
    )
    if profile.status == ProfileStatus.PENDING:
        st.warning(
            "Pending: another organization holds this number. Until its ownership is decided, "
            "this profile is hidden from others and unscored.",
            icon=":material/hourglass_top:",
        )
    score_column, complete_column, verified_column = st.columns(3)
    with score_column:
        score_views.score_metric("Score", profile.score_millis)
    with complete_column:
        st.metric("Complete", f"{opened.completeness.percent}%")
        st.progress(opened.completeness.permille / 1000)
    with verified_column:
        st.metric(
            "Ownership",
            "Verified" if profile.verified_at else "Not verified",
            help="A verified number scores higher: ownership is proven by a one-time code sent "
            "to the number.",
        )
    if opened.completeness.missing:
        st.caption(
            "Missing: "
            + ", ".join(f"{field.tab} › {field.label}" for field in opened.completeness.missing)
            + ". Each one filled in raises the number's score and your carrier score."
        )
    if can_write:
        edit, remove, _rest = st.columns([1, 1, 3])
        edit.button(
            "Edit",
            key="partner.whois_profiles.edit",
            icon=":material/edit:",
            on_click=confirm.ask,
            args=(FORM_ASKED, str(profile.id)),
        )
        remove.button(
            "Delete",
            key="partner.whois_profiles.delete_button",
            icon=":material/delete:",
            on_click=confirm.ask,
            args=(DELETE_ASKED, str(profile.id)),
        )
    details, why, proof = st.tabs(["Profile", "Score", "Ownership"])
    with details:
        _profile_fields(profile)
    with proof:
        ownership_views.verification(
            viewer,
            profile,
            code_expires=ownership.code_expires,
            open_dispute=ownership.open_dispute,
            can_write=can_write,
            time_zone=time_zone,
        )
    with why:
        if opened.score is not None:
            score_views.explanation(opened.score, key="partner.whois_profiles.detail")
        if len(opened.history) >= 1:
            st.markdown("**History**")
            st.plotly_chart(
                score_views.history_chart(
                    [point.day for point in opened.history],
                    [point.score_millis for point in opened.history],
                ),
                key="partner.whois_profiles.history",
                config={"displayModeBar": False},
            )


def _profile_fields(profile: WhoisProfile) -> None:
    """What the profile says, tab by tab, as the form has it."""
    st.markdown(f"**Private caller:** {'Yes' if profile.private else 'No'}")
    for column, tab in zip(st.columns(len(profiles.Tab)), profiles.Tab, strict=True):
        lines = [
            f"{field.label}: {markdown_escape(_shown(field.key, getattr(profile, field.key)))}"
            for field in profiles.FIELDS
            if field.tab == tab
        ]
        column.markdown(f"**{tab}**  \n" + "  \n".join(lines))


def _shown(key: str, value: object) -> str:
    if value is None or value == "":
        return "—"
    if key == "number":
        return shown(str(value))
    if key == "line_type":
        return whois_queries.LINE_TYPES.get(str(value), str(value))
    if key == "call_purpose":
        return whois_queries.PURPOSES.get(str(value), str(value))
    if key == "monthly_call_volume" and isinstance(value, int):
        return f"{value:,}"
    if key == "social_links":
        return ", ".join(str(value).splitlines())
    return str(value)


def delete_dialog(viewer: SessionView) -> None:
    asked = confirm.asked(DELETE_ASKED)
    if not asked:
        return

    def delete() -> str:
        with resources.writing() as session:
            number = whois.delete(session, viewer.actor, uuid.UUID(str(asked)))
        list_detail.close(PARAM, TABLE_KEY)
        return f"{shown(number)} is deleted from your Whois Profiles."

    confirm.dialog(
        DELETE_ASKED,
        title="Delete this profile?",
        message=(
            "The number leaves your Whois Profiles, with its score history: its caller name "
            "is no longer what called parties see, and any organization may register it. "
            "This can't be undone."
        ),
        confirm_label="Delete",
        action=delete,
    )
