"""Read side of billing: what the top bar and the Dashboard show of an organization's money,
and Billing's lists (Transactions), each scoped to the acting user's organization."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel import Session, col, select

from portal_core.models.billing import BillingAccount, EntryKind, LedgerEntry
from portal_core.money import micros_to_cents
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.queries.listing import (
    ChoiceFilter,
    Column,
    ColumnKind,
    DateRangeFilter,
    Listing,
    Sort,
    TextFilter,
    created_sort,
    equal_choices,
)

# The ledger's kinds in a partner's words (docs/product.md, Pages › Billing › Transactions).
ENTRY_KINDS: dict[str, str] = {
    EntryKind.PAYMENT.value: "Payment",
    EntryKind.CREDIT.value: "Credit",
    EntryKind.INVOICE.value: "Invoice",
    EntryKind.ADJUSTMENT.value: "Adjustment",
    EntryKind.REFUND.value: "Refund",
    EntryKind.CHARGEBACK.value: "Chargeback",
    EntryKind.CHARGEBACK_REVERSAL.value: "Chargeback reversed",
}


@dataclass(frozen=True)
class Funds:
    """An organization's figures in cents. ``available_cents`` is the balance less the
    unbilled usage, subtracted in micro-dollars and rounded once: rounding each figure first
    could show a cent less (or more) than the meter's guard uses."""

    balance_cents: int
    unbilled_cents: int
    credit_limit_cents: int
    available_cents: int


def funds(session: Session, actor: Actor) -> Funds:
    """The acting user's organization's funds; an organization with no entries reads $0.00."""
    return funds_of(session, require_organization(actor))


def funds_of(session: Session, organization_id: uuid.UUID) -> Funds:
    account = session.exec(
        select(BillingAccount).where(BillingAccount.organization_id == organization_id)
    ).first()
    if account is None:
        return Funds(0, 0, 0, 0)
    return funds_in(account)


def funds_in(account: BillingAccount) -> Funds:
    """The account's cached figures (micro-dollars) in cents, rounded half-up."""
    return Funds(
        balance_cents=micros_to_cents(account.balance_micros),
        unbilled_cents=micros_to_cents(account.unbilled_micros),
        credit_limit_cents=micros_to_cents(account.credit_limit_micros),
        available_cents=micros_to_cents(account.balance_micros - account.unbilled_micros),
    )


def transactions(actor: Actor) -> Listing:
    """The organization's ledger, newest first: each entry's type, amount and new balance.

    The new balance is stored on each entry when it is posted (``services.ledger``), so it
    sorts and pages from an index like any column, however long the history.
    """
    require(actor, Capability.BILLING_READ)
    organization_id = require_organization(actor)
    kind = col(LedgerEntry.kind)
    return Listing(
        noun="transactions",
        select=select(col(LedgerEntry.id))
        .select_from(LedgerEntry)
        .where(col(LedgerEntry.organization_id) == organization_id),
        key=col(LedgerEntry.id),
        columns=(
            Column("created_at", "Date", col(LedgerEntry.created_at), ColumnKind.DATETIME),
            Column("kind", "Type", kind, ColumnKind.STATUS, labels=ENTRY_KINDS),
            Column("memo", "Description", col(LedgerEntry.memo)),
            Column(
                "amount_cents",
                "Amount",
                col(LedgerEntry.amount_cents),
                ColumnKind.MONEY_CENTS,
                help="Payments and credits add to your balance; invoices take from it.",
            ),
            Column(
                "balance_after_cents",
                "New balance",
                col(LedgerEntry.balance_after_cents),
                ColumnKind.MONEY_CENTS,
                help="Your balance right after this transaction.",
            ),
        ),
        sorts=(
            created_sort(col(LedgerEntry.created_at)),
            Sort("type", "Type", kind, then=(col(LedgerEntry.created_at),)),
            Sort("amount", "Amount", col(LedgerEntry.amount_cents)),
            Sort("balance_after", "New balance", col(LedgerEntry.balance_after_cents)),
        ),
        default_sort="created",
        default_descending=True,
        filters=(
            ChoiceFilter("type", "Type", equal_choices(kind, ENTRY_KINDS)),
            TextFilter(
                "search",
                "Description",
                (col(LedgerEntry.memo),),
                placeholder="Part of a description",
            ),
            DateRangeFilter("created", "Date", col(LedgerEntry.created_at)),
        ),
        empty_message=("No transactions yet: payments, credits and invoices will appear here."),
    )
