"""Every call an API token makes is a line of its organization's Logs, with the token's name:
the product's own line for a lookup, else an API call line saying the method, the route, the
status and what an error said. Rate-limit refusals, test tokens, Logs' own reads and calls
without a token write none."""

from __future__ import annotations

from sqlmodel import col, select

from portal_core import db
from portal_core.models.billing import BillingAccount
from portal_core.models.products import EventProduct, EventStatus, ProductEvent
from portal_core.queries import logs
from portal_core.queries.listing import ListQuery, fetch_page
from portal_core.services import rate_limits
from tests.api.support import MANAGEMENT_SCOPES, mint, problem_of
from tests.services.products_support import member
from tests.services.support import count

LOOKUP = "/v1/smart-cnam/+14169671111"


def _lines(engine) -> list[ProductEvent]:
    with db.read_session(engine) as session:
        return list(session.exec(select(ProductEvent).order_by(col(ProductEvent.created_at))).all())


def test_a_read_is_a_line_of_logs_with_the_token(engine, client) -> None:
    token = mint(engine, scopes=("lookups", *MANAGEMENT_SCOPES))
    assert client.get("/v1/billing/balance", headers=token.bearer).status_code == 200
    [line] = _lines(engine)
    assert (line.product, line.action, line.status) == ("api", "call", EventStatus.OK)
    assert line.result == "GET /v1/billing/balance → 200 OK"
    assert line.api_token_id == token.new.token.id and line.user_id is None
    assert line.organization_id == token.owner.organization_id
    assert line.latency_ms is not None and line.cost_micros == 0


def test_a_refusal_says_why(engine, client) -> None:
    token = mint(engine)  # lookups alone
    refused = client.get("/v1/billing/balance", headers=token.bearer)
    detail = problem_of(refused, 403)["detail"]
    missing = client.get(
        "/v1/whois/profiles/00000000-0000-0000-0000-000000000000",
        headers=mint(engine, token.owner, scopes=("whois:read",)).bearer,
    )
    problem_of(missing, 404)
    bad = client.get(LOOKUP.replace("+14169671111", "hello"), headers=token.bearer)
    problem_of(bad, 422)
    lines = _lines(engine)
    assert [line.status for line in lines] == [EventStatus.REFUSED] * 3
    forbidden, not_found, unprocessable = (str(line.result) for line in lines)
    assert forbidden == f"GET /v1/billing/balance → 403 Forbidden: {detail}"
    assert not_found.startswith("GET /v1/whois/profiles/{profile_id} → 404 Not Found: ")
    assert unprocessable.startswith("GET /v1/smart-cnam/{source} → 422 Unprocessable")
    assert "not a phone number" in unprocessable


def test_a_lookup_is_its_own_line_only(engine, client) -> None:
    token = mint(engine)
    assert client.get(LOOKUP, headers=token.bearer).status_code == 200
    assert (
        client.get(
            "/v1/b/partner/smart-cnam/phoneNumber/14169671111", headers=token.basic
        ).status_code
        == 200
    )
    lines = _lines(engine)
    assert [(line.product, line.action) for line in lines] == [("smart_cnam", "lookup")] * 2
    assert {line.api_token_id for line in lines} == {token.new.token.id}


def test_a_lookup_refused_for_want_of_funds_is_one_line(engine, client) -> None:
    token = mint(engine, funds_cents=0, contract_included_requests=0)
    with db.write_session(engine) as session:
        account = session.get_one(BillingAccount, token.owner.organization_id)
        account.credit_limit_micros = 0
        session.add(account)
    problem_of(client.get(LOOKUP, headers=token.bearer), 402)
    [line] = _lines(engine)
    assert (line.product, line.status) == ("smart_cnam", EventStatus.REFUSED)


def test_a_whois_write_has_its_products_line_and_the_calls(engine, client) -> None:
    token = mint(engine, scopes=("whois:write", "whois:read"))
    created = client.post(
        "/v1/whois/profiles",
        json={"number": "+1 416 555 0100", "caller_name": "Acme", "line_type": "fixed"},
        headers=token.bearer,
    )
    assert created.status_code == 201, created.text
    lines = _lines(engine)
    assert sorted((line.product, line.action) for line in lines) == [
        ("api", "call"),
        ("whois", "registration"),
    ]
    call = next(line for line in lines if line.product == EventProduct.API)
    assert call.result == "POST /v1/whois/profiles → 201 Created"


def test_what_writes_no_line(engine, client, clock) -> None:
    live = mint(engine, scopes=("lookups", "billing:read", "logs:read"))
    test = mint(engine, test=True)
    assert client.get(LOOKUP, headers=test.bearer).status_code == 200  # a test token
    problem_of(client.get("/v1/billing/balance"), 401)  # no token
    problem_of(client.get("/v1/billing/balance", headers={"Authorization": "Bearer x.y"}), 401)
    assert client.get("/v1/logs", headers=live.bearer).status_code == 200  # Logs' own read
    light = rate_limits.policy(rate_limits.LIGHT).requests or 0
    for _ in range(light - 1):  # Logs' read counted too
        assert client.get("/v1/billing/balance", headers=live.bearer).status_code == 200
    problem_of(client.get("/v1/billing/balance", headers=live.bearer), 429)
    # The balance's reads within the limit, nothing else.
    assert count(engine, ProductEvent) == light - 1


def test_logs_list_the_call_lines_by_product_and_token(engine, client) -> None:
    token = mint(engine, scopes=("billing:read",))
    other = member(engine)
    assert client.get("/v1/billing/balance", headers=token.bearer).status_code == 200
    query = ListQuery(filters={"product": "api", "token": str(token.new.token.id)})
    with db.read_session(engine) as session:
        tokens = logs.event_tokens(session, token.owner.actor)
        listing = logs.events(token.owner.actor, tokens=tokens)
        page = fetch_page(session, listing, query)
        others = fetch_page(session, logs.events(other.actor), ListQuery())
    assert page.total == 1 and others.total == 0
    [row] = page.rows
    assert row["user"] == f"{token.new.token.name}{logs.TOKEN_SUFFIX}"
    assert row["result"] == "GET /v1/billing/balance → 200 OK"
