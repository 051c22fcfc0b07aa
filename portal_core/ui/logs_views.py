"""Analytics › Logs drawn (docs/product.md, Pages › Logs): the volume chart over the date range
the table's filter chose, the table of events, one event opened from its row or a link
(``?event=<id>``), and the empty state of an organization with no events yet.

The chart follows the table's date filter (the last 30 days when none is chosen), so the two
always describe the same days; it counts the daily roll-up, so the table's other filters do
not narrow it.
"""

from __future__ import annotations

import uuid
from datetime import datetime, tzinfo

import streamlit as st

from portal_core.money import format_unit_price
from portal_core.permissions import Capability
from portal_core.queries import logs
from portal_core.queries.listing import Listing
from portal_core.queries.logs import ACTIONS, PRODUCTS, STATUSES, EventView
from portal_core.rules.lookup_types import lookup_type_name
from portal_core.rules.scoring import format_score
from portal_core.services.sessions import SessionView
from portal_core.ui import charts, list_detail, resources, table
from portal_core.ui.registry import BY_ID
from portal_core.ui.text import markdown_escape

EVENT_PARAM = "event"
TABLE_KEY = "analytics.logs"
DATE_FILTER = "created"
SMART_CNAM_PAGE = "partner.smart_cnam"


def empty_state(viewer: SessionView) -> None:
    """What will appear here, and where lookups are made."""
    st.info(
        "No events yet. Every Smart CNAM lookup (priced or refused), every change to your "
        "Whois Profiles and every community report appears here, with who made it, the "
        "numbers, the result, its score, cost and latency.",
        icon=":material/receipt_long:",
    )
    smart_cnam = BY_ID[SMART_CNAM_PAGE]
    if viewer.actor.can(Capability.LOOKUP):
        st.page_link(smart_cnam.script, label="Make a lookup in Smart CNAM", icon=smart_cnam.icon)
    else:
        st.caption("Owners, admins and developers make lookups, in Smart CNAM.")


def volume_chart(viewer: SessionView, listing: Listing, *, time_zone: tzinfo) -> None:
    """Events per day over the table's date range, by lookup type and other action."""
    today = datetime.now(time_zone).date()
    window = logs.chart_window(table.chosen(listing, TABLE_KEY, DATE_FILTER), today)
    assert window.start is not None and window.end is not None
    with resources.reading() as session:
        volume = logs.volume_by_day(session, viewer.actor, window)
    st.subheader("Volume", anchor=False)
    st.caption(
        f"Events per day from {window.start:%B %-d, %Y} to {window.end:%B %-d, %Y} (billing "
        f"time zone): {volume.total:,} in all, by lookup type and other action. The table's "
        "date filter sets these days."
    )
    st.plotly_chart(
        charts.volume_by_day(volume, empty_message="No events on these days."),
        key="analytics.logs.volume",
        config={"displayModeBar": False},
        alt="Stacked bars of events per day by lookup type and other action.",
    )


def event_table(listing: Listing, *, time_zone: tzinfo) -> None:
    st.subheader("Events", anchor=False)
    st.caption(
        "Newest first. Costs are in USD (lookups within your plan's allowance cost nothing); "
        "scores run from 0.000 to 5.000. Select an event for all of it."
    )
    list_detail.listing_table(listing, key=TABLE_KEY, param=EVENT_PARAM, time_zone=time_zone)


def all_events_button() -> None:
    list_detail.back_button(
        "All events", key="analytics.logs.back", param=EVENT_PARAM, table_key=TABLE_KEY
    )


def opened_event(viewer: SessionView, raw: str) -> EventView | None:
    def read(event_id: uuid.UUID) -> EventView:
        with resources.reading() as session:
            return logs.event(session, viewer.actor, event_id)

    return list_detail.read_opened(raw, read, noun="event")


def event(found: EventView, *, time_zone: tzinfo) -> None:
    """Every field of one event, the result in full (the table may cut a long one)."""
    what = ACTIONS.get(found.action, found.action)
    if found.lookup_type:
        what = f"{lookup_type_name(found.lookup_type)} {what.lower()}"
    st.subheader(f"{what}, {found.created_at.astimezone(time_zone):%Y-%m-%d %H:%M:%S}")
    fields: list[tuple[str, str]] = [
        ("Product", PRODUCTS.get(found.product, found.product)),
        ("Status", STATUSES.get(found.status, found.status)),
        ("User", found.user_name or "—"),
        *([("API token", found.token_name)] if found.token_name else []),
        ("Number", found.number or "—"),
    ]
    if found.destination:
        fields.append(("Destination", found.destination))
    fields += [
        ("Score", "—" if found.score_millis is None else format_score(found.score_millis)),
        ("Cost", format_unit_price(found.cost_micros)),
        ("Latency", "—" if found.latency_ms is None else f"{found.latency_ms:,} ms"),
    ]
    st.markdown("  \n".join(f"**{label}:** {markdown_escape(value)}" for label, value in fields))
    st.markdown("**Result:**")
    st.text(found.result or "—")
