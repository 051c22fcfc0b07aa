"""The Dashboard drawn (docs/product.md, Pages › Dashboard): the welcome and shortcuts, the
setup checklist, this month's requests against the allowance, the month-to-date spend and the
days of funds left, the notice when the allowance is used up, the products' tiles (lookups,
registered numbers, carrier score), and the charts of spend and balance.

The funds cards are ``ui.billing_views.funds_metrics``, as on Billing › Overview.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from portal_core.models.billing import BillingCycle
from portal_core.money import format_micros
from portal_core.permissions import Capability
from portal_core.queries.dashboard import (
    BalanceHistory,
    ChecklistItem,
    FundsRunway,
    MonthToDateSpend,
    ProductTiles,
    RequestsThisMonth,
    SpendByMonth,
)
from portal_core.rules.scoring import format_score
from portal_core.services.sessions import SessionView
from portal_core.ui import charts, shell
from portal_core.ui.registry import page
from portal_core.ui.text import markdown_escape


def welcome(viewer: SessionView, *, sees_billing: bool) -> None:
    st.title(f"Welcome, {markdown_escape(viewer.name)}")
    st.caption(f"{markdown_escape(viewer.organization_name or '')} · {viewer.role.value.title()}")
    st.subheader("Shortcuts")
    st.page_link("pages/my_profile.py", label="My Profile", icon=":material/person:")
    if sees_billing:
        st.page_link(
            "pages/billing_transactions.py",
            label="Billing history",
            icon=":material/receipt_long:",
        )


def setup_checklist(checklist: list[ChecklistItem], viewer: SessionView) -> None:
    """The checklist, open until every item is done; an item not done links to where it is
    done when the viewer's role may open that page."""
    may_open = {spec.id for spec in shell.visible_pages(viewer)}
    done = sum(item.done for item in checklist)
    with st.expander(
        f"Setup checklist: {done} of {len(checklist)} done", expanded=done < len(checklist)
    ):
        for item in checklist:
            icon = ":material/check_circle:" if item.done else ":material/radio_button_unchecked:"
            st.markdown(f"{icon} {item.label}")
            if not item.done and item.page_id and item.page_id in may_open:
                target = page(item.page_id)
                st.page_link(target.script, label=f"Open {target.title}", icon=target.icon)


def this_month(
    requests: RequestsThisMonth,
    spend: MonthToDateSpend | None,
    runway: FundsRunway | None,
) -> None:
    """Requests against the allowance; for the roles that see Billing (``spend`` and
    ``runway`` given), the month-to-date spend and the days of funds left."""
    used, this_spend, days_left = st.columns(3)
    with used:
        _requests(requests)
    if spend is not None:
        with this_spend:
            _spend(spend)
    if runway is not None:
        with days_left:
            _runway(runway)


def _requests(requests: RequestsThisMonth) -> None:
    st.metric(
        "Requests this month",
        f"{requests.used:,} of {requests.allowance:,}",
        help=(
            f"Requests counted in {requests.first_day:%B %Y} (billing time zone) against the "
            f"{requests.allowance:,} a month your {requests.plan_name} "
            f"{'contract' if requests.by_contract else 'plan'} includes."
        ),
        border=True,
    )
    if requests.beyond_allowance:
        progress_text = f"Allowance used; {requests.beyond_allowance:,} more billed per request."
    else:
        progress_text = f"{requests.percent_used}% of the allowance used."
    st.progress(requests.percent_used, text=progress_text)


def _spend(spend: MonthToDateSpend) -> None:
    st.metric(
        "Month-to-date spend",
        format_micros(spend.total_micros),
        help="Before taxes. This month is invoiced on the 1st of next month.",
        border=True,
    )
    subscription = f"{spend.plan_name} {'contract' if spend.by_contract else 'plan'}"
    if not spend.subscription_micros:
        fee = f" (the {subscription} has no monthly fee)"
    elif spend.cycle == BillingCycle.YEARLY and not spend.by_contract:
        fee = (
            f" + {format_micros(spend.subscription_micros)}, a month of the "
            f"{subscription}'s yearly fee"
        )
    else:
        fee = f" + {format_micros(spend.subscription_micros)}, the {subscription}'s monthly fee"
    st.caption(
        f"Since {spend.first_day:%B} 1: {format_micros(spend.usage_micros)} of usage "
        f"beyond the allowance{fee}. Taxes excluded."
    )


def _runway(runway: FundsRunway) -> None:
    st.metric(
        "Days of funds left",
        "—" if runway.days is None else f"{runway.days:,}",
        help=(
            "Available funds divided by the average daily usage cost over "
            f"{runway.window}, rounded down. Subscription fees are not counted."
        ),
        border=True,
    )
    if runway.reason is not None:
        st.caption(runway.reason)
    else:
        st.caption(
            f"At {format_micros(runway.daily_spend_micros)} a day, the average over "
            f"{runway.window}."
        )


def product_tiles(tiles: ProductTiles) -> None:
    """Lookups today and this month, registered numbers and the carrier score: every role's."""
    today, month, numbers, score = st.columns(4)
    today.metric(
        "Lookups today",
        f"{tiles.lookups_today:,}",
        help="Lookups that went through today (billing time zone); refused ones are in Logs.",
        border=True,
    )
    month.metric(
        "Lookups this month",
        f"{tiles.lookups_this_month:,}",
        help="Lookups that went through since the 1st (billing time zone).",
        border=True,
    )
    numbers.metric(
        "Registered numbers",
        f"{tiles.registered_numbers:,}",
        help="Your organization's Whois profiles, those waiting for ownership to be decided too.",
        border=True,
    )
    score.metric(
        "Carrier score",
        "Not scored yet"
        if tiles.carrier_score_millis is None
        else format_score(tiles.carrier_score_millis),
        help="Your organization's standing as a carrier, from 0.000 to 5.000: it weighs on "
        "the score of the numbers you register.",
        border=True,
    )


def allowance_used_up(viewer: SessionView, requests: RequestsThisMonth) -> None:
    """When a capped allowance is used up: until when requests stop, and the way on (an
    upgrade for those who manage billing; SIPSTACK for a contract)."""
    if not requests.at_cap:
        return
    resets = f"{requests.resets_on:%B} {requests.resets_on.day}"
    terms = "contract" if requests.by_contract else "plan"
    used_up = (
        f"This month's {requests.allowance:,} requests of your {requests.plan_name} {terms} "
        f"are used: requests stop until {resets}."
    )
    upgrades = not requests.by_contract and viewer.actor.can(Capability.BILLING_MANAGE)
    if requests.by_contract:
        way_on = "Ask SIPSTACK to extend your contract to keep going."
    elif upgrades:
        way_on = "Upgrade to keep going now."
    else:
        way_on = "An owner, admin or billing member of your organization can upgrade the plan."
    st.warning(f"{used_up} {way_on}", icon=":material/block:")
    if upgrades:
        st.page_link(
            "pages/billing_pricing.py", label="Upgrade your plan", icon=":material/upgrade:"
        )


def spend_and_balance_charts(monthly: SpendByMonth, history: BalanceHistory) -> None:
    _chart(
        "Spend per month",
        f"Usage beyond your plan's allowance by lookup type, over the last "
        f"{len(monthly.months)} months, in USD; subscription fees and taxes are not included.",
        charts.spend_by_month(monthly),
        key="dashboard.spend_by_month",
        alt="Stacked bars of usage cost per month by lookup type.",
    )
    _chart(
        "Balance over time",
        f"Your balance at the end of each of the last {len(history.days)} days "
        "(billing time zone), in USD.",
        charts.balance_over_time(history),
        key="dashboard.balance_over_time",
        alt="A line of the account's balance at the end of each day.",
    )


def _chart(title: str, caption: str, figure: go.Figure, *, key: str, alt: str) -> None:
    st.subheader(title)
    st.caption(caption)
    st.plotly_chart(figure, key=key, config={"displayModeBar": False}, alt=alt)
