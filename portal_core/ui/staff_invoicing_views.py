"""Staff › Invoice runs drawn: the scheduled jobs with their last and next run, the month to
invoice with its confirmation, the run itself with its progress, the last run's summary
(counts, amount, e-mails, failures), and the balance check with the cached figures that differ
from what they are recomputed from.

A confirmed run is queued in session state and made on the next pass, where its progress can
be drawn; its summary (plain values) stays until the next run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import streamlit as st

from portal_core.errors import PortalError
from portal_core.models.base import utcnow
from portal_core.models.jobs import JobOutcome
from portal_core.money import format_cents, format_micros
from portal_core.queries.scheduled_jobs import JobRun
from portal_core.services import staff_billing
from portal_core.services.invoices import RunSummary
from portal_core.services.jobs import Job
from portal_core.services.sessions import SessionView
from portal_core.ui import confirm, resources
from portal_core.ui.text import markdown_escape

ASKED = "staff.invoicing.asked"  # the run's confirmation is open
RUN = "staff.invoicing.run"  # the period confirmed, run once on the next pass
SUMMARY = "staff.invoicing.summary"  # the last run's summary (plain values)
CHECK = "staff.invoicing.check"  # (when, mismatches) of the last balance check
PERIOD = "staff.invoicing.period"  # the month chosen


# --- Scheduled jobs --------------------------------------------------------------------------


def scheduled_jobs(runs: Sequence[JobRun], jobs: Sequence[Job], *, time_zone: ZoneInfo) -> None:
    """Each job the scheduler runs by itself: its schedule, its last run (when, how long, how
    it went, what it did) and its next run, in the billing time zone."""
    st.subheader("Scheduled jobs")
    st.caption(
        f"The scheduler runs these by itself; times are in {time_zone.key}, the billing time "
        "zone. A job missed while the portal was down runs when it starts again."
    )
    by_name = {job.name: job for job in jobs}
    for run in runs:
        job = by_name[run.name]
        with st.container(border=True):
            st.markdown(f"**{markdown_escape(job.title)}** · {job.schedule.describe()}")
            last, following = st.columns(2)
            last.markdown(_last_run(run, time_zone))
            following.markdown(_next_run(run, time_zone))
            if run.last_summary:
                st.caption(markdown_escape(run.last_summary))
            if run.overdue and run.next_run_at is not None:
                st.warning(
                    f"Due since {_when(run.next_run_at, time_zone)} and not run: no scheduler "
                    "seems to be running. Start the portal with the scheduler on, or "
                    "`python -m portal_core scheduler`.",
                    icon=":material/schedule:",
                )


def _last_run(run: JobRun, time_zone: ZoneInfo) -> str:
    started = run.last_started_at
    if started is None:
        return "Last run: not yet"
    if run.running:
        return f"Last run: :blue[running] since {_when(started, time_zone)}"
    duration = run.last_duration
    if duration is None:
        return (
            f"Last run: {_when(started, time_zone)}, :red[did not finish] (its process "
            "stopped); it runs again"
        )
    outcome = ":green[succeeded]" if run.last_outcome == JobOutcome.SUCCEEDED else ":red[failed]"
    return f"Last run: {_when(started, time_zone)}, took {_took(duration)}, {outcome}"


def _next_run(run: JobRun, time_zone: ZoneInfo) -> str:
    if run.next_run_at is None:
        return "Next run: not scheduled yet (no scheduler has run since this job was added)"
    if run.running:
        return "Next run: set when this run finishes"
    if run.overdue:
        return f"Next run: :orange[due since] {_when(run.next_run_at, time_zone)}"
    return f"Next run: {_when(run.next_run_at, time_zone)}"


def _when(moment: datetime, time_zone: ZoneInfo) -> str:
    return f"{moment.astimezone(time_zone):%Y-%m-%d %H:%M}"


def _took(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    if seconds < 1:
        return "under a second"
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


# --- Run invoices ----------------------------------------------------------------------------


def run_form(labels: dict[str, str], *, time_zone: ZoneInfo) -> None:
    """The month to invoice (``labels``: period code → label, newest first) and the button
    that asks to confirm the run."""
    st.subheader("Run invoices")
    chosen = st.selectbox(
        "Month",
        list(labels),
        format_func=lambda code: f"{labels[code]} ({code})",
        key=PERIOD,
        help=f"Months end at midnight in the billing time zone, {time_zone.key}.",
    )
    st.button(
        f"Invoice {labels[chosen]}",
        type="primary",
        icon=":material/receipt:",
        key="staff.invoicing.start",
        on_click=confirm.ask,
        args=(ASKED,),
    )
    confirm.dialog(
        ASKED,
        title="Run invoices",
        message=f"Invoice {labels[chosen]} for every organization: each invoice is posted to "
        "its ledger and e-mailed to those who asked for invoice e-mails. Organizations already "
        "invoiced for the month are skipped.",
        confirm_label="Run invoices",
        action=_queue_run,
    )


def _queue_run() -> None:
    st.session_state[RUN] = st.session_state[PERIOD]


def queued_run(viewer: SessionView, labels: dict[str, str]) -> None:
    """The run confirmed on the last pass, if any, made now with its progress; its summary is
    kept for ``last_run``."""
    period = st.session_state.pop(RUN, None)
    if not period:
        return
    label = labels.get(period, period)
    with st.status(f"Invoicing {label}…", expanded=True) as status:
        bar = st.progress(0.0, text="Finding the organizations to invoice")

        def report(_period: str, done: int, total: int) -> None:
            bar.progress(
                done / total if total else 1.0, text=f"{done:,} of {total:,} organizations"
            )

        try:
            outcome = staff_billing.run_invoices(
                resources.engine(), viewer.actor, period=period, progress=report
            )
        except PortalError as error:
            status.update(label=f"{label} was not invoiced", state="error")
            st.error(error.message, icon=":material/error:")
        else:
            st.session_state[SUMMARY] = outcome
            status.update(
                label=f"{label}: the run is done",
                state="error" if outcome.failures else "complete",
                expanded=False,
            )


def last_run(labels: dict[str, str]) -> None:
    """The last run's summary: what it issued, skipped and failed, and why each failed."""
    summary = st.session_state.get(SUMMARY)
    if not isinstance(summary, RunSummary):
        return
    st.markdown(
        f"**Last run: {labels.get(summary.period, summary.period)}**, "
        f"{summary.organizations:,} organizations"
    )
    issued, skipped, nothing, failed = st.columns(4)
    issued.metric("Invoices issued", f"{summary.created:,}", border=True)
    skipped.metric("Already invoiced", f"{summary.already_invoiced:,}", border=True)
    nothing.metric("Nothing to invoice", f"{summary.nothing_to_invoice:,}", border=True)
    failed.metric("Failed", f"{len(summary.failures):,}", border=True)
    st.caption(
        f"{format_cents(summary.invoiced_cents)} invoiced by this run · "
        f"{summary.emails_queued:,} invoice e-mails queued"
    )
    if summary.failures:
        st.error(
            "These organizations were not invoiced; fix what each message says, then run "
            "the month again:",
            icon=":material/error:",
        )
        st.markdown(
            "\n".join(
                f"- **{markdown_escape(failure.organization_name)}**: "
                f"{markdown_escape(failure.message)}"
                for failure in summary.failures
            )
        )


# --- Balance check ---------------------------------------------------------------------------


def balance_check(viewer: SessionView, *, time_zone: ZoneInfo) -> None:
    """The balance check's button, and the last check's outcome: every difference found."""
    st.divider()
    st.subheader("Balance check")
    st.caption(
        "Recomputes each organization's cached balance from its ledger, and its unbilled usage "
        "from the usage records of months not invoiced yet, and lists every difference."
    )
    if st.button(
        "Run the balance check", icon=":material/fact_check:", key="staff.invoicing.run_check"
    ):
        try:
            with resources.writing() as session:
                st.session_state[CHECK] = (
                    utcnow(),
                    staff_billing.check_balances(session, viewer.actor),
                )
        except PortalError as error:
            st.error(error.message, icon=":material/error:")

    checked = st.session_state.get(CHECK)
    if not checked:
        return
    when, mismatches = checked
    st.caption(f"Checked at {when.astimezone(time_zone):%Y-%m-%d %H:%M} ({time_zone.key}).")
    if not mismatches:
        st.success("All cached balances match the ledger.", icon=":material/check_circle:")
        return
    st.error(
        f"Cached figures that differ from what they are recomputed from: {len(mismatches):,}.",
        icon=":material/error:",
    )
    widths = [3, 2, 2, 2, 2]
    for column, heading in zip(
        st.columns(widths),
        ["Organization", "Figure", "Cached", "Recomputed", "Difference"],
        strict=True,
    ):
        column.caption(heading)
    for mismatch in mismatches:
        name, figure, cached, recomputed, difference = st.columns(widths)
        name.markdown(markdown_escape(mismatch.organization_name))
        figure.markdown(mismatch.figure.value.capitalize())
        cached.markdown(markdown_escape(format_micros(mismatch.cached_micros)))
        recomputed.markdown(markdown_escape(format_micros(mismatch.recomputed_micros)))
        difference.markdown(
            markdown_escape(
                f"{format_micros(mismatch.difference_micros)} ({mismatch.difference_micros:,} µ$)"
            )
        )
