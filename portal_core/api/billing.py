"""Billing over the API (docs/product.md, The REST API's contract): the organization's
funds, its transactions and its invoices, read-only, in integer cents with ``"currency":
"USD"``. The lists are Billing's own (``queries.billing``, ``queries.invoices``).
"""

import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from portal_core import db
from portal_core.api.auth import Authorizer
from portal_core.api.management import date_range, iso, list_query, live_caller, responses
from portal_core.api.vocabulary import CURRENCY, Page, PageRequest, page_request
from portal_core.queries import billing, invoices
from portal_core.queries.listing import Listing, ListQuery, fetch_page
from portal_core.services import rate_limits
from portal_core.services.api_tokens import Caller, Scope

PREFIX = "/v1/billing"
Day = Annotated[date | None, Query(description="A UTC day, YYYY-MM-DD (both ends included).")]


class Balance(BaseModel):
    balance_cents: int = Field(description="Payments and credits, less invoices.")
    available_cents: int = Field(description="The balance less unbilled usage.")
    credit_limit_cents: int
    unbilled_cents: int = Field(description="Usage not yet invoiced.")
    currency: Literal["USD"] = CURRENCY


class Transaction(BaseModel):
    id: uuid.UUID
    created_at: datetime
    type: str = Field(description="payment, credit, invoice, adjustment, refund…")
    description: str | None
    amount_cents: int
    balance_after_cents: int
    currency: Literal["USD"] = CURRENCY


class InvoiceSummary(BaseModel):
    id: uuid.UUID
    number: int
    period: str = Field(description="The month invoiced, YYYY-MM.")
    issued_at: datetime
    status: str
    subtotal_cents: int
    tax_cents: int
    total_cents: int
    currency: Literal["USD"] = CURRENCY


def _page(engine: Engine, listing: Listing, query: ListQuery, item: Callable[..., Any]) -> Any:
    with db.read_session(engine) as session:
        page = fetch_page(session, listing, query)
    return {
        "items": [item(key, row) for key, row in zip(page.keys, page.rows, strict=True)],
        "total": page.total,
        "page": page.page,
        "page_size": page.page_size,
    }


def router(engine: Callable[[], Engine], clock: Callable[[], datetime]) -> APIRouter:
    routes = APIRouter(tags=["Billing"])
    reader = live_caller(Authorizer(engine, clock), rate_limits.LIGHT, Scope.BILLING_READ)
    BillingCaller = Annotated[Caller, Depends(reader)]
    Paging = Annotated[PageRequest, Depends(page_request)]

    @routes.get(
        f"{PREFIX}/balance",
        summary="The balance, available funds, credit limit and unbilled usage",
        response_model=Balance,
        responses=responses(rate_limits.LIGHT),
    )
    def balance(caller: BillingCaller) -> dict[str, Any]:
        with db.read_session(engine()) as session:
            funds = billing.funds(session, caller.actor)
        return {
            "balance_cents": funds.balance_cents,
            "available_cents": funds.available_cents,
            "credit_limit_cents": funds.credit_limit_cents,
            "unbilled_cents": funds.unbilled_cents,
            "currency": CURRENCY,
        }

    @routes.get(
        f"{PREFIX}/transactions",
        summary="The organization's transactions, newest first",
        response_model=Page[Transaction],
        responses=responses(rate_limits.LIGHT),
    )
    def transactions(
        caller: BillingCaller,
        paging: Paging,
        type: Annotated[str | None, Query(description="payment, credit, invoice…")] = None,
        search: Annotated[str | None, Query(description="Part of a description.")] = None,
        start: Day = None,
        end: Day = None,
    ) -> dict[str, Any]:
        query = list_query(
            paging, {"type": type, "search": search, "created": date_range(start, end)}
        )
        return _page(
            engine(),
            billing.transactions(caller.actor),
            query,
            lambda key, row: {
                "id": key,
                "created_at": iso(row["created_at"]),
                "type": row["kind"],
                "description": row["memo"],
                "amount_cents": row["amount_cents"],
                "balance_after_cents": row["balance_after_cents"],
            },
        )

    @routes.get(
        f"{PREFIX}/invoices",
        summary="The organization's invoices, newest first",
        response_model=Page[InvoiceSummary],
        responses=responses(rate_limits.LIGHT),
    )
    def invoice_list(
        caller: BillingCaller,
        paging: Paging,
        status: Annotated[str | None, Query(description="An invoice's status.")] = None,
        search: Annotated[str | None, Query(description="A number or a period.")] = None,
        start: Day = None,
        end: Day = None,
    ) -> dict[str, Any]:
        query = list_query(
            paging, {"status": status, "search": search, "issued": date_range(start, end)}
        )
        return _page(
            engine(),
            invoices.invoices(caller.actor),
            query,
            lambda key, row: {
                "id": key,
                "number": row["number"],
                "period": row["period"],
                "issued_at": iso(row["issued_at"]),
                "status": row["status"],
                "subtotal_cents": row["subtotal_cents"],
                "tax_cents": row["tax_cents"],
                "total_cents": row["total_cents"],
            },
        )

    return routes
