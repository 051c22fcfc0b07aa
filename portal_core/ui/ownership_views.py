"""Ownership drawn, on Whois Profiles: a profile's verification by a code sent to its number
(send it, type it back), the open dispute it is in with its history, and the organization's
disputes as a list whose row opens its history
(docs/product.md, Whois Profiles › Ownership and disputes)."""

from __future__ import annotations

from datetime import tzinfo

import streamlit as st

from portal_core.errors import PortalError
from portal_core.models.products import WhoisProfile
from portal_core.queries import disputes
from portal_core.queries.disputes import DisputeView
from portal_core.rules.numbers import facts_of
from portal_core.services import ownership
from portal_core.services.sessions import SessionView
from portal_core.ui import forms, list_detail, resources
from portal_core.ui.text import markdown_escape

PARAM = "dispute"
TABLE_KEY = "partner.whois_profiles.disputes"
SENT = "partner.whois_profiles.code_sent"  # what the last "Send a code" said
PROBLEM = "partner.whois_profiles.code_problem"


def verification(
    viewer: SessionView,
    profile: WhoisProfile,
    *,
    code_expires: object | None,
    open_dispute: DisputeView | None,
    can_write: bool,
    time_zone: tzinfo,
) -> None:
    """Prove the number is the organization's: send a code, type it back."""
    shown = facts_of(profile.number).international
    if open_dispute is not None:
        _dispute_notice(open_dispute, time_zone=time_zone)
    elif profile.verified_at is not None:
        when = profile.verified_at.astimezone(time_zone).strftime("%B %-d, %Y")
        st.success(f"Ownership verified on {when}.", icon=":material/verified:")
        return
    if not can_write:
        st.caption("An owner, admin or developer can verify this number with a code.")
        return
    st.markdown(
        f"**Prove {shown} is yours.** SIPSTACK sends a six-digit code to the number; type it "
        "here within 10 minutes."
        + (
            " Whoever proves it first keeps the number."
            if open_dispute
            else " A verified number scores higher."
        )
    )
    problem = st.session_state.pop(PROBLEM, None)
    if problem:
        st.error(problem, icon=":material/error:")
    sent = st.session_state.pop(SENT, None)
    if sent:
        st.info(sent, icon=":material/sms:")
    st.button(
        "Send a new code" if code_expires else "Send a code",
        key="partner.whois_profiles.send_code",
        icon=":material/sms:",
        on_click=_send,
        args=(viewer, profile),
    )
    if code_expires is None:
        return
    errors = forms.FieldErrors()
    with st.form("partner.whois_profiles.code_form", clear_on_submit=True):
        code = st.text_input(
            "Code", key="partner.whois_profiles.code", max_chars=7, placeholder="123456"
        )
        errors.slot("code")
        confirmed = st.form_submit_button("Verify", type="primary", icon=":material/verified:")
    if not confirmed:
        return
    try:
        with resources.writing() as session:
            outcome = ownership.confirm_code(session, viewer.actor, profile.id, code)
    except PortalError as error:
        errors.show(error)
        return
    st.session_state["partner.whois_profiles.outcome"] = (
        f"{facts_of(outcome.number).international} is verified"
        + (": the dispute is decided, and the number is yours." if outcome.won_dispute else ".")
    )
    st.rerun()


def _send(viewer: SessionView, profile: WhoisProfile) -> None:
    try:
        with resources.writing() as session:
            sent = ownership.send_code(session, viewer.actor, profile.id)
    except PortalError as error:
        st.session_state[PROBLEM] = error.message
        return
    st.session_state[SENT] = (
        f"A code is on its way to {facts_of(sent.number).international}. It expires in 10 minutes."
    )


def _dispute_notice(view: DisputeView, *, time_zone: tzinfo) -> None:
    shown = facts_of(view.dispute.number).international
    if view.side == "claimant":
        st.warning(
            f"Another organization holds {shown}: your profile is pending — hidden from others "
            "and unscored — until its ownership is decided.",
            icon=":material/gavel:",
        )
    else:
        st.warning(
            f"Another organization claims {shown}. Your profile stays as it is until the "
            "ownership is decided.",
            icon=":material/gavel:",
        )
    history(view, time_zone=time_zone)


def history(view: DisputeView, *, time_zone: tzinfo) -> None:
    st.markdown("**The dispute so far**")
    for step in view.history:
        when = step.at.astimezone(time_zone).strftime("%b %-d, %Y %H:%M")
        st.markdown(f"- {markdown_escape(when)} — {markdown_escape(step.detail)}")


def disputes_section(viewer: SessionView, *, time_zone: tzinfo) -> None:
    """The organization's disputes (when it has any), a row opening its history."""
    with resources.reading() as session:
        if not disputes.has_disputes(session, viewer.actor):
            return
    st.subheader("Ownership disputes")
    list_detail.listing_table(
        disputes.disputes_listing(viewer.actor), key=TABLE_KEY, param=PARAM, time_zone=time_zone
    )
    opened = list_detail.opened(
        PARAM,
        lambda session, dispute_id: disputes.dispute(session, viewer.actor, dispute_id),
        noun="dispute",
    )
    if opened is None:
        return
    list_detail.detail_heading(
        f"Dispute over {facts_of(opened.dispute.number).international}",
        close_key="partner.whois_profiles.dispute_close",
        param=PARAM,
        table_key=TABLE_KEY,
    )
    st.caption(disputes.SIDES[opened.side] + " · " + disputes.STATUSES[str(opened.dispute.status)])
    history(opened, time_zone=time_zone)
