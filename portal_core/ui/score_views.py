"""Scores drawn: a score with its remark, why it is what it is (each factor, how it is
weighed, its effect, and a small chart of the effects), a number's score history, and the
carrier score with what would raise it (docs/product.md, Smart CNAM lookups and scores).

Labels that carry a partner's text go through ``ui.text``'s escaping
(docs/architecture.md, rule 11); Plotly draws text as text, not markdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from portal_core.rules import scoring
from portal_core.rules.carrier_score import CarrierScore
from portal_core.rules.scoring import Factor

RAISES = "#16A34A"  # the theme's green
LOWERS = "#D55E00"  # vermilion (Okabe–Ito), readable by the colour-blind against the green
HEIGHT_PER_FACTOR = 34
SAFE_FROM_MILLIS = 3000  # the Safe band's lower bound


def score_metric(label: str, millis: int | None, *, help: str | None = None) -> None:
    """A score as a metric with its remark ("4.250 · Trusted"), or "Not scored yet"."""
    if millis is None:
        st.metric(label, "Not scored yet", help=help)
        return
    band = scoring.band_of(millis)
    st.metric(
        label,
        scoring.format_score(millis),
        delta=band.remark,
        delta_color=_tone(band),
        delta_arrow="off",
        help=help,
    )


def _tone(band: scoring.Band) -> Literal["red", "orange", "green"]:
    """Red for the spam bands, orange for Spam Possible/Recovering, green from Safe up."""
    if band.spam:
        return "red"
    return "green" if band.lower_millis >= SAFE_FROM_MILLIS else "orange"


def factors_chart(factors: Sequence[Factor]) -> go.Figure:
    """Horizontal bars: each factor's effect in points, green up, vermilion down."""
    shown = [factor for factor in factors if factor.effect_millis != 0] or list(factors)
    labels = [factor.label for factor in shown]
    effects = [factor.effect_millis / 1000 for factor in shown]
    figure = go.Figure(
        go.Bar(
            x=effects,
            y=labels,
            orientation="h",
            marker_color=[RAISES if effect >= 0 else LOWERS for effect in effects],
            text=[f"{effect:+.3f}" for effect in effects],
            textposition="auto",
            hovertemplate="%{y}: %{x:+.3f}<extra></extra>",
        )
    )
    figure.update_layout(
        height=max(120, HEIGHT_PER_FACTOR * len(shown) + 48),
        margin={"l": 8, "r": 8, "t": 8, "b": 8},
        xaxis={"title": {"text": "points"}, "zeroline": True},
        yaxis={"autorange": "reversed"},
    )
    return figure


def factors_table(factors: Sequence[Factor]) -> None:
    st.dataframe(
        pd.DataFrame(
            {
                "Factor": [factor.label for factor in factors],
                "How it weighs": [factor.weight for factor in factors],
                "Effect": [f"{factor.effect_millis / 1000:+.3f}" for factor in factors],
            }
        ),
        hide_index=True,
        width="stretch",
    )


def explanation(score: scoring.Score, *, key: str) -> None:
    """Why the score is what it is: the chart of effects, then the table of factors."""
    st.markdown(f"**Why {score.text}?** Each factor's effect, added up:")
    st.plotly_chart(
        factors_chart(score.factors), key=f"{key}.factors", config={"displayModeBar": False}
    )
    factors_table(score.factors)


def history_chart(days: Sequence[object], scores_millis: Sequence[int]) -> go.Figure:
    figure = go.Figure(
        go.Scatter(
            x=list(days),
            y=[millis / 1000 for millis in scores_millis],
            mode="lines+markers",
            line_color=RAISES,
            hovertemplate="%{x|%b %-d, %Y}: %{y:.3f}<extra></extra>",
        )
    )
    figure.add_hline(
        y=scoring.REPUTATION_ALERT_BELOW_MILLIS / 1000,
        line_dash="dot",
        line_color=LOWERS,
        annotation_text="spam bands below",
    )
    figure.update_layout(
        height=240,
        margin={"l": 8, "r": 8, "t": 16, "b": 8},
        yaxis={"range": [0, 5], "title": {"text": "score"}},
    )
    return figure


def carrier_score_card(carrier: CarrierScore | None, *, key: str) -> None:
    """The organization's carrier score, its factors and what would raise it."""
    score_metric(
        "Carrier score",
        carrier.millis if carrier else None,
        help="How far SIPSTACK trusts what your organization says about its numbers (0–5). "
        "It weighs on every one of your numbers' scores.",
    )
    if carrier is None:
        st.caption("Register a number to get a carrier score.")
        return
    carrier_score_explanation(carrier, key=key)


def carrier_score_explanation(
    carrier: CarrierScore, *, key: str, label: str = "Why, and what would raise it"
) -> None:
    """The carrier score's factors and what would raise it, folded."""
    with st.expander(label):
        st.plotly_chart(
            factors_chart(carrier.factors), key=f"{key}.carrier", config={"displayModeBar": False}
        )
        factors_table(carrier.factors)
        if carrier.raise_by:
            st.markdown("**What would raise it**")
            for suggestion in carrier.raise_by:
                st.markdown(f"- {suggestion}")
        else:
            st.caption(
                "Nothing left to raise: every number is complete and verified, and so are "
                "your company details and a brand domain."
            )
