"""The activation wizard's steps drawn: company → brand → plan → payment method → done
(docs/product.md, Account life cycle). Each step's form calls its ``services.accounts`` step
and reruns, and ``accounts.wizard_step`` then derives the next step from what is filled in.

The payment method step offers Stripe's test cards by name in the sandbox, and Stripe's
secure page otherwise; a paid plan needs a card, Free may skip it ("Skip for now").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st
from sqlmodel import Session

from portal_core.errors import PortalError
from portal_core.models.accounts import Organization
from portal_core.models.billing import BillingCycle
from portal_core.queries import payments
from portal_core.queries.payments import Card
from portal_core.queries.pricing import CurrentPlan, PlanRow
from portal_core.services import accounts, company, subscriptions
from portal_core.services.payments import cards
from portal_core.services.sessions import SessionView
from portal_core.services.subscriptions import cycle_label
from portal_core.settings import get_settings
from portal_core.ui import company_views, forms, resources, state
from portal_core.ui.text import markdown_escape

SETUP_PARAM = "card_setup"  # Stripe's setup page sends the owner back with done / cancelled
SETUP_URL = "activate.card.setup_url"  # Stripe's setup page, once asked for
PROBLEM = "activate.card.problem"  # a refusal from a button's action, shown on the rerun

T = TypeVar("T")


def already_active() -> None:
    st.success("Your account is active.", icon=":material/check_circle:")
    st.page_link("Home.py", label="Go to the Dashboard", icon=":material/arrow_forward:")


def progress(step: accounts.WizardStep) -> None:
    """Where the owner is: "Step 2 of 5" and the steps' names, this one in bold."""
    steps = accounts.WIZARD_STEPS
    position = steps.index(step)
    st.progress((position + 1) / len(steps), text=f"Step {position + 1} of {len(steps)}")
    labels = accounts.WIZARD_STEP_LABELS
    st.caption(" → ".join(f"**{labels[s]}**" if s is step else labels[s] for s in steps))


# --- Company and brand -------------------------------------------------------------------------


def company_step(viewer: SessionView, organization: Organization) -> None:
    st.subheader("Your company")
    st.write("Your country and province decide the taxes on your invoices.")
    submitted = company_views.company_form(
        company.company_details(organization),
        form_key="activate.company",
        country_key="activate.country",
        submit_label="Save and continue",
        default_legal_name=organization.name,
    )
    if submitted is None:
        return
    details, errors = submitted

    def save_company() -> None:
        with resources.writing() as session:
            company.save_company(session, viewer.actor, details)

    if forms.attempt(errors, save_company):
        st.rerun()


def brand_step(viewer: SessionView, organization: Organization) -> None:
    st.subheader("Your brand")
    st.write(
        "The domain your customers know you by. You can add more later on Organization › "
        "Brand, where each domain is verified by a DNS record."
    )
    with st.form("activate.brand"):
        errors = forms.FieldErrors()
        brand_name = st.text_input("Brand name", value=organization.name, max_chars=120)
        errors.slot("brand_name")
        domain = st.text_input("Domain", placeholder="example.com", max_chars=253)
        errors.slot("domain")
        submitted = st.form_submit_button("Save and continue", type="primary")
    if not submitted:
        return

    def save_brand() -> None:
        with resources.writing() as session:
            company.add_brand_domain(session, viewer.actor, domain, brand_name=brand_name)

    if forms.attempt(errors, save_brand):
        st.rerun()


# --- Plan --------------------------------------------------------------------------------------


def plan_step(viewer: SessionView, plans: list[PlanRow]) -> None:
    st.subheader("Your plan")
    st.write(
        "Start on Free (no card needed) or pick a paid plan; you can change it any time in "
        "Billing › Pricing. Prices in USD, taxes excluded."
    )
    cycle = BillingCycle(
        st.radio(
            "Billing",
            [BillingCycle.MONTHLY.value, BillingCycle.YEARLY.value],
            format_func=lambda value: cycle_label(BillingCycle(value)).capitalize(),
            horizontal=True,
            key="activate.cycle",
            help="Yearly plans cost less a month, and the year is invoiced when its term starts.",
        )
    )
    offered = {row.code: row for row in plans if cycle in row.cycles}
    contract = [row.name for row in plans if row.by_contract]
    with st.form("activate.plan"):
        errors = forms.FieldErrors()
        errors.general()
        plan_code = st.radio(
            "Plan",
            list(offered),
            format_func=lambda code: offered[code].option_label(cycle),
            key="activate.plan_code",
        )
        errors.slot("plan")
        errors.slot("cycle")
        if contract:
            st.caption(f"{', '.join(contract)}: priced by contract; contact SIPSTACK.")
        submitted = st.form_submit_button("Save and continue", type="primary")
    if not (submitted and plan_code):
        return

    def save_plan() -> None:
        with resources.writing() as session:
            accounts.choose_plan(session, viewer.actor, plan_code=plan_code, cycle=cycle)

    if forms.attempt(errors, save_plan):
        st.rerun()


# --- Payment method ----------------------------------------------------------------------------


def payment_method_step(
    viewer: SessionView, plan: CurrentPlan, *, card_required: bool, saved: list[Card]
) -> None:
    """Save a card (a test card in the sandbox, else on Stripe's page); or start on Free
    instead of a paid plan, or skip the card on Free."""
    st.subheader("Payment method")
    if card_required:
        st.write(
            f"Your plan, **{plan.plan_name}** ({cycle_label(plan.cycle)}), is paid from your "
            "prepaid balance, which you fill by card. Save a card to activate your account; "
            "nothing is charged now."
        )
    else:
        st.write(
            "On Free a card is optional: save one now to add funds and upgrade later without "
            "a stop, or skip this step. You can add a card any time in Billing › Payment "
            "Methods."
        )
    expired = [card for card in saved if card.expired]
    if expired:
        st.warning(
            "Your saved card "
            + ", ".join(f"{markdown_escape(card.label)} ({card.expiry})" for card in expired)
            + " has expired: save another one.",
            icon=":material/event_busy:",
        )
    problem = st.session_state.pop(PROBLEM, None)
    if problem:
        st.error(problem, icon=":material/error:")
    if payments.uses_sandbox():
        _test_card_form(viewer)
    else:
        _stripe_card_entry(viewer)
    if card_required:
        st.button(
            "Start on Free instead",
            key="activate.card.free",
            icon=":material/arrow_back:",
            on_click=_start_on_free,
            args=(viewer,),
            help="Free needs no card; you can upgrade any time in Billing › Pricing.",
        )
    else:
        st.button(
            "Skip for now",
            key="activate.card.skip",
            icon=":material/skip_next:",
            on_click=_skip_card,
            args=(viewer,),
        )


def _test_card_form(viewer: SessionView) -> None:
    test_cards = {card.gateway_ref: card for card in payments.sandbox_test_cards()}
    with st.form("activate.card"):
        st.caption(
            "This environment charges no real card: pick one of Stripe's test cards, each "
            "behaving the way Stripe's does in test mode."
        )
        chosen = st.radio(
            "Test card",
            list(test_cards),
            format_func=lambda ref: (
                f"{test_cards[ref].name} · {test_cards[ref].number} — {test_cards[ref].outcome}"
            ),
        )
        errors = forms.FieldErrors()
        errors.general()
        save_card = st.form_submit_button("Save card and continue", type="primary")
    if not (save_card and chosen):
        return

    def add_test_card() -> None:
        with resources.writing() as session:
            cards.start_adding_card(session, viewer.actor, test_card=chosen)

    if forms.attempt(errors, add_test_card):
        st.rerun()


def _stripe_card_entry(viewer: SessionView) -> None:
    returned = st.query_params.get(SETUP_PARAM)
    if returned == "done":
        st.info(
            "Stripe is confirming your card: this step completes in a moment. Reload the "
            "page if it has not yet.",
            icon=":material/hourglass_top:",
        )
    elif returned:
        st.info("Card entry was cancelled: nothing was saved.", icon=":material/info:")
    setup_url = st.session_state.get(SETUP_URL)
    if setup_url:
        st.link_button(
            "Continue to secure card entry",
            setup_url,
            icon=":material/lock:",
            type="primary",
        )
    else:
        st.button(
            "Enter a card on Stripe's secure page",
            type="primary",
            icon=":material/add_card:",
            key="activate.card.stripe",
            on_click=_start_stripe_setup,
            args=(viewer,),
        )


def _start_stripe_setup(viewer: SessionView) -> None:
    back = f"{get_settings().public_url.rstrip('/')}/activate"
    setup = _refusal_said_on_rerun(
        lambda session: cards.start_adding_card(session, viewer.actor, return_url=back)
    )
    if setup is not None:
        st.session_state[SETUP_URL] = setup.checkout_url


def _skip_card(viewer: SessionView) -> None:
    _refusal_said_on_rerun(lambda session: accounts.skip_payment_method(session, viewer.actor))


def _start_on_free(viewer: SessionView) -> None:
    _refusal_said_on_rerun(
        lambda session: accounts.choose_plan(
            session, viewer.actor, plan_code=subscriptions.FREE_PLAN, cycle=BillingCycle.MONTHLY
        )
    )


def _refusal_said_on_rerun(change: Callable[[Session], T]) -> T | None:
    """Run a button's ``change`` in a unit of work. A callback draws nothing that stays, so a
    refusal is kept under ``PROBLEM`` and said on the rerun the click causes."""
    try:
        with resources.writing() as session:
            return change(session)
    except PortalError as error:
        st.session_state[PROBLEM] = error.message
        return None


# --- Done --------------------------------------------------------------------------------------


def ready_step(
    viewer: SessionView, organization: Organization, plan: CurrentPlan, card: Card | None
) -> None:
    """What the account starts with, and the button that activates it."""
    st.subheader("All set")
    st.write(f"**{markdown_escape(organization.legal_name or '')}** is ready to activate.")
    st.markdown(
        f"- Plan: **{markdown_escape(plan.plan_name)}**, {cycle_label(plan.cycle)}\n"
        + (
            f"- Card: **{markdown_escape(card.label)}** (expires {card.expiry})"
            if card
            else "- Card: none yet; add one any time in Billing › Payment Methods"
        )
    )
    errors = forms.FieldErrors()
    errors.general()
    if st.button("Activate my account", type="primary", icon=":material/rocket_launch:"):

        def activate() -> None:
            with resources.writing() as session:
                accounts.activate(session, viewer.actor)

        # A step undone meanwhile (the card removed in another tab) is said, not crashed on.
        if forms.attempt(errors, activate):
            state.flash("Welcome to SIPSTACK: your account is active.")
            st.switch_page("Home.py")
