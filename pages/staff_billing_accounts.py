"""Staff › Billing accounts: every organization's plan and money. Select one (or follow a link
with ``?organization=<id>``) to see its account and act on it: post a credit or adjustment,
set its credit limit, set or end its Carrier contract. Each action is reviewed in a form,
then confirmed in a dialog that asks for the reason (audited; a credit's reason is the
description the partner reads in Transactions)."""

import uuid
from functools import partial
from typing import Any

import streamlit as st

from portal_core.errors import NotFound, ValidationFailed
from portal_core.models.billing import EntryKind
from portal_core.money import format_cents, format_unit_price
from portal_core.queries import staff_billing as billing_queries
from portal_core.queries.staff_billing import BillingSummary
from portal_core.services import platform, staff_billing
from portal_core.services.staff_billing import ContractForm
from portal_core.ui import confirm, forms, resources, shell, table
from portal_core.ui.text import markdown_escape

viewer = shell.open_page("staff.billing_accounts")

ACCOUNTS_TABLE = "staff.billing.accounts"
ORGANIZATION_PARAM = "organization"
# What waits for its confirmation: a plain dict of ids and typed values, since a class
# defined in this script is a new class on every run.
PENDING = "staff.billing.pending"
DONE = "staff.billing.done"  # the last action's outcome, shown once
KINDS = {
    EntryKind.CREDIT: "Credit: adds to the balance",
    EntryKind.ADJUSTMENT: "Adjustment: adds, or takes away with a minus sign",
}


def open_selected(organization_id: object | None) -> None:
    if organization_id is None:
        st.query_params.pop(ORGANIZATION_PARAM, None)
    else:
        st.query_params[ORGANIZATION_PARAM] = str(organization_id)


def close_organization() -> None:
    st.query_params.pop(ORGANIZATION_PARAM, None)
    table.clear_selection(ACCOUNTS_TABLE)
    st.session_state.pop(PENDING, None)


def md(text: str) -> str:
    return markdown_escape(text)


def limit_source(summary: BillingSummary) -> str:
    return "set by staff" if summary.credit_limit_overridden else "the plan's"


def plan_label(summary: BillingSummary) -> str:
    if summary.contract is not None:
        return f"{summary.plan_name} contract"
    return f"{summary.plan_name} plan, {summary.cycle.value}"


# --- Confirming with a reason --------------------------------------------------------------


def describe(request: dict[str, Any], summary: BillingSummary) -> tuple[str, str, str]:
    """The dialog's title, message and button for ``request``."""
    name = md(summary.organization_name)
    if request["action"] == "post":
        cents = int(request["cents"])
        after = md(format_cents(summary.funds.balance_cents + cents))
        now = md(format_cents(summary.funds.balance_cents))
        what = "credit" if request["kind"] is EntryKind.CREDIT else "adjustment"
        return (
            f"Post a {what}",
            f"Post a {what} of **{md(format_cents(cents))}** to **{name}**: its balance "
            f"goes from {now} to **{after}**. The reason is the description the "
            "organization reads in its Transactions.",
            f"Post {what}",
        )
    if request["action"] == "limit":
        was = f"now {md(format_cents(summary.funds.credit_limit_cents))}, "
        was += md(limit_source(summary))
        if request["cents"] is None:
            plan_limit = md(format_cents(summary.plan_credit_limit_cents))
            return (
                "Return to the plan's credit limit",
                f"**{name}**'s credit limit returns to its plan's, **{plan_limit}** ({was}).",
                "Use the plan's limit",
            )
        return (
            "Set the credit limit",
            f"**{name}**'s credit limit becomes **{md(format_cents(request['cents']))}** "
            f"({was}). It holds across plan changes until cleared.",
            "Set credit limit",
        )
    if request["action"] == "contract":
        terms_text = md(request["terms"])
        if summary.contract is not None:
            return (
                "Change the Carrier contract",
                f"**{name}**'s contract becomes: {terms_text}. Its term is unchanged.",
                "Change contract",
            )
        return (
            "Start a Carrier contract",
            f"**{name}** moves from the {md(plan_label(summary))} to a Carrier contract "
            f"now: {terms_text}. This month's invoice bills the contract's monthly fee "
            "instead of the plan's, and requests from now on are priced by the contract.",
            "Start contract",
        )
    plan = md(request["plan_name"])
    return (
        "End the Carrier contract",
        f"**{name}**'s contract ends now and it moves to the **{plan}** plan (monthly). "
        f"This month's invoice bills the {plan} plan's fee instead of the contract's; the "
        f"credit limit returns to the plan's, "
        f"{md(format_cents(request['plan_credit_limit_cents']))}.",
        "End contract",
    )


def apply(request: dict[str, Any], reason: str, summary: BillingSummary) -> str:
    """Run ``request`` with ``reason``; the outcome to show."""
    org = summary.organization_id
    with resources.writing() as session:
        if request["action"] == "post":
            entry = staff_billing.post_credit(
                session,
                viewer.actor,
                org,
                kind=request["kind"],
                amount=request["amount"],
                reason=reason,
                idempotency_key=request["token"],
            )
            return (
                f"Posted {format_cents(entry.amount_cents)} to "
                f"{summary.organization_name}; its balance is now "
                f"{format_cents(entry.balance_after_cents)}."
            )
        if request["action"] == "limit":
            in_force = staff_billing.set_credit_limit(
                session, viewer.actor, org, limit=request["limit"], reason=reason
            )
            return f"{summary.organization_name}'s credit limit is now {format_cents(in_force)}."
        if request["action"] == "contract":
            staff_billing.set_carrier_contract(
                session, viewer.actor, org, request["form"], reason=reason
            )
            return f"{summary.organization_name} is on its Carrier contract."
        plan = staff_billing.end_carrier_contract(
            session, viewer.actor, org, plan_code=request["plan_code"], reason=reason
        )
        return f"{summary.organization_name}'s contract ended; it is on the {plan.name} plan."


def remember(outcome: str) -> None:
    st.session_state[DONE] = outcome


# --- Reading the organization ----------------------------------------------------------------


with resources.reading() as session:
    time_zone = platform.billing_time_zone(session)
    plan_rows = billing_queries.plans(session, viewer.actor)

st.title("Billing accounts")
st.caption(
    "Every organization's plan, balance and credit limit. Select a row to see its account, "
    "post a credit or adjustment, or set its credit limit or Carrier contract."
)
table.data_table(
    billing_queries.billing_accounts(viewer.actor),
    key=ACCOUNTS_TABLE,
    on_select=open_selected,
    time_zone=time_zone,
)

summary: BillingSummary | None = None
raw_id = st.query_params.get(ORGANIZATION_PARAM)
if raw_id:
    try:
        with resources.reading() as session:
            summary = billing_queries.billing_summary(
                session, viewer.actor, uuid.UUID(raw_id), time_zone=time_zone
            )
    except ValueError:
        st.warning("That link does not name an organization.", icon=":material/link_off:")
    except NotFound as error:
        st.warning(error.message, icon=":material/search_off:")

if summary is not None:
    org = summary.organization_id

    def key(part: str) -> str:
        return f"staff.billing.{org}.{part}"

    st.divider()
    heading, close = st.columns([6, 1], vertical_alignment="center")
    heading.subheader(summary.organization_name)
    close.button(
        "Close",
        key="staff.billing.close",
        icon=":material/close:",
        on_click=close_organization,
        width="stretch",
    )
    done = st.session_state.pop(DONE, None)
    if done:
        st.success(done, icon=":material/check_circle:")

    balance, unbilled, available, credit = st.columns(4)
    balance.metric("Balance", format_cents(summary.funds.balance_cents), border=True)
    unbilled.metric(
        "Unbilled usage",
        format_cents(summary.funds.unbilled_cents),
        help="Usage priced but not invoiced yet.",
        border=True,
    )
    available.metric(
        "Available funds",
        format_cents(summary.available_cents),
        help="The balance less unbilled usage: what the top bar shows the partner.",
        border=True,
    )
    credit.metric(
        "Credit limit",
        format_cents(summary.funds.credit_limit_cents),
        help="Set by staff: it holds across plan changes."
        if summary.credit_limit_overridden
        else "The plan's default.",
        border=True,
    )

    facts = [
        f"**Plan:** {md(plan_label(summary))}, since "
        f"{summary.term_started_at.astimezone(time_zone):%Y-%m-%d}",
        f"**Credit limit:** {md(limit_source(summary))}"
        + (
            f" (the plan's is {md(format_cents(summary.plan_credit_limit_cents))})"
            if summary.credit_limit_overridden
            else ""
        ),
        f"**Requests in {summary.period}:** {summary.period_requests:,} of "
        f"{summary.included_requests:,} included, then "
        + (
            md(format_unit_price(summary.additional_request_micros)) + " each"
            if summary.additional_request_micros is not None
            else "none: requests stop at the allowance"
        ),
    ]
    if summary.next_plan_name:
        cycle = summary.next_cycle.value if summary.next_cycle else summary.cycle.value
        facts.append(f"**Pending change:** to {md(summary.next_plan_name)}, {cycle}, next period")
    if summary.contract is not None and summary.contract.lookups_per_second:
        facts.append(f"**Lookups per second:** {summary.contract.lookups_per_second:,}")
    st.markdown("  \n".join(facts))

    transactions, posting, limit, contract = st.tabs(
        ["Transactions", "Credit or adjustment", "Credit limit", "Carrier contract"]
    )

    with transactions:
        table.data_table(
            billing_queries.ledger_entries(viewer.actor, org),
            key=key("ledger"),
            time_zone=time_zone,
        )

    with posting, st.form(key("post.form")):
        kind = st.radio(
            "Type",
            list(KINDS),
            format_func=lambda value: KINDS[value],
            key=key("post.kind"),
        )
        amount = st.text_input(
            "Amount (USD)",
            key=key("post.amount"),
            placeholder="50.00",
            help="Whole cents, at most $100,000.00. An adjustment takes money away with a "
            "minus sign: -20.00.",
        )
        post_errors = forms.FieldErrors()
        post_errors.slot("amount")
        if st.form_submit_button("Review", type="primary", key=key("post.review")):
            try:
                cents = staff_billing.posting_amount_cents(kind, amount)
            except ValidationFailed as error:
                post_errors.show(error)
            else:
                confirm.ask(
                    PENDING,
                    {
                        "action": "post",
                        "organization_id": org,
                        "token": uuid.uuid4().hex,  # the posting's idempotency key
                        "kind": kind,
                        "amount": amount,
                        "cents": cents,
                    },
                )

    with limit, st.form(key("limit.form")):
        st.markdown(
            f"Now **{md(format_cents(summary.funds.credit_limit_cents))}**, "
            f"{md(limit_source(summary))}. A limit set here holds across plan changes; "
            "leave the box empty to return to the plan's."
        )
        new_limit = st.text_input(
            "Credit limit (USD)",
            key=key("limit.amount"),
            placeholder=f"Empty: the plan's, {format_cents(summary.plan_credit_limit_cents)}",
        )
        limit_errors = forms.FieldErrors()
        limit_errors.slot("credit_limit")
        if st.form_submit_button("Review", type="primary", key=key("limit.review")):
            try:
                override = staff_billing.credit_limit_override_cents(new_limit)
            except ValidationFailed as error:
                limit_errors.show(error)
            else:
                confirm.ask(
                    PENDING,
                    {
                        "action": "limit",
                        "organization_id": org,
                        "token": uuid.uuid4().hex,
                        "limit": new_limit,
                        "cents": override,
                    },
                )

    with contract:
        terms = summary.contract
        st.caption(
            "A Carrier contract replaces the plan's fee, allowance, price per additional "
            "request, lookups per second and credit limit for this organization. A new "
            "contract starts now: this month's invoice bills its monthly fee instead of the "
            "current plan's."
        )
        with st.form(key("contract.form")):
            fee, included = st.columns(2)
            monthly_fee = fee.text_input(
                "Monthly fee (USD)",
                value=format_cents(terms.monthly_cents).removeprefix("$")
                if terms and terms.monthly_cents is not None
                else "",
                key=key("contract.monthly_fee"),
            )
            included_requests = included.text_input(
                "Included requests a month",
                value=f"{terms.included_requests:,}"
                if terms and terms.included_requests is not None
                else "",
                key=key("contract.included_requests"),
            )
            contract_errors = forms.FieldErrors()
            contract_errors.slot("monthly_fee")
            contract_errors.slot("included_requests")
            price, rate = st.columns(2)
            unit_price = price.text_input(
                "Price per additional request (USD)",
                value=format_unit_price(terms.additional_request_micros).removeprefix("$")
                if terms and terms.additional_request_micros is not None
                else "",
                key=key("contract.price"),
                help="In dollars, up to six decimals: 0.0021 is 0.21 cents a request.",
            )
            lookups = rate.text_input(
                "Lookups per second",
                value=str(terms.lookups_per_second)
                if terms and terms.lookups_per_second is not None
                else "",
                key=key("contract.lookups_per_second"),
            )
            contract_errors.slot("additional_request_price")
            contract_errors.slot("lookups_per_second")
            contract_limit = st.text_input(
                "Credit limit (USD)",
                value=format_cents(summary.funds.credit_limit_cents).removeprefix("$")
                if terms
                else "",
                key=key("contract.credit_limit"),
                help="The usual starting limit is twice the monthly fee.",
            )
            contract_errors.slot("credit_limit")
            label = "Review new terms" if terms else "Review contract"
            if st.form_submit_button(label, type="primary", key=key("contract.review")):
                form = ContractForm(
                    monthly_fee=monthly_fee,
                    included_requests=included_requests,
                    additional_request_price=unit_price,
                    lookups_per_second=lookups,
                    credit_limit=contract_limit,
                )
                try:
                    parsed = staff_billing.parse_contract(form)
                except ValidationFailed as error:
                    contract_errors.show(error)
                else:
                    confirm.ask(
                        PENDING,
                        {
                            "action": "contract",
                            "organization_id": org,
                            "token": uuid.uuid4().hex,
                            "form": form,
                            "terms": parsed.describe(),
                        },
                    )
        if terms is not None:
            published = {row.code: row for row in plan_rows if not row.by_contract}
            with st.form(key("end.form")):
                st.markdown("**End the contract**")
                plan_code = st.selectbox(
                    "Move to the plan",
                    list(published),
                    format_func=lambda code: f"{published[code].name} (monthly)",
                    key=key("end.plan"),
                )
                if st.form_submit_button("Review", key=key("end.review")):
                    chosen = published[plan_code]
                    confirm.ask(
                        PENDING,
                        {
                            "action": "end",
                            "organization_id": org,
                            "token": uuid.uuid4().hex,
                            "plan_code": chosen.code,
                            "plan_name": chosen.name,
                            "plan_credit_limit_cents": chosen.credit_limit_cents or 0,
                        },
                    )

    request = confirm.asked(PENDING)
    if isinstance(request, dict) and request.get("organization_id") == org:
        title, message, confirm_label = describe(request, summary)
        confirm.dialog_with_reason(
            PENDING,
            title=title,
            message=message,
            confirm_label=confirm_label,
            action=partial(apply, request, summary=summary),
            reason_key=f"{PENDING}.reason.{request['token']}",
            reason_placeholder="Shown to the organization as the transaction's description, "
            "and kept in the audit log"
            if request["action"] == "post"
            else "Why; kept in the audit log",
            on_done=remember,
        )
