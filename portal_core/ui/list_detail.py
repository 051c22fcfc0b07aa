"""A list whose row opens in a detail: selecting a row of the table widget records its id in a
query parameter (``?invoice=<id>``, ``?payment=<id>``, ``?organization=<id>``), which is the
one record of what is open, so a link to the detail can be shared, bookmarked or sent in a
notice; closing it drops the parameter and unselects the row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, tzinfo
from typing import TypeVar

import streamlit as st
from sqlmodel import Session

from portal_core.errors import NotFound
from portal_core.queries.listing import Listing
from portal_core.ui import resources, table
from portal_core.ui.table import OnSelect

T = TypeVar("T")


def listing_table(listing: Listing, *, key: str, param: str, time_zone: tzinfo = UTC) -> None:
    """The table widget over ``listing``, whose selected row opens by ``?param=<id>``."""
    table.data_table(listing, key=key, on_select=open_on_select(param), time_zone=time_zone)


def open_on_select(param: str) -> OnSelect:
    """A table's ``on_select`` that opens the selected row by ``?param=<id>`` (and closes it
    when the selection is cleared)."""

    def opened(row_id: object | None) -> None:
        if row_id is None:
            st.query_params.pop(param, None)
        else:
            st.query_params[param] = str(row_id)

    return opened


def close(param: str, table_key: str, *forget: str) -> None:
    """Close what ``?param=`` opened: drop the parameter, unselect the row of table
    ``table_key``, and forget the session-state keys ``forget`` (a pending confirmation)."""
    st.query_params.pop(param, None)
    table.clear_selection(table_key)
    for key in forget:
        st.session_state.pop(key, None)


def detail_heading(
    title: str,
    *,
    close_key: str,
    param: str,
    table_key: str,
    forget: tuple[str, ...] = (),
    outcome_key: str | None = None,
) -> None:
    """A detail opened below its list: a rule, its title with a Close button (see ``close``),
    and the outcome of the last action on it, kept under ``outcome_key`` and said once."""
    st.divider()
    heading, close_column = st.columns([6, 1], vertical_alignment="center")
    heading.subheader(title)
    close_column.button(
        "Close",
        key=close_key,
        icon=":material/close:",
        on_click=close,
        args=(param, table_key, *forget),
        width="stretch",
    )
    outcome = st.session_state.pop(outcome_key, None) if outcome_key else None
    if outcome:
        st.success(outcome, icon=":material/check_circle:")


def back_button(label: str, *, key: str, param: str, table_key: str) -> None:
    """The button from a detail back to its list ("All invoices")."""
    st.button(
        label,
        key=key,
        icon=":material/arrow_back:",
        on_click=close,
        args=(param, table_key),
    )


def opened(param: str, read: Callable[[Session, uuid.UUID], T], *, noun: str) -> T | None:
    """What ``?param=<id>`` names, read by ``read`` in a reading session of its own; None when
    nothing is open, or (said on screen, by ``read_opened``) when the link names nothing the
    viewer may see."""
    raw = st.query_params.get(param)
    if not raw:
        return None

    def in_session(item_id: uuid.UUID) -> T:
        with resources.reading() as session:
            return read(session, item_id)

    return read_opened(raw, in_session, noun=noun)


def read_opened(raw: str, read: Callable[[uuid.UUID], T], *, noun: str) -> T | None:
    """What the link's ``raw`` id names, read by ``read``; None, said on screen, when it names
    nothing the viewer may see (not an id, or another organization's: simply not found)."""
    try:
        return read(uuid.UUID(raw))
    except (ValueError, NotFound):
        st.warning(
            f"That {noun} was not found. It may belong to another organization, or the link "
            "may be incomplete.",
            icon=":material/search_off:",
        )
        return None
