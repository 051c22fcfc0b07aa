"""Dashboard ("/"): a welcome, shortcuts, the setup checklist, the account's figures this
month and the charts of spend and balance (SPEC.md, Dashboard).

Every role sees the funds and the requests against the plan's allowance; the spend figures,
the days of funds left and the charts are for the roles that see Billing. SIPSTACK staff have
no organization: they land on Staff › Organizations here instead.
"""

import streamlit as st

from portal_core.models.billing import BillingCycle
from portal_core.money import format_cents, format_micros
from portal_core.permissions import Capability
from portal_core.queries import billing, dashboard
from portal_core.ui import charts, resources, shell, staff_views
from portal_core.ui.text import markdown_escape

viewer = shell.open_page("dashboard")

if viewer.is_staff:
    staff_views.organizations(viewer)
else:
    sees_billing = viewer.actor.can(Capability.BILLING_READ)
    with resources.reading() as session:
        funds = billing.funds(session, viewer.actor)
        checklist = dashboard.setup_checklist(session, viewer.actor)
        requests = dashboard.requests_this_month(session, viewer.actor)
        if sees_billing:
            spend = dashboard.month_to_date_spend(session, viewer.actor)
            runway = dashboard.funds_runway(session, viewer.actor)
            monthly = dashboard.spend_by_month(session, viewer.actor)
            history = dashboard.balance_over_time(session, viewer.actor)

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

    done = sum(item.done for item in checklist)
    with st.expander(
        f"Setup checklist: {done} of {len(checklist)} done", expanded=done < len(checklist)
    ):
        for item in checklist:
            icon = ":material/check_circle:" if item.done else ":material/radio_button_unchecked:"
            st.markdown(f"{icon} {item.label}")

    st.subheader("Your account")
    balance, available, credit = st.columns(3)
    balance.metric(
        "Balance",
        format_cents(funds.balance_cents),
        help="Payments and credits less invoices: the sum of your ledger.",
        border=True,
    )
    available.metric(
        "Available funds",
        format_cents(funds.available_cents),
        help="Your balance less usage not yet invoiced: what requests draw on.",
        border=True,
    )
    credit.metric(
        "Credit limit",
        format_cents(funds.credit_limit_cents),
        help="How far requests may run past your available funds before they stop.",
        border=True,
    )

    used, this_spend, days_left = st.columns(3)
    with used:
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
            progress_text = (
                f"Allowance used; {requests.beyond_allowance:,} more billed per request."
            )
        else:
            progress_text = f"{requests.percent_used}% of the allowance used."
        st.progress(requests.percent_used, text=progress_text)
    if sees_billing:
        with this_spend:
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
                fee = (
                    f" + {format_micros(spend.subscription_micros)}, the {subscription}'s "
                    "monthly fee"
                )
            st.caption(
                f"Since {spend.first_day:%B} 1: {format_micros(spend.usage_micros)} of usage "
                f"beyond the allowance{fee}. Taxes excluded."
            )
        with days_left:
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

    if requests.at_cap:
        resets = f"{requests.resets_on:%B} {requests.resets_on.day}"
        if requests.by_contract:
            st.warning(
                f"This month's {requests.allowance:,} requests of your {requests.plan_name} "
                f"contract are used: requests stop until {resets}. Ask SIPSTACK to extend "
                "your contract to keep going.",
                icon=":material/block:",
            )
        elif viewer.actor.can(Capability.BILLING_MANAGE):
            st.warning(
                f"This month's {requests.allowance:,} requests of your {requests.plan_name} "
                f"plan are used: requests stop until {resets}. Upgrade to keep going now.",
                icon=":material/block:",
            )
            st.page_link(
                "pages/billing_pricing.py", label="Upgrade your plan", icon=":material/upgrade:"
            )
        else:
            st.warning(
                f"This month's {requests.allowance:,} requests of your {requests.plan_name} "
                f"plan are used: requests stop until {resets}. An owner, admin or billing "
                "member of your organization can upgrade the plan.",
                icon=":material/block:",
            )

    if sees_billing:
        st.subheader("Spend per month")
        st.caption(
            f"Usage beyond your plan's allowance by lookup type, over the last "
            f"{len(monthly.months)} months, in USD; subscription fees and taxes are not "
            "included."
        )
        st.plotly_chart(
            charts.spend_by_month(monthly),
            key="dashboard.spend_by_month",
            config={"displayModeBar": False},
            alt="Stacked bars of usage cost per month by lookup type.",
        )
        st.subheader("Balance over time")
        st.caption(
            f"Your balance at the end of each of the last {len(history.days)} days "
            "(billing time zone), in USD."
        )
        st.plotly_chart(
            charts.balance_over_time(history),
            key="dashboard.balance_over_time",
            config={"displayModeBar": False},
            alt="A line of the account's balance at the end of each day.",
        )
