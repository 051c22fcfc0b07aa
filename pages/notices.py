"""Notices: every notice the bell counts, newest first; opening one marks it read
(docs/product.md, The shell). A notice opens from its row, or from the bell's "Open" link
(``?notice=<id>``). Partners see their organization's notices; staff see the staff notices."""

import uuid

import streamlit as st

from portal_core.errors import NotFound
from portal_core.queries import notices
from portal_core.queries.notices import NoticeItem
from portal_core.services import notices as notice_services
from portal_core.services import platform
from portal_core.ui import list_detail, resources, shell, state
from portal_core.ui.text import markdown_escape

viewer = shell.open_page("notices")

LIST = "notices.list"


def mark_all_read() -> None:
    with resources.writing() as session:
        marked = notice_services.mark_all_read(session, viewer.actor)
    state.flash(f"{marked:,} notice{'' if marked == 1 else 's'} marked as read.")


asked = st.query_params.get(shell.NOTICE_PARAM)
opened: NoticeItem | None = None
if asked:
    try:
        with resources.reading() as session:
            opened = notices.notice(session, viewer.actor, uuid.UUID(asked))
    except (ValueError, NotFound):
        opened = None
    if opened is not None and opened.unread:
        with resources.writing() as session:
            notice_services.mark_read(session, viewer.actor, opened.id)
        st.rerun()  # again, so the bell's count and the list show it read

with resources.reading() as session:
    time_zone = platform.billing_time_zone(session)
    unread = notices.unread_count(session, viewer.actor)

st.title("Notices")
st.caption(
    (
        "E-mails that could not be sent, and whatever else SIPSTACK staff should know."
        if viewer.is_staff
        else "Low balances, failed payments, new invoices and whatever else your organization "
        "should know."
    )
    + " Select a notice to open it; opening it marks it read."
)
st.button(
    "Mark all as read",
    key="notices.mark_all",
    icon=":material/done_all:",
    disabled=unread == 0,
    on_click=mark_all_read,
)

if asked and opened is None:
    st.warning("That notice was not found.", icon=":material/search_off:")
if opened is not None:
    with st.container(border=True):
        heading, close = st.columns([6, 1], vertical_alignment="center")
        heading.subheader(markdown_escape(opened.title))
        close.button(
            "Close",
            key="notices.close",
            icon=":material/close:",
            on_click=list_detail.close,
            args=(shell.NOTICE_PARAM, LIST),
            width="stretch",
        )
        when = opened.created_at.astimezone(time_zone)
        st.caption(f"{opened.kind_label} · {when:%Y-%m-%d %H:%M} ({time_zone.key})")
        st.markdown(markdown_escape(opened.body))
        target = shell.linked_page(viewer, opened.link_page_id)
        if target is not None:
            st.page_link(target.script, label=f"Go to {target.title}", icon=target.icon)

list_detail.listing_table(
    notices.notices(viewer.actor), key=LIST, param=shell.NOTICE_PARAM, time_zone=time_zone
)
