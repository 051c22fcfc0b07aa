"""Partner › Whois Profiles › Import CSV drawn: the dialog with the template, the file, a
progress bar while the rows are saved, then what became of them — the counts, the refused
rows with their reason, and the whole report as CSV (docs/product.md, Whois Profiles).

The dialog stays open across reruns while ``ASKED`` is set; once a file is imported its
report is kept under ``REPORT`` (the import is done: a rerun shows the report, never imports
again) until the dialog is closed or another file is chosen.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from portal_core.errors import PortalError
from portal_core.rules import numbers
from portal_core.services import whois_import
from portal_core.services.sessions import SessionView
from portal_core.services.whois_import import ImportReport
from portal_core.ui import confirm, resources
from portal_core.ui.text import markdown_escape

ASKED = "partner.whois_profiles.import"
REPORT = "partner.whois_profiles.import.report"
# Each file chosen gets a fresh uploader, so "Import another file" starts empty.
_GENERATION = "partner.whois_profiles.import.generation"
_REFUSED_SHOWN = 1_000  # the report CSV has every row


def button() -> None:
    st.button(
        "Import CSV",
        icon=":material/upload_file:",
        key="partner.whois_profiles.import_button",
        on_click=confirm.ask,
        args=(ASKED,),
        width="stretch",
        help="Register or update many numbers at once from a CSV file.",
    )


def dialog(viewer: SessionView) -> None:
    """While Import CSV is asked: the file to import, or the report of the one imported."""
    if not confirm.asked(ASKED):
        return

    @st.dialog("Import profiles from CSV", width="large", on_dismiss=_close)
    def import_dialog() -> None:
        report = st.session_state.get(REPORT)
        if isinstance(report, ImportReport):
            show_report(report)
            again, done = st.columns(2)
            again.button(
                "Import another file",
                key=f"{ASKED}.again",
                on_click=_another_file,
                width="stretch",
            )
            if done.button("Done", type="primary", key=f"{ASKED}.done", width="stretch"):
                _close()
                st.rerun()
            return
        st.markdown(
            "One profile a row, the first row naming the columns: `number`, `caller_name` and "
            "`line_type` are required; the others are those of the form. A number already in "
            "your Whois Profiles is updated (a column the file leaves out keeps its value), a "
            "new one is registered. This table's own CSV download imports back too. "
            f"At most {whois_import.MAX_ROWS:,} rows and "
            f"{whois_import.MAX_BYTES // 1024 // 1024} MB, in UTF-8."
        )
        st.download_button(
            "Template",
            data=whois_import.template_csv,
            file_name="whois-profiles-template.csv",
            mime="text/csv",
            key=f"{ASKED}.template",
            icon=":material/download:",
            on_click="ignore",
        )
        generation = st.session_state.setdefault(_GENERATION, 0)
        uploaded = st.file_uploader("CSV file", type=["csv"], key=f"{ASKED}.file.{generation}")
        if st.button(
            "Import",
            type="primary",
            icon=":material/upload:",
            key=f"{ASKED}.run",
            disabled=uploaded is None,
        ):
            if uploaded is not None and import_file(viewer, uploaded.getvalue()):
                st.rerun()

    import_dialog()


def import_file(viewer: SessionView, data: bytes) -> bool:
    """Import ``data`` with a progress bar and keep its report for the dialog; a file refused
    whole is said where the bar was. Whether it was imported."""
    bar = st.progress(0.0, text="Reading the file…")

    def advanced(done: int, total: int) -> None:
        bar.progress(done / total, text=f"Saved {done:,} of {total:,} rows…")

    try:
        report = whois_import.import_profiles(
            resources.engine(), viewer.actor, data, progress=advanced
        )
    except PortalError as refused:
        bar.empty()
        st.error(refused.message, icon=":material/error:")
        return False
    st.session_state[REPORT] = report
    return True


def show_report(report: ImportReport) -> None:
    """What became of each row: the counts, the refused rows and why, the report as CSV."""
    if report.refused:
        st.warning(
            f"Imported, but {report.refused:,} rows were refused: correct them and import "
            "them again (the others are saved).",
            icon=":material/warning:",
        )
    else:
        st.success("Imported: every row is saved.", icon=":material/check_circle:")
    columns = st.columns(4)
    for column, (label, figure) in zip(
        columns,
        (
            ("Added", report.added),
            ("Updated", report.updated),
            ("Disputed", report.disputed),
            ("Refused", report.refused),
        ),
        strict=True,
    ):
        column.metric(label, f"{figure:,}")
    if report.disputed:
        st.info(
            "Another organization holds the disputed numbers: their profiles wait, pending, "
            "until their ownership is decided (see Ownership disputes below the table).",
            icon=":material/gavel:",
        )
    if report.ignored_columns:
        st.caption(
            "Not imported: the columns "
            + ", ".join(f"“{markdown_escape(name)}”" for name in report.ignored_columns)
            + " (the import reads the form's fields only)."
        )
    refused = report.refused_rows
    if refused:
        st.markdown("**Refused rows**")
        listed = refused[:_REFUSED_SHOWN]
        st.dataframe(
            pd.DataFrame(
                {
                    "row": [row.row_number for row in listed],
                    "number": [numbers.shown(row.number) for row in listed],
                    "reason": [row.message for row in listed],
                }
            ),
            hide_index=True,
            width="stretch",
            column_config={
                "row": st.column_config.NumberColumn("Row", format="%d"),
                "number": st.column_config.TextColumn("Number"),
                "reason": st.column_config.TextColumn("Reason", width="large"),
            },
        )
        if len(refused) > len(listed):
            st.caption(
                f"The first {len(listed):,} of {len(refused):,} refused rows: the report has "
                "them all."
            )
    st.download_button(
        "Report (CSV)",
        data=report.report_csv,  # built when clicked
        file_name="whois-import-report.csv",
        mime="text/csv",
        key=f"{ASKED}.report_csv",
        icon=":material/download:",
        on_click="ignore",
    )


def _another_file() -> None:
    st.session_state.pop(REPORT, None)
    st.session_state[_GENERATION] = st.session_state.get(_GENERATION, 0) + 1


def _close() -> None:
    _another_file()
    confirm.ask(ASKED, False)
