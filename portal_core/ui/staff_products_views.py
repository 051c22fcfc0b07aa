"""Staff › Disputes and Staff › Reports drawn: every ownership dispute with both sides named
and its history, decided for either side with a reason both read; every community report,
removed with a reason (docs/product.md, Whois Profiles › Ownership and disputes)."""

from __future__ import annotations

import uuid
from datetime import tzinfo
from functools import partial

import streamlit as st

from portal_core.models.products import DisputeStatus
from portal_core.queries import disputes
from portal_core.rules.numbers import facts_of
from portal_core.services import ownership, reports
from portal_core.services.sessions import SessionView
from portal_core.ui import confirm, list_detail, ownership_views, resources
from portal_core.ui.text import markdown_escape

DISPUTE_PARAM = "dispute"
DISPUTES_TABLE = "staff.disputes.table"
DECIDE_ASKED = "staff.disputes.decide"  # (dispute id, "holder" | "claimant")
DISPUTE_OUTCOME = "staff.disputes.outcome"
REPORT_PARAM = "report"
REPORTS_TABLE = "staff.reports.table"
REMOVE_ASKED = "staff.reports.remove"  # the report id
REPORT_OUTCOME = "staff.reports.outcome"


def disputes_page(viewer: SessionView, *, time_zone: tzinfo) -> None:
    st.title("Disputes")
    st.caption(
        "Ownership disputes: two organizations registered the same number. Either proves it "
        "with a code sent to the number, or you decide here; both organizations read your "
        "reason."
    )
    list_detail.listing_table(
        disputes.staff_disputes_listing(viewer.actor),
        key=DISPUTES_TABLE,
        param=DISPUTE_PARAM,
        time_zone=time_zone,
    )
    opened = list_detail.opened(
        DISPUTE_PARAM,
        lambda session, dispute_id: disputes.staff_dispute(session, viewer.actor, dispute_id),
        noun="dispute",
    )
    if opened is None:
        return
    dispute = opened.dispute
    shown = facts_of(dispute.number).international
    list_detail.detail_heading(
        f"Dispute over {shown}",
        close_key="staff.disputes.close",
        param=DISPUTE_PARAM,
        table_key=DISPUTES_TABLE,
        forget=(DECIDE_ASKED,),
        outcome_key=DISPUTE_OUTCOME,
    )
    st.markdown(
        f"**Holder:** {markdown_escape(opened.holder_name or '—')}  \n"
        f"**Claimant:** {markdown_escape(opened.claimant_name or '—')}  \n"
        f"**Status:** {disputes.STATUSES[str(dispute.status)]}"
        + (f"  \n**Reason:** {markdown_escape(dispute.reason)}" if dispute.reason else "")
    )
    ownership_views.history(opened, time_zone=time_zone)
    if dispute.status != DisputeStatus.OPEN:
        return
    holder, claimant, _rest = st.columns([1, 1, 2])
    holder.button(
        "Holder keeps it",
        key="staff.disputes.for_holder",
        on_click=confirm.ask,
        args=(DECIDE_ASKED, (str(dispute.id), "holder")),
    )
    claimant.button(
        "Claimant gets it",
        key="staff.disputes.for_claimant",
        on_click=confirm.ask,
        args=(DECIDE_ASKED, (str(dispute.id), "claimant")),
    )
    asked = confirm.asked(DECIDE_ASKED)
    if not isinstance(asked, tuple) or asked[0] != str(dispute.id):
        return
    winner = str(asked[1])
    named = opened.holder_name if winner == "holder" else opened.claimant_name
    confirm.dialog_with_reason(
        DECIDE_ASKED,
        title=f"Decide for the {winner}?",
        message=(
            f"**{markdown_escape(named or '')}** keeps {shown}; the other organization's "
            "profile of it is removed, and the lost dispute weighs on its carrier score for a "
            "year. Both organizations read your reason."
        ),
        confirm_label="Decide",
        action=partial(_decide, viewer, dispute.id, winner),
        reason_key=f"{DECIDE_ASKED}.reason.{dispute.id}.{winner}",
        reason_placeholder="Why; both organizations read it",
        on_done=lambda message: st.session_state.__setitem__(DISPUTE_OUTCOME, message),
    )


def _decide(viewer: SessionView, dispute_id: uuid.UUID, winner: str, reason: str) -> str:
    with resources.writing() as session:
        decided = ownership.decide(session, viewer.actor, dispute_id, winner=winner, reason=reason)
        number = decided.number
    return f"Decided: the {winner} keeps {facts_of(number).international}."


def reports_page(viewer: SessionView, *, time_zone: tzinfo) -> None:
    st.title("Reports")
    st.caption(
        "Community reports: partners' word that a number is spam or safe. A report counts in "
        "the number's score for 90 days; remove one that is abusive or mistaken, with a "
        "reason."
    )
    list_detail.listing_table(
        disputes.staff_reports_listing(viewer.actor),
        key=REPORTS_TABLE,
        param=REPORT_PARAM,
        time_zone=time_zone,
    )
    report = list_detail.opened(
        REPORT_PARAM,
        lambda session, report_id: disputes.staff_report(session, viewer.actor, report_id),
        noun="report",
    )
    if report is None:
        return
    shown = facts_of(report.number).international
    list_detail.detail_heading(
        f"Report of {shown} as {report.kind}",
        close_key="staff.reports.close",
        param=REPORT_PARAM,
        table_key=REPORTS_TABLE,
        forget=(REMOVE_ASKED,),
        outcome_key=REPORT_OUTCOME,
    )
    when = report.created_at.astimezone(time_zone).strftime("%B %-d, %Y %H:%M")
    st.markdown(
        f"**Reported:** {markdown_escape(when)}  \n"
        f"**Comment:** {markdown_escape(report.comment or '—')}"
    )
    if report.removed_at is not None:
        st.info(
            f"Removed: {report.removed_reason or ''}. It no longer counts.",
            icon=":material/delete:",
        )
        return
    st.button(
        "Remove this report",
        key="staff.reports.remove_button",
        icon=":material/delete:",
        on_click=confirm.ask,
        args=(REMOVE_ASKED, str(report.id)),
    )
    if confirm.asked(REMOVE_ASKED) != str(report.id):
        return
    confirm.dialog_with_reason(
        REMOVE_ASKED,
        title="Remove this report?",
        message=(
            f"The report stops counting in the score of {shown} and its owner's carrier score "
            "at once. The reason is kept in the audit log."
        ),
        confirm_label="Remove",
        action=partial(_remove, viewer, report.id),
        reason_key=f"{REMOVE_ASKED}.reason.{report.id}",
        on_done=lambda message: st.session_state.__setitem__(REPORT_OUTCOME, message),
    )


def _remove(viewer: SessionView, report_id: uuid.UUID, reason: str) -> str:
    with resources.writing() as session:
        removed = reports.remove(session, viewer.actor, report_id, reason=reason)
        number = removed.number
    return f"The report of {facts_of(number).international} is removed."
