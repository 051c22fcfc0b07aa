"""The table widget that every list of the portal uses.

It draws a ``queries.listing.Listing``: above the table a *filter* button (a popover with the
list's filters, applied together by a form) and a *gear* button (rows per page, sort, order),
the "Showing 21–40 of 1,234" line and a CSV download of every filtered row; then the page as
a ``st.dataframe``; then the pager. The database filters, sorts, counts and pages
(docs/architecture.md, rule 9): the data frame holds one page, never the table.

Every session-state key starts with the widget's ``key``, so two tables on one screen keep
apart. The filter, sort and page-size choices persist for the session; the page number too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any

import pandas as pd
import streamlit as st

from portal_core import db
from portal_core.errors import ValidationFailed
from portal_core.money import format_cents
from portal_core.queries.listing import (
    DEFAULT_PAGE_SIZE,
    PAGE_SIZES,
    ChoiceFilter,
    Column,
    ColumnKind,
    DateRange,
    DateRangeFilter,
    Filter,
    FilterValue,
    Listing,
    ListQuery,
    Page,
    TextFilter,
    csv_file_name,
    export_csv,
    fetch_page,
)
from portal_core.rules.scoring import format_score
from portal_core.ui import resources

RowKey = Any
OnSelect = Callable[[RowKey | None], None]

_ORDERS = {"desc": "Descending", "asc": "Ascending"}


def data_table(
    listing: Listing,
    *,
    key: str,
    on_select: OnSelect | None = None,
    time_zone: tzinfo = UTC,
) -> RowKey | None:
    """Draw ``listing`` and return the key of the selected row, if any.

    With ``on_select``, a row can be selected (one at a time); ``on_select`` is called with
    its key when the selection changes, and with ``None`` when it is cleared.
    """
    _init(listing, key)
    query = _query(listing, key, time_zone)
    try:
        with resources.reading() as session:
            page = fetch_page(session, listing, query)
    except ValidationFailed as error:
        _toolbar(listing, key, query, page=None)
        st.error(error.message, icon=":material/error:")
        st.button(
            "Clear filters",
            key=f"{key}.clear_after_error",
            icon=":material/filter_alt_off:",
            on_click=_clear_filters,
            args=(listing, key),
        )
        return None
    st.session_state[f"{key}.page"] = page.page  # past the end, the query read the last page
    _toolbar(listing, key, query, page=page)
    if page.total == 0:
        _empty(listing, key, query)
        return None
    selected = _grid(listing, key, query, page, on_select)
    _pager(key, page)
    return selected


def chosen(listing: Listing, key: str, filter_key: str) -> FilterValue:
    """What filter ``filter_key`` of table ``key`` holds (None: nothing chosen), so that what
    a page draws beside the table (a chart) follows the same choice."""
    filter_ = listing.filter(filter_key)
    if filter_ is None:
        raise KeyError(f"{listing.noun} have no filter {filter_key!r}")
    return _filter_value(key, filter_)


def clear_selection(key: str) -> None:
    """Forget the selected row of table ``key`` (e.g. when the row's detail is closed)."""
    st.session_state[f"{key}.grid_generation"] = (
        st.session_state.get(f"{key}.grid_generation", 0) + 1
    )


# --- State -----------------------------------------------------------------------------


def _init(listing: Listing, key: str) -> None:
    st.session_state.setdefault(f"{key}.page", 1)
    st.session_state.setdefault(f"{key}.grid_generation", 0)
    st.session_state.setdefault(f"{key}.page_size", DEFAULT_PAGE_SIZE)
    st.session_state.setdefault(f"{key}.sort", listing.default_sort)
    st.session_state.setdefault(f"{key}.order", "desc" if listing.default_descending else "asc")


def _query(listing: Listing, key: str, time_zone: tzinfo) -> ListQuery:
    sort = st.session_state[f"{key}.sort"]
    if listing.sort(sort) is None:  # a list whose sorts changed since this session chose one
        sort = listing.default_sort
    return ListQuery(
        filters={filter_.key: _filter_value(key, filter_) for filter_ in listing.filters},
        sort=sort,
        descending=st.session_state[f"{key}.order"] == "desc",
        page=st.session_state[f"{key}.page"],
        page_size=st.session_state[f"{key}.page_size"],
        time_zone=time_zone,
    )


def _filter_key(key: str, filter_: Filter, part: str = "") -> str:
    return f"{key}.filter.{filter_.key}{part}"


def _filter_value(key: str, filter_: Filter) -> FilterValue:
    if isinstance(filter_, DateRangeFilter):
        start = st.session_state.get(_filter_key(key, filter_, ".from"))
        end = st.session_state.get(_filter_key(key, filter_, ".to"))
        if start is None and end is None:
            return None
        return DateRange(start=start, end=end)
    value = st.session_state.get(_filter_key(key, filter_))
    return value or None


def _active_filter_count(query: ListQuery) -> int:
    return sum(1 for value in query.filters.values() if value not in (None, ""))


def _first_page(key: str) -> None:
    st.session_state[f"{key}.page"] = 1


def _clear_filters(listing: Listing, key: str) -> None:
    for filter_ in listing.filters:
        if isinstance(filter_, DateRangeFilter):
            st.session_state[_filter_key(key, filter_, ".from")] = None
            st.session_state[_filter_key(key, filter_, ".to")] = None
        else:
            st.session_state[_filter_key(key, filter_)] = ""
    _first_page(key)


def _turn_page(key: str, step: int) -> None:
    st.session_state[f"{key}.page"] = max(1, st.session_state[f"{key}.page"] + step)


# --- Drawing ---------------------------------------------------------------------------


def _toolbar(listing: Listing, key: str, query: ListQuery, *, page: Page | None) -> None:
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        if listing.filters:
            _filter_popover(listing, key, query)
        _gear_popover(listing, key)
        if page is not None and page.total:
            st.caption(
                f"Showing {page.first_number:,}–{page.last_number:,} of {page.total:,} "
                f"{listing.noun}",
                width="content",
            )
            st.space("stretch")
            _download_button(listing, key, query)


def _filter_popover(listing: Listing, key: str, query: ListQuery) -> None:
    active = _active_filter_count(query)
    label = f"Filter · {active}" if active else "Filter"
    with st.popover(label, icon=":material/filter_list:", help=f"Filter the {listing.noun}"):
        with st.form(f"{key}.filter_form", border=False):
            for filter_ in listing.filters:
                _filter_input(key, filter_)
            apply, clear = st.columns(2)
            apply.form_submit_button(
                "Apply",
                type="primary",
                key=f"{key}.apply_filters",
                on_click=_first_page,
                args=(key,),
                width="stretch",
            )
            clear.form_submit_button(
                "Clear",
                key=f"{key}.clear_filters",
                on_click=_clear_filters,
                args=(listing, key),
                width="stretch",
            )


def _filter_input(key: str, filter_: Filter) -> None:
    if isinstance(filter_, TextFilter):
        st.text_input(
            filter_.label,
            key=_filter_key(key, filter_),
            placeholder=filter_.placeholder,
            max_chars=200,
            persist_state="session",
        )
    elif isinstance(filter_, ChoiceFilter):
        labels = {choice.value: choice.label for choice in filter_.choices}
        st.selectbox(
            filter_.label,
            ["", *labels],
            format_func=lambda value: labels.get(value, "Any"),
            key=_filter_key(key, filter_),
            persist_state="session",
        )
    else:
        start, end = st.columns(2)
        start.date_input(
            f"{filter_.label} from",
            value=None,
            key=_filter_key(key, filter_, ".from"),
            format="YYYY-MM-DD",
            persist_state="session",
        )
        end.date_input(
            f"{filter_.label} to",
            value=None,
            key=_filter_key(key, filter_, ".to"),
            format="YYYY-MM-DD",
            persist_state="session",
        )


def _gear_popover(listing: Listing, key: str) -> None:
    with st.popover("", icon=":material/settings:", help="Rows per page and sort order"):
        st.segmented_control(
            "Rows per page",
            PAGE_SIZES,
            required=True,
            key=f"{key}.page_size",
            persist_state="session",
            on_change=_first_page,
            args=(key,),
        )
        sorts = {sort.key: sort.label for sort in listing.sorts}
        st.selectbox(
            "Sort by",
            list(sorts),
            format_func=lambda value: sorts.get(value, value),
            key=f"{key}.sort",
            persist_state="session",
            on_change=_first_page,
            args=(key,),
        )
        st.segmented_control(
            "Order",
            list(_ORDERS),
            format_func=lambda value: _ORDERS[value],
            required=True,
            key=f"{key}.order",
            persist_state="session",
            on_change=_first_page,
            args=(key,),
        )


def _download_button(listing: Listing, key: str, query: ListQuery) -> None:
    # Streamlit calls ``build`` only when the button is clicked (on a thread of its own, so
    # it takes the engine with it): a page view never reads the whole filtered list.
    engine = resources.engine()
    everything = ListQuery(
        filters=query.filters,
        sort=query.sort,
        descending=query.descending,
        page_size=query.page_size,
        time_zone=query.time_zone,
    )

    def build() -> bytes:
        with db.read_session(engine) as session:
            return export_csv(session, listing, everything)

    st.download_button(
        "CSV",
        data=build,
        file_name=csv_file_name(listing, datetime.now(query.time_zone).date()),
        mime="text/csv",
        key=f"{key}.csv",
        icon=":material/download:",
        on_click="ignore",
        help=f"Download every {listing.noun.removesuffix('s')} that matches the filters",
    )


def _empty(listing: Listing, key: str, query: ListQuery) -> None:
    if _active_filter_count(query):
        st.info(f"No {listing.noun} match these filters.", icon=":material/filter_alt_off:")
        st.button(
            "Clear filters",
            key=f"{key}.clear_when_empty",
            icon=":material/filter_alt_off:",
            on_click=_clear_filters,
            args=(listing, key),
        )
    else:
        st.info(
            listing.empty_message or f"There are no {listing.noun} yet.", icon=":material/inbox:"
        )


def _grid(
    listing: Listing, key: str, query: ListQuery, page: Page, on_select: OnSelect | None
) -> RowKey | None:
    columns = [column for column in listing.columns if column.in_table]
    frame = pd.DataFrame({column.key: _shown(column, page, query.time_zone) for column in columns})
    options: dict[str, Any] = {
        "hide_index": True,
        "column_config": {column.key: _column_config(column) for column in columns},
        "width": "stretch",
        "height": "content",  # a page has at most 50 rows: show them all, no inner scroll
        "placeholder": "—",
    }
    if on_select is None:
        st.dataframe(frame, **options)
        return None
    # A new grid (and so no stale selection) whenever other rows are shown.
    grid_key = f"{key}.grid.{query.fingerprint()}.{st.session_state[f'{key}.grid_generation']}"
    keys = list(page.keys)

    def selection_changed() -> None:
        on_select(_selected(st.session_state.get(grid_key), keys))

    event = st.dataframe(
        frame,
        **options,
        key=grid_key,
        on_select=selection_changed,
        selection_mode="single-row",
    )
    return _selected(event, keys)


def _selected(event: Any, keys: list[RowKey]) -> RowKey | None:
    rows = list(event["selection"]["rows"]) if event else []
    if rows and 0 <= rows[0] < len(keys):
        return keys[rows[0]]
    return None


def _shown(column: Column, page: Page, zone: tzinfo) -> pd.Series:
    values = [row[column.key] for row in page.rows]
    if column.formatter is not None:
        return pd.Series([column.shown(value) for value in values], dtype="object")
    if column.kind is ColumnKind.DATETIME:
        return pd.Series(pd.to_datetime(values, utc=True)).dt.tz_convert(zone)
    if column.kind is ColumnKind.MONEY_CENTS:
        return pd.Series([None if v is None else format_cents(int(v)) for v in values])
    if column.kind is ColumnKind.NUMBER:
        return pd.Series(values, dtype="Int64")
    if column.kind is ColumnKind.SCORE:
        return pd.Series([None if v is None else format_score(int(v)) for v in values])
    return pd.Series([column.shown(value) for value in values], dtype="object")


def _column_config(column: Column) -> Any:
    if column.kind is ColumnKind.DATETIME:
        return st.column_config.DatetimeColumn(
            column.label, help=column.help, format="YYYY-MM-DD HH:mm"
        )
    if column.kind in (ColumnKind.MONEY_CENTS, ColumnKind.SCORE) or column.formatter is not None:
        # Figures written as text (money, scores) still line up on the right.
        return st.column_config.TextColumn(column.label, help=column.help, alignment="right")
    if column.kind is ColumnKind.NUMBER:
        return st.column_config.NumberColumn(column.label, help=column.help, format="localized")
    return st.column_config.TextColumn(column.label, help=column.help)


def _pager(key: str, page: Page) -> None:
    if page.page_count == 1:
        return
    with st.container(horizontal=True, vertical_alignment="center", gap="medium"):
        st.button(
            "Previous",
            key=f"{key}.previous",
            icon=":material/chevron_left:",
            disabled=page.page <= 1,
            on_click=_turn_page,
            args=(key, -1),
        )
        st.caption(f"Page {page.page:,} of {page.page_count:,}", width="content")
        st.button(
            "Next",
            key=f"{key}.next",
            icon=":material/chevron_right:",
            icon_position="right",
            disabled=page.page >= page.page_count,
            on_click=_turn_page,
            args=(key, 1),
        )
