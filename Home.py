"""Dashboard ("/"): a welcome, the account's funds, shortcuts and the setup checklist.

SIPSTACK staff have no organization: they land on Staff › Organizations here instead.
"""

import streamlit as st

from portal_core.money import format_cents
from portal_core.permissions import Capability
from portal_core.queries import billing, dashboard
from portal_core.ui import resources, shell, staff_views
from portal_core.ui.text import markdown_escape

viewer = shell.open_page("dashboard")

if viewer.is_staff:
    staff_views.organizations(viewer)
else:
    with resources.reading() as session:
        funds = billing.funds(session, viewer.actor)
        checklist = dashboard.setup_checklist(session, viewer.actor)

    st.title(f"Welcome, {markdown_escape(viewer.name)}")
    st.caption(f"{markdown_escape(viewer.organization_name or '')} · {viewer.role.value.title()}")

    # Available funds are in the top bar on every page; here, what they are made of.
    balance, credit = st.columns(2)
    balance.metric(
        "Balance",
        format_cents(funds.balance_cents),
        help="Payments and credits less invoices: the sum of your ledger.",
        border=True,
    )
    credit.metric(
        "Credit limit",
        format_cents(funds.credit_limit_cents),
        help="How far requests may run past your available funds before they stop.",
        border=True,
    )

    st.subheader("Shortcuts")
    st.page_link("pages/my_profile.py", label="My Profile", icon=":material/person:")
    if viewer.actor.can(Capability.BILLING_READ):
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
