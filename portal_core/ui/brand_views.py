"""Organization › Brand drawn: the brand name, each domain with its status and the DNS TXT
record that verifies it, Check now, Remove (confirmed), and the form that adds a domain
(docs/product.md, Pages › Brand)."""

from __future__ import annotations

import uuid
from datetime import tzinfo

import streamlit as st

from portal_core.errors import PortalError
from portal_core.queries.company import Brand, Domain
from portal_core.services import company
from portal_core.services.sessions import SessionView
from portal_core.ui import confirm, forms, resources, state
from portal_core.ui.text import markdown_escape

NAME_FORM = "organization.brand.name"
ADD_FORM = "organization.brand.add"
REMOVE_ASKED = "organization.brand.remove"  # the id of the domain whose removal is asked
PROBLEM = "organization.brand.problem"  # a refusal from a button's action, said on the rerun
WHO_MAY_EDIT = "Only the owners and admins of your organization can change the brand."
RECHECKS = (
    "SIPSTACK also checks by itself, every hour: each verified domain a day after its last "
    f"check, and each pending domain for {company.WATCH_PENDING_FOR.days} days after it is "
    "added or loses its record, so a record published later verifies its domain without "
    "Check now. A verified "
    "domain whose record is gone becomes pending, and the owners and admins are told; a check "
    "that gets no answer from DNS changes nothing."
)


def brand_name(viewer: SessionView, brand: Brand, *, can_edit: bool) -> None:
    if not can_edit:
        shown = markdown_escape(brand.name) if brand.name else "none yet"
        st.markdown(f"**Brand name**: {shown}")
        st.caption(WHO_MAY_EDIT)
        return
    with st.form(NAME_FORM):
        errors = forms.FieldErrors()
        typed = st.text_input(
            "Brand name",
            value=brand.name or "",
            max_chars=120,
            help="The name your customers know you by.",
        )
        errors.slot("brand_name")
        submitted = st.form_submit_button("Save brand name")
    if not submitted:
        return
    renamed: list[bool] = []

    def rename() -> None:
        with resources.writing() as session:
            renamed.append(company.rename_brand(session, viewer.actor, typed))

    if not forms.attempt(errors, rename):
        return
    if not renamed[0]:
        st.info("Nothing changed: that is already your brand name.", icon=":material/info:")
        return
    state.flash("Brand name saved.")
    st.rerun()


def problem() -> None:
    """A refusal from Check now or Remove, said once."""
    said = st.session_state.pop(PROBLEM, None)
    if said:
        st.error(said, icon=":material/error:")


def domains(viewer: SessionView, brand: Brand, *, can_edit: bool, time_zone: tzinfo) -> None:
    st.subheader("Domains")
    if not brand.domains:
        st.caption("No domain yet." + (" Add one below." if can_edit else ""))
        return
    st.caption(
        "A domain is verified once a DNS TXT record at its name holds its value: publish the "
        "record where your domain's DNS is managed, then check it. A new record can take an "
        "hour or more to be seen."
    )
    st.caption(RECHECKS)
    for domain in brand.domains:
        _domain(viewer, domain, can_edit=can_edit, time_zone=time_zone)


def _domain(viewer: SessionView, domain: Domain, *, can_edit: bool, time_zone: tzinfo) -> None:
    # Keyed, so that the block of one domain can be told from the others (a browser's tests).
    with st.container(border=True, key=f"organization.brand.domain.{domain.id}"):
        status = (
            ":green-badge[:material/verified: Verified]"
            if domain.verified
            else ":orange-badge[:material/hourglass_top: Pending]"
        )
        st.markdown(f"**{markdown_escape(domain.domain)}** {status}")
        added = f"Added {domain.added_at.astimezone(time_zone):%b %-d, %Y}"
        checked = (
            f"last checked {domain.last_checked_at.astimezone(time_zone):%b %-d, %Y %H:%M}"
            if domain.last_checked_at
            else "not checked yet"
        )
        st.caption(f"{added} · {checked}")
        if domain.last_check:
            st.markdown(f"Last check: {markdown_escape(domain.last_check)}")
        st.markdown(
            "Keep this TXT record published:" if domain.verified else "Publish this TXT record:"
        )
        # One above the other, full width: the value is long and must be read whole.
        st.caption("Name (type TXT)")
        st.code(domain.record_name, language=None)
        st.caption("Value")
        st.code(domain.record_value, language=None)
        if not can_edit:
            return
        with st.container(horizontal=True, gap="small"):
            st.button(
                "Check now",
                key=f"organization.brand.check.{domain.id}",
                icon=":material/refresh:",
                on_click=_check,
                args=(viewer, str(domain.id)),
            )
            st.button(
                "Remove",
                key=f"organization.brand.remove.{domain.id}",
                icon=":material/delete:",
                on_click=confirm.ask,
                args=(REMOVE_ASKED, str(domain.id)),
            )


def _check(viewer: SessionView, domain_id: str) -> None:
    try:
        checked = company.check_domain(resources.engine(), viewer.actor, uuid.UUID(domain_id))
    except PortalError as error:
        st.session_state[PROBLEM] = error.message
        return
    name = markdown_escape(checked.domain)
    state.flash(
        f"{name} is verified."
        if checked.verified
        else f"{name} is still pending: see what the check found."
    )


def add_form(viewer: SessionView) -> None:
    st.subheader("Add a domain")
    with st.form(ADD_FORM, clear_on_submit=False):
        errors = forms.FieldErrors()
        typed = st.text_input("Domain", placeholder="example.com", max_chars=253)
        errors.slot("domain")
        submitted = st.form_submit_button("Add domain", type="primary", icon=":material/add:")
    if not submitted:
        return
    added: list[company.AddedDomain] = []

    def add() -> None:
        with resources.writing() as session:
            added.append(company.add_domain(session, viewer.actor, typed))

    if not forms.attempt(errors, add):
        return
    name = markdown_escape(added[0].domain)
    if added[0].outcome is company.Added.ALREADY_ADDED:
        st.info(f"{name} is already added.", icon=":material/info:")
        return
    state.flash(f"{name} is added: publish its TXT record, then check it.")
    st.rerun()


def remove_dialog(viewer: SessionView, brand: Brand) -> None:
    """While a domain's removal is asked, its confirmation; a domain gone meanwhile closes it."""
    asked = confirm.asked(REMOVE_ASKED)
    if not asked:
        return
    to_remove = next((d for d in brand.domains if str(d.id) == str(asked)), None)
    if to_remove is None:
        confirm.ask(REMOVE_ASKED, False)
        return

    def remove() -> str:
        with resources.writing() as session:
            removed = company.remove_domain(session, viewer.actor, to_remove.id)
        return f"{markdown_escape(removed)} is removed."

    verified = (
        " It is verified: removing it may lower your carrier score." if to_remove.verified else ""
    )
    confirm.dialog(
        REMOVE_ASKED,
        title="Remove this domain?",
        message=f"{markdown_escape(to_remove.domain)} will no longer be one of your brand's "
        f"domains.{verified} Adding it again gives it a new DNS record to publish.",
        confirm_label="Remove domain",
        action=remove,
    )
