"""Plotly figures of the Dashboard and of Logs, built from the read side's results (no SQL
here).

Each lookup type keeps one colour on every chart (Okabe–Ito's colour-blind-safe palette), money
axes read in US dollars, and a chart with nothing to draw says so in words instead of showing
empty axes. Amounts arrive in integer micro-dollars or cents; they become Decimal dollars only
as plot coordinates, and every figure a partner reads (hover labels) is ``money.py``'s.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import plotly.graph_objects as go

from portal_core.models.billing import LookupType
from portal_core.money import MICROS_PER_DOLLAR, format_cents, format_micros
from portal_core.queries.dashboard import BalanceHistory, SpendByMonth
from portal_core.queries.logs import VolumeByDay
from portal_core.rules.lookup_types import lookup_type_name

LOOKUP_TYPE_COLOURS: dict[str, str] = {
    LookupType.SOURCE_RISK.value: "#D55E00",  # vermilion
    LookupType.CALLER_ID.value: "#0072B2",  # blue
    LookupType.REGIONAL.value: "#009E73",  # bluish green
    LookupType.TELCO_CARRIER.value: "#E69F00",  # orange
    LookupType.ONLINE_PROFILES.value: "#CC79A7",  # reddish purple
}
# Logs' other actions, after the lookup types (the palette's remaining colours).
ACTION_COLOURS: dict[str, str] = {
    "registration": "#56B4E9",  # sky blue
    "edit": "#F0E442",  # yellow
    "deletion": "#000000",  # black
}
OTHER_COLOUR = "#7F8C8D"  # a lookup type or action added later, until it gets its own
BALANCE_COLOUR = "#16A34A"  # the theme's primary green
HEIGHT = 320
_LOOKUP_ORDER = {lookup_type.value: index for index, lookup_type in enumerate(LookupType)}


def spend_by_month(spend: SpendByMonth) -> go.Figure:
    """Stacked bars: each month's usage cost, one colour per lookup type."""
    if not spend.rows:
        return empty(
            f"No usage cost in the last {len(spend.months)} months: requests within your "
            "plan's allowance cost nothing."
        )
    labels = [month_label(month) for month in spend.months]
    figure = go.Figure()
    lookup_types = sorted(
        {row.lookup_type for row in spend.rows},
        key=lambda lookup_type: (_LOOKUP_ORDER.get(lookup_type, len(_LOOKUP_ORDER)), lookup_type),
    )
    for lookup_type in lookup_types:
        by_month = {row.month: row for row in spend.rows if row.lookup_type == lookup_type}
        months = [by_month.get(month) for month in spend.months]
        figure.add_trace(
            go.Bar(
                name=lookup_type_name(lookup_type),
                x=labels,
                y=[_dollars(row.cost_micros) if row else None for row in months],
                customdata=[
                    [format_micros(row.cost_micros), f"{row.billable_requests:,}"] if row else None
                    for row in months
                ],
                hovertemplate=(
                    "%{fullData.name}: %{customdata[0]} "
                    "(%{customdata[1]} requests beyond the allowance)<extra></extra>"
                ),
                marker_color=LOOKUP_TYPE_COLOURS.get(lookup_type, OTHER_COLOUR),
            )
        )
    largest = max(_month_totals(spend).values())
    # Plotly lists stacked traces bottom-up; left to right reads better in a legend on top.
    figure.update_layout(barmode="stack", hovermode="x unified", legend_traceorder="normal")
    _layout(figure, tick_format=",.2f" if largest >= MICROS_PER_DOLLAR else ",.4f")
    return figure


def balance_over_time(history: BalanceHistory) -> go.Figure:
    """A step line of the balance at the end of each day; a zero line once it goes below."""
    if not history.has_entries:
        return empty(
            "No transactions yet: your balance is drawn here from your first payment or credit."
        )
    days = [point.day for point in history.days]
    figure = go.Figure(
        go.Scatter(
            name="Balance",
            x=days,
            y=[Decimal(point.balance_cents) / 100 for point in history.days],
            customdata=[format_cents(point.balance_cents) for point in history.days],
            hovertemplate="%{x|%b %-d, %Y}: %{customdata}<extra></extra>",
            mode="lines",
            line_shape="hv",
            line_color=BALANCE_COLOUR,
        )
    )
    if min(point.balance_cents for point in history.days) < 0:
        figure.add_hline(y=0, line_dash="dot", line_color=OTHER_COLOUR)
    _layout(figure, tick_format=",.2f")
    figure.update_layout(showlegend=False)
    return figure


def volume_by_day(volume: VolumeByDay, *, empty_message: str) -> go.Figure:
    """Stacked bars: each day's events, one colour per lookup type, then per other action."""
    if not volume.points:
        return empty(empty_message)
    figure = go.Figure()
    series = sorted(
        volume.series_names,
        key=lambda key: (_LOOKUP_ORDER.get(key, len(_LOOKUP_ORDER)), key),
    )
    for key in series:
        by_day = {point.day: point.events for point in volume.points if point.series == key}
        figure.add_trace(
            go.Bar(
                name=volume.series_names[key],
                x=volume.days,
                y=[by_day.get(day) for day in volume.days],
                hovertemplate="%{fullData.name}: %{y:,}<extra></extra>",
                marker_color=LOOKUP_TYPE_COLOURS.get(key, ACTION_COLOURS.get(key, OTHER_COLOUR)),
            )
        )
    figure.update_layout(
        barmode="stack",
        hovermode="x unified",
        legend_traceorder="normal",
        height=HEIGHT,
        margin={"l": 8, "r": 8, "t": 32, "b": 8},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        yaxis={"tickformat": ",d", "title": {"text": "Events"}, "rangemode": "tozero"},
        xaxis={"type": "date", "tickformat": "%b %-d"},
    )
    return figure


def empty(message: str) -> go.Figure:
    """A chart's empty state: the message in the middle, no axes to puzzle over."""
    figure = go.Figure()
    figure.add_annotation(
        text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font_size=14
    )
    figure.update_layout(
        height=HEIGHT // 2,
        xaxis_visible=False,
        yaxis_visible=False,
        margin={"l": 8, "r": 8, "t": 8, "b": 8},
    )
    return figure


def month_label(month: str) -> str:
    """ "2026-11" as "Nov 2026"."""
    return date(int(month[:4]), int(month[5:7]), 1).strftime("%b %Y")


def _dollars(micros: int) -> Decimal:
    return Decimal(micros) / MICROS_PER_DOLLAR


def _month_totals(spend: SpendByMonth) -> dict[str, int]:
    totals: dict[str, int] = {}
    for row in spend.rows:
        totals[row.month] = totals.get(row.month, 0) + row.cost_micros
    return totals


def _layout(figure: go.Figure, *, tick_format: str) -> None:
    figure.update_layout(
        height=HEIGHT,
        margin={"l": 8, "r": 8, "t": 32, "b": 8},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        yaxis={"tickprefix": "$", "tickformat": tick_format, "title": {"text": "USD"}},
    )
