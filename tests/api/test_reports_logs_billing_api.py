"""Community reports, Logs and Billing over the REST API: the services' rules, the lists'
filters and totals, money in integer cents, Logs' CSV, scopes, and test tokens refused."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import pytest
from sqlmodel import col, select

from portal_core import db
from portal_core.models.billing import Invoice, InvoiceStatus
from portal_core.models.products import CommunityReport, EventProduct, ProductEvent
from portal_core.services import api_tokens
from tests.api.support import MANAGEMENT_SCOPES, NOW, mint, problem_of
from tests.services.products_support import member, register
from tests.services.support import count

LOOKUP = "/v1/smart-cnam/+14169671111"


def _token(engine, **options):
    return mint(engine, scopes=("lookups", *MANAGEMENT_SCOPES), **options)


# --- Community reports --------------------------------------------------------------------


def test_a_report_is_recorded_and_logged_with_the_token(engine, client) -> None:
    token = _token(engine)
    response = client.post(
        "/v1/reports",
        json={"number": "+1 212 555 0100", "kind": "spam", "comment": "Robocalls"},
        headers=token.bearer,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["number"] == {"e164": "+12125550100", "shown": "+1 212-555-0100"}
    assert (body["kind"], body["comment"]) == ("spam", "Robocalls")
    assert response.headers["X-Rate-Limit-Policy"] == "medium"
    with db.read_session(engine) as session:
        [event] = session.exec(
            select(ProductEvent).where(col(ProductEvent.product) == EventProduct.REPORTS)
        ).all()
    assert event.api_token_id == token.new.token.id


def test_the_reports_rules_answer_409_and_422(engine, client) -> None:
    token = _token(engine)
    register(engine, token.owner, "+14165550100")
    report = {"number": "+12125550100", "kind": "safe"}
    assert client.post("/v1/reports", json=report, headers=token.bearer).status_code == 201
    again = client.post("/v1/reports", json={**report, "kind": "spam"}, headers=token.bearer)
    assert "one report per number every 30 days" in problem_of(again, 409)["detail"]
    own = client.post(
        "/v1/reports", json={"number": "+14165550100", "kind": "spam"}, headers=token.bearer
    )
    assert "one of your own numbers" in problem_of(own, 409)["detail"]
    bad = client.post("/v1/reports", json={"number": "hello", "kind": "spam"}, headers=token.bearer)
    assert "number" in problem_of(bad, 422)["errors"]
    kind = client.post(
        "/v1/reports", json={"number": "+12125550101", "kind": "rude"}, headers=token.bearer
    )
    assert "body.kind" in problem_of(kind, 422)["errors"]
    long = client.post(
        "/v1/reports",
        json={"number": "+12125550101", "kind": "spam", "comment": "x" * 301},
        headers=token.bearer,
    )
    assert "comment" in problem_of(long, 422)["errors"]
    assert count(engine, CommunityReport) == 1


def test_reporting_needs_its_scope_a_live_token_and_a_token(engine, client) -> None:
    report = {"number": "+12125550100", "kind": "spam"}
    reader = mint(engine, scopes=("whois:read", "lookups"))
    assert (
        "scope"
        in problem_of(client.post("/v1/reports", json=report, headers=reader.bearer), 403)["detail"]
    )
    test = _token(engine, test=True)
    refused = client.post("/v1/reports", json=report, headers=test.bearer)
    assert "test token" in problem_of(refused, 403)["detail"]
    problem_of(client.post("/v1/reports", json=report), 401)
    assert count(engine, CommunityReport) == 0


# --- Logs ---------------------------------------------------------------------------------


def test_logs_list_the_organizations_events_filtered_and_paged(engine, client, clock) -> None:
    token = _token(engine)
    other = _token(engine, owner=token.owner)
    for _ in range(3):
        assert client.get(LOOKUP, headers=token.bearer).status_code == 200
        clock.advance(1)  # newest first: one order on both databases
    assert client.get(f"{LOOKUP}?type=regional", headers=other.bearer).status_code == 200
    register(engine, token.owner, "+14165550100", now=NOW)
    stranger = _token(engine)
    client.get(LOOKUP, headers=stranger.bearer)
    clock.advance(60)

    everything = client.get("/v1/logs?page_size=100", headers=token.bearer).json()
    assert everything["total"] == 5
    lookups = client.get("/v1/logs?product=smart_cnam&page_size=10", headers=token.bearer)
    body = lookups.json()
    assert (body["total"], len(body["items"])) == (4, 4)
    first = body["items"][-1]
    assert (first["type"], first["status"]) == ("cnam", "ok")
    assert first["number"] == {"e164": "+14169671111", "shown": "+1 416-967-1111"}
    assert first["destination"] is None
    assert first["by"].endswith("(API token)") and first["currency"] == "USD"
    assert isinstance(first["cost_micros"], int)
    assert first["created_at"].endswith("Z")
    regional = client.get("/v1/logs?type=regional", headers=token.bearer).json()
    assert [item["type"] for item in regional["items"]] == ["regional"]
    by_token = client.get(f"/v1/logs?token_id={other.new.token.id}", headers=token.bearer).json()
    assert by_token["total"] == 1
    paged = client.get("/v1/logs?page_size=10&page=1", headers=token.bearer).json()
    assert paged["page"] == 1 and paged["total"] == 5
    day = NOW.date()
    assert client.get(f"/v1/logs?start={day}&end={day}", headers=token.bearer).json()["total"] == 5
    later = day + timedelta(days=1)
    assert client.get(f"/v1/logs?start={later}", headers=token.bearer).json()["total"] == 0
    assert lookups.headers["X-Rate-Limit-Policy"] == "light"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("token_id=nope", "token_id"),
        (f"token_id={uuid.uuid4()}", "token_id"),
        ("type=fax", "query.type"),
        ("start=2026-11-20&end=2026-11-01", "created"),
        ("start=yesterday", "query.start"),
        ("page_size=7", "page_size"),
    ],
)
def test_a_bad_logs_filter_is_a_422_naming_it(engine, client, query, field) -> None:
    token = _token(engine)
    assert field in problem_of(client.get(f"/v1/logs?{query}", headers=token.bearer), 422)["errors"]


def test_another_organizations_token_is_no_filter_of_ours(engine, client) -> None:
    token = _token(engine)
    stranger = _token(engine)
    client.get(LOOKUP, headers=stranger.bearer)
    refused = client.get(f"/v1/logs?token_id={stranger.new.token.id}", headers=token.bearer)
    assert "token_id" in problem_of(refused, 422)["errors"]


def test_logs_csv_is_the_pages_csv_of_every_filtered_event(engine, client) -> None:
    token = _token(engine)
    for _ in range(3):
        client.get(LOOKUP, headers=token.bearer)
    register(engine, token.owner, "+14165550100", caller_name="Acme")
    response = client.get("/v1/logs.csv?product=smart_cnam", headers=token.bearer)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="events-2026-11-16.csv"' in response.headers["content-disposition"]
    assert response.headers["X-Rate-Limit-Policy"] == "heavy"
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["Time", "User or API token", "Product", "Action"]
    assert len(rows) == 4
    assert {row[2] for row in rows[1:]} == {"Smart CNAM"}
    assert rows[1][5] == "'+1 416-967-1111"  # a formula-looking cell is neutralised
    refused = client.get("/v1/logs.csv?type=fax", headers=token.bearer)
    assert "query.type" in problem_of(refused, 422)["errors"]


def test_logs_need_their_scope_and_a_live_token(engine, client) -> None:
    lookups = mint(engine)
    test = _token(engine, test=True)
    for path in ("/v1/logs", "/v1/logs.csv"):
        assert "scope" in problem_of(client.get(path, headers=lookups.bearer), 403)["detail"]
        assert "test token" in problem_of(client.get(path, headers=test.bearer), 403)["detail"]
        problem_of(client.get(path), 401)


def test_reading_logs_writes_no_line_of_logs(engine, client) -> None:
    """Paging through Logs must not add the lines it pages through; other reads are lines."""
    token = _token(engine)
    assert client.get("/v1/logs", headers=token.bearer).status_code == 200
    assert client.get("/v1/logs.csv", headers=token.bearer).status_code == 200
    assert client.get("/v1/logs?page=2", headers=token.bearer).json()["total"] == 0
    assert count(engine, ProductEvent) == 0
    assert client.get("/v1/billing/balance", headers=token.bearer).status_code == 200
    assert count(engine, ProductEvent) == 1


# --- Billing ------------------------------------------------------------------------------


def _invoice(engine, organization_id: uuid.UUID, period: str, total: int, **fields) -> Invoice:
    invoice = Invoice(
        organization_id=organization_id,
        number=uuid.uuid4().int % 1_000_000_000,
        period=period,
        status=fields.pop("status", InvoiceStatus.PAID),
        subtotal_cents=total - 13 * total // 113,
        tax_cents=13 * total // 113,
        total_cents=total,
        issued_at=fields.pop("issued_at", NOW),
        seller_details="SIPSTACK",
        buyer_details="Partner",
    )
    with db.write_session(engine) as session:
        session.add(invoice)
    return invoice


def test_the_balance_is_in_cents_with_its_currency(engine, client) -> None:
    token = _token(engine, funds_cents=12_345)
    response = client.get("/v1/billing/balance", headers=token.bearer)
    assert response.json() == {
        "balance_cents": 12_345,
        "available_cents": 12_345,
        "credit_limit_cents": 0,
        "unbilled_cents": 0,
        "currency": "USD",
    }
    assert response.headers["X-Rate-Limit-Policy"] == "light"


def test_transactions_are_the_organizations_own_paged(engine, client) -> None:
    token = _token(engine, funds_cents=5_000)
    _token(engine, funds_cents=7_000)  # another organization's payment
    body = client.get("/v1/billing/transactions", headers=token.bearer).json()
    assert body["total"] == 1
    [payment] = body["items"]
    assert (payment["type"], payment["amount_cents"], payment["currency"]) == (
        "payment",
        5_000,
        "USD",
    )
    assert payment["balance_after_cents"] == 5_000
    none = client.get("/v1/billing/transactions?type=refund", headers=token.bearer).json()
    assert (none["total"], none["items"]) == (0, [])
    refused = client.get("/v1/billing/transactions?type=gift", headers=token.bearer)
    assert "type" in problem_of(refused, 422)["errors"]


def test_invoices_are_listed_newest_first_in_cents(engine, client) -> None:
    token = _token(engine)
    for month in range(1, 13):
        _invoice(
            engine,
            token.owner.organization_id,
            f"2025-{month:02d}",
            11_300 + month,
            issued_at=NOW - timedelta(days=400 - 30 * month),
        )
    _invoice(engine, member(engine).organization_id, "2025-12", 99_999)
    first = client.get("/v1/billing/invoices?page_size=10", headers=token.bearer).json()
    assert (first["total"], len(first["items"])) == (12, 10)
    newest = first["items"][0]
    assert (newest["period"], newest["total_cents"], newest["currency"]) == (
        "2025-12",
        11_312,
        "USD",
    )
    assert newest["subtotal_cents"] + newest["tax_cents"] == newest["total_cents"]
    second = client.get("/v1/billing/invoices?page_size=10&page=2", headers=token.bearer).json()
    assert [item["period"] for item in second["items"]] == ["2025-02", "2025-01"]
    due = client.get("/v1/billing/invoices?status=due", headers=token.bearer).json()
    assert due["total"] == 0


def test_billing_needs_its_scope_and_a_live_token(engine, client) -> None:
    whois_only = mint(engine, scopes=("whois:read",))
    test = _token(engine, test=True)
    for path in ("/v1/billing/balance", "/v1/billing/transactions", "/v1/billing/invoices"):
        assert "scope" in problem_of(client.get(path, headers=whois_only.bearer), 403)["detail"]
        assert "test token" in problem_of(client.get(path, headers=test.bearer), 403)["detail"]
        problem_of(client.get(path), 401)


def test_a_revoked_token_is_refused_on_the_management_routes(engine, client) -> None:
    token = _token(engine)
    with db.write_session(engine) as session:
        api_tokens.revoke(session, token.owner.actor, token.new.token.id)
    problem_of(client.get("/v1/billing/balance", headers=token.bearer), 401)
