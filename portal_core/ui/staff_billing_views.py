"""Staff › Billing accounts drawn: every organization's plan and money, and one organization's
account with what staff do to it: post a credit or adjustment, refund a card payment, set its
credit limit, set or end its Carrier contract (``services.staff_billing``,
``services.payments.refunds``).

An account opens from its row or from a link carrying ``?organization=<id>``
(``ui.list_detail``). Each action is reviewed in a form, then confirmed in a dialog that asks
for the reason (audited; a credit's reason is the description the partner reads in
Transactions). What waits for its confirmation is one of the small frozen requests below, kept
in session state: ids and typed values only, never ORM objects.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import tzinfo
from functools import partial
from typing import ClassVar

import streamlit as st

from portal_core.errors import NotFound, ValidationFailed
from portal_core.models.billing import EntryKind
from portal_core.models.payments import ClosingRefundStatus, RefundStatus
from portal_core.money import editable_dollars, editable_unit_price, format_cents, format_unit_price
from portal_core.permissions import Actor
from portal_core.queries import staff_billing as billing_queries
from portal_core.queries.staff_billing import BillingSummary, ClosingState, PlanRow
from portal_core.services import staff_billing
from portal_core.services.payments import refunds
from portal_core.services.sessions import SessionView
from portal_core.services.staff_billing import ContractForm
from portal_core.ui import billing_views, confirm, forms, list_detail, resources, table
from portal_core.ui.text import markdown_escape as md

ACCOUNTS_TABLE = "staff.billing.accounts"
ORGANIZATION_PARAM = "organization"
PENDING = "staff.billing.pending"  # the request waiting for its confirmation
DONE = "staff.billing.done"  # the last action's outcome, shown once
KINDS = {
    EntryKind.CREDIT: "Credit: adds to the balance",
    EntryKind.ADJUSTMENT: "Adjustment: adds, or takes away with a minus sign",
}


def accounts_table(viewer: SessionView, *, time_zone: tzinfo) -> None:
    list_detail.listing_table(
        billing_queries.billing_accounts(viewer.actor),
        key=ACCOUNTS_TABLE,
        param=ORGANIZATION_PARAM,
        time_zone=time_zone,
    )


def opened_account(viewer: SessionView, *, time_zone: tzinfo) -> BillingSummary | None:
    """The account ``?organization=`` names, or None (a bad link is said on screen)."""
    raw_id = st.query_params.get(ORGANIZATION_PARAM)
    if not raw_id:
        return None
    try:
        with resources.reading() as session:
            return billing_queries.billing_summary(
                session, viewer.actor, uuid.UUID(raw_id), time_zone=time_zone
            )
    except ValueError:
        st.warning("That link does not name an organization.", icon=":material/link_off:")
    except NotFound as error:
        st.warning(error.message, icon=":material/search_off:")
    return None


def account(
    viewer: SessionView, summary: BillingSummary, plans: list[PlanRow], *, time_zone: tzinfo
) -> None:
    """One organization's account: its money and terms, its ledger, and the forms of staff's
    actions, each confirmed with a reason."""
    list_detail.detail_heading(
        md(summary.organization_name),
        close_key="staff.billing.close",
        param=ORGANIZATION_PARAM,
        table_key=ACCOUNTS_TABLE,
        forget=(PENDING,),
        outcome_key=DONE,
    )
    billing_views.funds_metrics(
        summary.funds,
        explained=billing_views.for_staff(credit_limit_overridden=summary.credit_limit_overridden),
    )
    _facts(summary, time_zone=time_zone)

    transactions, posting, credit_note, refund, limit, contract = st.tabs(
        [
            "Transactions",
            "Credit or adjustment",
            "Credit an invoice",
            "Refund",
            "Credit limit",
            "Carrier contract",
        ]
    )
    with transactions:
        table.data_table(
            billing_queries.ledger_entries(viewer.actor, summary.organization_id),
            key=_key(summary, "ledger"),
            time_zone=time_zone,
        )
    with posting:
        _posting_form(summary)
    with credit_note:
        _credit_note_form(viewer, summary)
    with refund:
        _refund_form(viewer, summary, time_zone=time_zone)
    with limit:
        _credit_limit_form(summary)
    with contract:
        _contract_forms(summary, plans)
    _confirmation(viewer, summary)


def _key(summary: BillingSummary, part: str) -> str:
    return f"staff.billing.{summary.organization_id}.{part}"


def _limit_source(summary: BillingSummary) -> str:
    return "set by staff" if summary.credit_limit_overridden else "the plan's"


def _plan_label(summary: BillingSummary) -> str:
    if summary.contract is not None:
        return f"{summary.plan_name} contract"
    return f"{summary.plan_name} plan, {summary.cycle.value}"


def _facts(summary: BillingSummary, *, time_zone: tzinfo) -> None:
    facts = [
        f"**Plan:** {md(_plan_label(summary))}, since "
        f"{summary.term_started_at.astimezone(time_zone):%Y-%m-%d}",
        f"**Credit limit:** {md(_limit_source(summary))}"
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
    if summary.closing is not None:
        facts.append(_closing_fact(summary.closing, time_zone=time_zone))
    st.markdown("  \n".join(facts))


def _closing_fact(closing: ClosingState, *, time_zone: tzinfo) -> str:
    """When its owner closed it, and where the refund of its balance to its cards stands: a
    refund still being tried is shown with its attempts, so staff do not refund it twice."""
    said = f"**Closed:** {closing.closed_at.astimezone(time_zone):%Y-%m-%d %H:%M}"
    error = f" ({md(closing.last_error)})" if closing.last_error else ""
    if closing.refund_status is None:
        return said + "; no balance was left to refund."
    if closing.refund_status == ClosingRefundStatus.REFUNDED:
        return said + "; its balance went back to its cards."
    if closing.refund_status == ClosingRefundStatus.STAFF:
        left = md(format_cents(closing.left_cents))
        return said + f"; **refund by staff:** {left} could not go back to its cards{error}."
    attempts = f"{closing.attempts} attempt{'' if closing.attempts == 1 else 's'} so far"
    if closing.next_attempt_at is not None:
        attempts += f", the next at {closing.next_attempt_at.astimezone(time_zone):%Y-%m-%d %H:%M}"
    return said + (
        f"; **refund pending:** its balance goes back to its cards by the job that refunds "
        f"closed balances ({attempts}){error}. Do not refund it by hand meanwhile."
    )


# --- The requests waiting for their confirmation ---------------------------------------------


@dataclass(frozen=True)
class _Request(ABC):
    """An action on one organization's account, waiting for its confirmation. ``token`` is
    new for each request: it keys the dialog's Reason box (so it starts empty), and it is a
    posting's idempotency key (so a double click posts once)."""

    organization_id: uuid.UUID
    token: str

    reason_placeholder: ClassVar[str] = "Why; kept in the audit log"

    @abstractmethod
    def describe(self, summary: BillingSummary) -> tuple[str, str, str]:
        """The dialog's title, message (markdown) and confirm button."""

    @abstractmethod
    def apply(self, actor: Actor, summary: BillingSummary, reason: str) -> str:
        """Do it with ``reason``; the outcome to show."""


@dataclass(frozen=True)
class _Posting(_Request):
    """A credit or adjustment of ``amount`` as typed (``cents`` as parsed)."""

    kind: EntryKind
    amount: str
    cents: int

    reason_placeholder: ClassVar[str] = (
        "Shown to the organization as the transaction's description, and kept in the audit log"
    )

    def describe(self, summary: BillingSummary) -> tuple[str, str, str]:
        name = md(summary.organization_name)
        after = md(format_cents(summary.funds.balance_cents + self.cents))
        now = md(format_cents(summary.funds.balance_cents))
        what = "credit" if self.kind is EntryKind.CREDIT else "adjustment"
        return (
            f"Post a {what}",
            f"Post a {what} of **{md(format_cents(self.cents))}** to **{name}**: its balance "
            f"goes from {now} to **{after}**. The reason is the description the "
            "organization reads in its Transactions.",
            f"Post {what}",
        )

    def apply(self, actor: Actor, summary: BillingSummary, reason: str) -> str:
        with resources.writing() as session:
            entry = staff_billing.post_credit(
                session,
                actor,
                self.organization_id,
                kind=self.kind,
                amount=self.amount,
                reason=reason,
                idempotency_key=self.token,
            )
        return (
            f"Posted {md(format_cents(entry.amount_cents))} to {md(summary.organization_name)}; "
            f"its balance is now {md(format_cents(entry.balance_after_cents))}."
        )


@dataclass(frozen=True)
class _LimitChange(_Request):
    """A credit limit as typed (``cents`` None: back to the plan's)."""

    limit: str
    cents: int | None

    def describe(self, summary: BillingSummary) -> tuple[str, str, str]:
        name = md(summary.organization_name)
        was = f"now {md(format_cents(summary.funds.credit_limit_cents))}, "
        was += md(_limit_source(summary))
        if self.cents is None:
            plan_limit = md(format_cents(summary.plan_credit_limit_cents))
            return (
                "Return to the plan's credit limit",
                f"**{name}**'s credit limit returns to its plan's, **{plan_limit}** ({was}).",
                "Use the plan's limit",
            )
        return (
            "Set the credit limit",
            f"**{name}**'s credit limit becomes **{md(format_cents(self.cents))}** "
            f"({was}). It holds across plan changes until cleared.",
            "Set credit limit",
        )

    def apply(self, actor: Actor, summary: BillingSummary, reason: str) -> str:
        with resources.writing() as session:
            in_force = staff_billing.set_credit_limit(
                session, actor, self.organization_id, limit=self.limit, reason=reason
            )
        return (
            f"{md(summary.organization_name)}'s credit limit is now {md(format_cents(in_force))}."
        )


@dataclass(frozen=True)
class _ContractChange(_Request):
    """New Carrier contract terms as typed (``terms`` describes them as parsed)."""

    form: ContractForm
    terms: str

    def describe(self, summary: BillingSummary) -> tuple[str, str, str]:
        name = md(summary.organization_name)
        terms_text = md(self.terms)
        if summary.contract is not None:
            return (
                "Change the Carrier contract",
                f"**{name}**'s contract becomes: {terms_text}. Its term is unchanged.",
                "Change contract",
            )
        return (
            "Start a Carrier contract",
            f"**{name}** moves from the {md(_plan_label(summary))} to a Carrier contract "
            f"now: {terms_text}. This month's invoice bills the contract's monthly fee "
            "instead of the plan's, and requests from now on are priced by the contract.",
            "Start contract",
        )

    def apply(self, actor: Actor, summary: BillingSummary, reason: str) -> str:
        with resources.writing() as session:
            staff_billing.set_carrier_contract(
                session, actor, self.organization_id, self.form, reason=reason
            )
        return f"{md(summary.organization_name)} is on its Carrier contract."


@dataclass(frozen=True)
class _ContractEnd(_Request):
    """The end of the contract, moving to a published plan (monthly)."""

    plan_code: str
    plan_name: str
    plan_credit_limit_cents: int

    def describe(self, summary: BillingSummary) -> tuple[str, str, str]:
        name = md(summary.organization_name)
        plan = md(self.plan_name)
        return (
            "End the Carrier contract",
            f"**{name}**'s contract ends now and it moves to the **{plan}** plan (monthly). "
            f"This month's invoice bills the {plan} plan's fee instead of the contract's; the "
            f"credit limit returns to the plan's, "
            f"{md(format_cents(self.plan_credit_limit_cents))}.",
            "End contract",
        )

    def apply(self, actor: Actor, summary: BillingSummary, reason: str) -> str:
        with resources.writing() as session:
            plan = staff_billing.end_carrier_contract(
                session, actor, self.organization_id, plan_code=self.plan_code, reason=reason
            )
        return (
            f"{md(summary.organization_name)}'s contract ended; it is on the {md(plan.name)} plan."
        )


@dataclass(frozen=True)
class _CreditNoteRequest(_Request):
    """A credit note against one invoice of ``amount`` as typed (empty: all it has left),
    ``cents`` before tax as parsed."""

    invoice_id: uuid.UUID
    invoice_label: str
    amount: str
    cents: int

    reason_placeholder: ClassVar[str] = (
        "Printed on the credit note and shown to the organization; kept in the audit log"
    )

    def describe(self, summary: BillingSummary) -> tuple[str, str, str]:
        return (
            "Issue a credit note",
            f"Credit **{md(format_cents(self.cents))}** before tax against "
            f"{md(self.invoice_label)}. The credit note carries the invoice's taxes at its "
            f"rates, and its total goes to **{md(summary.organization_name)}**'s balance.",
            "Issue credit note",
        )

    def apply(self, actor: Actor, summary: BillingSummary, reason: str) -> str:
        with resources.writing() as session:
            note = staff_billing.credit_invoice(
                session,
                actor,
                self.organization_id,
                self.invoice_id,
                amount=self.amount,
                reason=reason,
                idempotency_key=self.token,
            )
        return (
            f"Credit note {note.label} issued: {format_cents(note.total_cents)}, taxes "
            f"included, credited to {md(summary.organization_name)}'s balance."
        )


@dataclass(frozen=True)
class _RefundRequest(_Request):
    """A refund of ``amount`` as typed (empty: what is left) of one payment, through the
    gateway; ``cents`` is what it refunds, as parsed."""

    payment_id: uuid.UUID
    payment_label: str
    amount: str
    cents: int
    share_cents: int

    reason_placeholder: ClassVar[str] = (
        "Why the money goes back; kept in the audit log and told to the organization"
    )

    def describe(self, summary: BillingSummary) -> tuple[str, str, str]:
        name = md(summary.organization_name)
        return (
            "Refund a card payment",
            f"Refund **{md(format_cents(self.cents))}** of {md(self.payment_label)} to the card "
            f"it was charged to. **{md(format_cents(self.share_cents))}** leaves **{name}**'s "
            "balance (the convenience fee was never part of it), even if that takes it below "
            "zero. The card's bank shows the refund in a few days.",
            "Refund",
        )

    def apply(self, actor: Actor, summary: BillingSummary, reason: str) -> str:
        refund = refunds.refund_payment(
            resources.engine(),
            actor,
            organization_id=self.organization_id,
            payment_id=self.payment_id,
            amount=self.amount,
            reason=reason,
            idempotency_key=self.token,
        )
        if refund.status == RefundStatus.PENDING:
            return (
                f"The refund of {format_cents(refund.amount_cents)} is asked of the card "
                "processor, which has not answered yet: ask again later to finish it."
            )
        return (
            f"Refunded {format_cents(refund.amount_cents)} to the card; "
            f"{format_cents(refund.balance_cents)} left {md(summary.organization_name)}'s "
            "balance."
        )


def _confirmation(viewer: SessionView, summary: BillingSummary) -> None:
    """The dialog of the request waiting for its confirmation, if it is this account's."""
    request = confirm.asked(PENDING)
    if not isinstance(request, _Request) or request.organization_id != summary.organization_id:
        return
    title, message, confirm_label = request.describe(summary)
    confirm.dialog_with_reason(
        PENDING,
        title=title,
        message=message,
        confirm_label=confirm_label,
        action=partial(_apply, viewer, request, summary),
        reason_key=f"{PENDING}.reason.{request.token}",
        reason_placeholder=request.reason_placeholder,
        on_done=_remember,
    )


def _apply(viewer: SessionView, request: _Request, summary: BillingSummary, reason: str) -> str:
    return request.apply(viewer.actor, summary, reason)


def _remember(outcome: str) -> None:
    st.session_state[DONE] = outcome


# --- The forms that ask for a confirmation -----------------------------------------------------


def _posting_form(summary: BillingSummary) -> None:
    with st.form(_key(summary, "post.form")):
        kind = st.radio(
            "Type",
            list(KINDS),
            format_func=lambda value: KINDS[value],
            key=_key(summary, "post.kind"),
        )
        amount = st.text_input(
            "Amount (USD)",
            key=_key(summary, "post.amount"),
            placeholder="50.00",
            help="Whole cents, at most $100,000.00. An adjustment takes money away with a "
            "minus sign: -20.00.",
        )
        errors = forms.FieldErrors()
        errors.slot("amount")
        if st.form_submit_button("Review", type="primary", key=_key(summary, "post.review")):
            try:
                cents = staff_billing.posting_amount_cents(kind, amount)
            except ValidationFailed as error:
                errors.show(error)
            else:
                confirm.ask(
                    PENDING,
                    _Posting(summary.organization_id, uuid.uuid4().hex, kind, amount, cents),
                )


def _credit_note_form(viewer: SessionView, summary: BillingSummary) -> None:
    with resources.reading() as session:
        creditable = billing_queries.creditable_invoices(
            session, viewer.actor, summary.organization_id
        )
    if not creditable:
        st.info(
            "This organization has no invoice left to credit. To give back money that was "
            "never invoiced, post a credit instead.",
            icon=":material/info:",
        )
        return
    by_id = {invoice.id: invoice for invoice in creditable}
    with st.form(_key(summary, "credit_note.form")):
        st.caption(
            "A credit note gives back part of an invoice with the taxes the invoice charged on "
            "it, numbered CN-…, and listed with the organization's invoices."
        )
        chosen_id = st.selectbox(
            "Invoice",
            list(by_id),
            format_func=lambda invoice_id: by_id[invoice_id].label,
            key=_key(summary, "credit_note.invoice"),
        )
        amount = st.text_input(
            "Amount to credit, before tax (USD)",
            key=_key(summary, "credit_note.amount"),
            placeholder="Empty: all that is left",
        )
        errors = forms.FieldErrors()
        errors.slot("amount")
        review = st.form_submit_button(
            "Review", type="primary", key=_key(summary, "credit_note.review")
        )
        if review:
            chosen = by_id[chosen_id]
            try:
                cents = staff_billing.credit_note_amount_cents(amount, chosen.creditable_cents)
            except ValidationFailed as error:
                errors.show(error)
            else:
                confirm.ask(
                    PENDING,
                    _CreditNoteRequest(
                        summary.organization_id,
                        uuid.uuid4().hex,
                        chosen.id,
                        chosen.label,
                        amount,
                        cents,
                    ),
                )


def _refund_form(viewer: SessionView, summary: BillingSummary, *, time_zone: tzinfo) -> None:
    if summary.closing is not None and summary.closing.refund_status == ClosingRefundStatus.PENDING:
        # The service refuses it too (a page opened before the closing may still ask).
        st.info(
            "This organization closed and its balance is going back to its cards by itself: "
            "a refund by hand now would take from the same balance twice. The form returns "
            "when that refund ends; what no card takes is handed to staff, with a notice, to "
            "refund here.",
            icon=":material/hourglass_top:",
        )
        return
    with resources.reading() as session:
        payments = billing_queries.refundable_payments(
            session, viewer.actor, summary.organization_id
        )
    if not payments:
        st.info(
            "No card payment of this organization can be refunded: none reached its balance, "
            "or each is refunded in full or disputed by the cardholder's bank.",
            icon=":material/info:",
        )
        return
    by_id = {payment.id: payment for payment in payments}
    with st.form(_key(summary, "refund.form")):
        chosen_id = st.selectbox(
            "Payment",
            list(by_id),
            format_func=lambda payment_id: by_id[payment_id].label(time_zone),
            key=_key(summary, "refund.payment"),
        )
        amount = st.text_input(
            "Amount to refund (USD)",
            key=_key(summary, "refund.amount"),
            placeholder="Empty: all that is left",
            help="Of the total charged to the card (the amount and the convenience fee). The "
            "amount's share of it leaves the balance.",
        )
        errors = forms.FieldErrors()
        errors.slot("amount")
        if st.form_submit_button("Review", type="primary", key=_key(summary, "refund.review")):
            chosen = by_id[chosen_id]
            try:
                cents = refunds.refund_amount_cents(amount, chosen.refundable_cents)
            except ValidationFailed as error:
                errors.show(error)
            else:
                confirm.ask(
                    PENDING,
                    _RefundRequest(
                        summary.organization_id,
                        uuid.uuid4().hex,
                        chosen.id,
                        chosen.label(time_zone),
                        amount,
                        cents,
                        chosen.share_of(cents),
                    ),
                )


def _credit_limit_form(summary: BillingSummary) -> None:
    with st.form(_key(summary, "limit.form")):
        st.markdown(
            f"Now **{md(format_cents(summary.funds.credit_limit_cents))}**, "
            f"{md(_limit_source(summary))}. A limit set here holds across plan changes; "
            "leave the box empty to return to the plan's."
        )
        new_limit = st.text_input(
            "Credit limit (USD)",
            key=_key(summary, "limit.amount"),
            placeholder=f"Empty: the plan's, {format_cents(summary.plan_credit_limit_cents)}",
        )
        errors = forms.FieldErrors()
        errors.slot("credit_limit")
        if st.form_submit_button("Review", type="primary", key=_key(summary, "limit.review")):
            try:
                override = staff_billing.credit_limit_override_cents(new_limit)
            except ValidationFailed as error:
                errors.show(error)
            else:
                confirm.ask(
                    PENDING,
                    _LimitChange(summary.organization_id, uuid.uuid4().hex, new_limit, override),
                )


def _contract_forms(summary: BillingSummary, plans: list[PlanRow]) -> None:
    st.caption(
        "A Carrier contract replaces the plan's fee, allowance, price per additional "
        "request, lookups per second and credit limit for this organization. A new "
        "contract starts now: this month's invoice bills its monthly fee instead of the "
        "current plan's."
    )
    _contract_form(summary)
    if summary.contract is not None:
        _end_contract_form(summary, plans)


def _contract_form(summary: BillingSummary) -> None:
    terms = summary.contract
    with st.form(_key(summary, "contract.form")):
        fee, included = st.columns(2)
        monthly_fee = fee.text_input(
            "Monthly fee (USD)",
            value=editable_dollars(terms.monthly_cents if terms else None),
            key=_key(summary, "contract.monthly_fee"),
        )
        included_requests = included.text_input(
            "Included requests a month",
            value=f"{terms.included_requests:,}"
            if terms and terms.included_requests is not None
            else "",
            key=_key(summary, "contract.included_requests"),
        )
        errors = forms.FieldErrors()
        errors.slot("monthly_fee")
        errors.slot("included_requests")
        price, rate = st.columns(2)
        unit_price = price.text_input(
            "Price per additional request (USD)",
            value=editable_unit_price(terms.additional_request_micros if terms else None),
            key=_key(summary, "contract.price"),
            help="In dollars, up to six decimals: 0.0021 is 0.21 cents a request.",
        )
        lookups = rate.text_input(
            "Lookups per second",
            value=str(terms.lookups_per_second)
            if terms and terms.lookups_per_second is not None
            else "",
            key=_key(summary, "contract.lookups_per_second"),
        )
        errors.slot("additional_request_price")
        errors.slot("lookups_per_second")
        contract_limit = st.text_input(
            "Credit limit (USD)",
            value=editable_dollars(summary.funds.credit_limit_cents if terms else None),
            key=_key(summary, "contract.credit_limit"),
            help="The usual starting limit is twice the monthly fee.",
        )
        errors.slot("credit_limit")
        label = "Review new terms" if terms else "Review contract"
        if st.form_submit_button(label, type="primary", key=_key(summary, "contract.review")):
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
                errors.show(error)
            else:
                confirm.ask(
                    PENDING,
                    _ContractChange(
                        summary.organization_id, uuid.uuid4().hex, form, parsed.describe()
                    ),
                )


def _end_contract_form(summary: BillingSummary, plans: list[PlanRow]) -> None:
    published = {row.code: row for row in plans if not row.by_contract}
    with st.form(_key(summary, "end.form")):
        st.markdown("**End the contract**")
        plan_code = st.selectbox(
            "Move to the plan",
            list(published),
            format_func=lambda code: f"{published[code].name} (monthly)",
            key=_key(summary, "end.plan"),
        )
        if st.form_submit_button("Review", key=_key(summary, "end.review")):
            chosen = published[plan_code]
            confirm.ask(
                PENDING,
                _ContractEnd(
                    summary.organization_id,
                    uuid.uuid4().hex,
                    chosen.code,
                    chosen.name,
                    chosen.credit_limit_cents or 0,
                ),
            )
