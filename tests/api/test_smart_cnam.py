"""Smart CNAM over the REST API: JSON and text answers, SIPSTACK's route, auth and its
refusals, billing exactly like the portal's lookups, test tokens that never bill."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select
from starlette.applications import Starlette
from starlette.routing import Mount

from portal_core import db
from portal_core.api.answers import SHORT_TEXT
from portal_core.models.api_tokens import ApiToken
from portal_core.models.billing import BillingAccount, LedgerEntry, UsageDaily, UsageRecord
from portal_core.models.products import EventStatus, ProductEvent, ProductEventDaily
from portal_core.rules import code_samples
from portal_core.services import api_tokens
from tests.api.support import NOW, api_over, mint
from tests.services.products_support import look_up, member, register
from tests.services.support import count, fetch

LOOKUP = "/v1/smart-cnam/+14169671111"
SIPSTACK = "/v1/b/partner/smart-cnam/phoneNumber/+14169671111"
STARTER_PRICE = 3_000


def _events(engine: Engine) -> list[ProductEvent]:
    with db.read_session(engine) as session:
        return list(session.exec(select(ProductEvent).order_by(col(ProductEvent.created_at))))


def _is_short_text(response, status: int) -> str:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/plain")
    body = response.text
    assert body.isascii() and 0 < len(body) <= 20 and "\n" not in body
    return body


def _is_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["detail"]
    assert "Traceback" not in response.text
    return body


# --- Answers -----------------------------------------------------------------------------


def test_a_lookup_answers_json_with_the_score_name_cost_and_request_id(engine, client) -> None:
    token = mint(engine)
    response = client.get(LOOKUP, headers={**token.bearer, "Idempotency-Key": "call-1"})
    assert response.status_code == 200
    body = response.json()
    assert body["request_id"] == "call-1"
    assert body["type"] == "cnam"
    assert body["source"]["e164"] == "+14169671111"
    assert body["source"]["shown"] == "+1 416-967-1111"
    assert (body["score"], body["score_millis"]) == ("2.500", 2500)
    assert body["band"] == "Spam Possible/Recovering" and body["spam"] is False
    assert body["caller_name"] == "Toronto ON"
    assert body["answer"] == {
        "location": "Toronto ON",
        "registration": "Not registered with SIPSTACK",
    }
    assert body["text"] == "2.500Toronto ON"
    assert (body["cost_micros"], body["currency"], body["test"]) == (0, "USD", False)


def test_a_registered_numbers_caller_name_is_answered(engine, client) -> None:
    token = mint(engine)
    owner = member(engine)
    register(engine, owner, "+14165550100", caller_name="Café Ltée")
    body = client.get("/v1/smart-cnam/+14165550100", headers=token.bearer).json()
    assert body["caller_name"] == "Café Ltée"
    assert body["text"].endswith("Cafe Ltee")


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        (f"{LOOKUP}?format=text", {}),
        (LOOKUP, {"Accept": "text/plain"}),
        (SIPSTACK, {}),
        (f"{SIPSTACK}?type=cnam", {"Accept": "*/*"}),
    ],
)
def test_the_text_answer_is_the_score_then_the_name(engine, client, url, headers) -> None:
    token = mint(engine)
    response = client.get(url, headers={**token.basic, **headers})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "2.500Toronto ON"


def test_risk_answers_the_score_alone_for_a_call_to_one_of_ones_numbers(engine, client) -> None:
    token = mint(engine)
    register(engine, token.owner, "+14165550100")
    response = client.get(
        "/v1/b/partner/smart-cnam/phoneNumber/+14169671111/+14165550100?type=risk",
        headers=token.basic,
    )
    assert (response.status_code, response.text) == (200, "2.500")
    body = client.get(
        "/v1/smart-cnam/+14169671111/+14165550100?type=risk", headers=token.bearer
    ).json()
    assert body["type"] == "risk" and body["destination"]["e164"] == "+14165550100"


@pytest.mark.parametrize("kind", ["regional", "telco", "profile"])
def test_the_other_types_answer_json_and_refuse_text_with_406(engine, client, kind) -> None:
    token = mint(engine)
    assert client.get(f"{LOOKUP}?type={kind}", headers=token.bearer).json()["type"] == kind
    refused = client.get(f"{LOOKUP}?type={kind}&format=text", headers=token.bearer)
    assert "only risk and cnam" in _is_problem(refused, 406)["detail"]
    assert _is_short_text(client.get(f"{SIPSTACK}?type={kind}", headers=token.basic), 406)


def test_an_unknown_type_is_a_422_naming_the_parameter(engine, client) -> None:
    token = mint(engine)
    assert (
        "query.type"
        in _is_problem(client.get(f"{LOOKUP}?type=x", headers=token.bearer), 422)["errors"]
    )


def test_the_token_pages_samples_call_routes_that_answer(engine, clock) -> None:
    """The samples shown with a new token (curl with Basic, httpx with Bearer) reach the API
    as the portal mounts it, under /api."""
    token = mint(engine)
    portal = Starlette(routes=[Mount("/api", app=api_over(engine, clock))])
    with TestClient(portal) as mounted:
        url = code_samples.lookup_url("http://testserver")
        by_curl = mounted.get(url, auth=(token.new.key, token.new.secret))
        by_httpx = mounted.get(url, headers=token.bearer)
    assert by_curl.status_code == by_httpx.status_code == 200
    assert by_curl.text == by_httpx.text == "2.500Ontario"  # +1 416-555-0100: a 555 number
    assert "--user" in code_samples.curl("http://testserver", "KEY", "SECRET")


# --- Authentication ------------------------------------------------------------------------


def test_no_token_is_a_401_that_challenges_for_basic(engine, client) -> None:
    response = client.get(LOOKUP)
    assert "Authorization header" in _is_problem(response, 401)["detail"]
    assert response.headers["www-authenticate"] == 'Basic realm="SIPSTACK"'
    text = client.get(SIPSTACK)
    assert _is_short_text(text, 401) == "Unauthorized"
    assert text.headers["www-authenticate"] == 'Basic realm="SIPSTACK"'


def test_a_wrong_secret_an_unknown_key_and_garbage_are_401(engine, client) -> None:
    token = mint(engine)
    wrong = f"Bearer {token.new.key}.{'x' * len(token.new.secret)}"
    unknown = f"Bearer ssk_live_{'A' * 16}.{token.new.secret}"
    for header in (wrong, unknown, "Bearer nonsense", "Basic !!!", "Digest abc"):
        _is_problem(client.get(LOOKUP, headers={"Authorization": header}), 401)


def test_an_expired_token_is_refused(engine, client, clock) -> None:
    token = mint(engine, expires_days=1)
    assert client.get(LOOKUP, headers=token.bearer).status_code == 200
    clock.advance(2 * 86_400)
    _is_problem(client.get(LOOKUP, headers=token.bearer), 401)


def test_a_revoked_token_is_refused_from_the_next_call(engine, client) -> None:
    token = mint(engine)
    assert client.get(LOOKUP, headers=token.bearer).status_code == 200
    with db.write_session(engine) as session:
        api_tokens.revoke(session, token.owner.actor, token.new.token.id, now=NOW)
    _is_problem(client.get(LOOKUP, headers=token.bearer), 401)
    assert _is_short_text(client.get(SIPSTACK, headers=token.basic), 401) == "Unauthorized"


@pytest.mark.parametrize("parameter", ["token", "api_key", "apikey", "access_token", "key"])
def test_a_token_in_the_query_string_is_never_accepted(engine, client, parameter) -> None:
    token = mint(engine)
    url = f"{LOOKUP}?{parameter}={token.new.bearer}"
    body = _is_problem(client.get(url), 401)
    assert "never accepted in the URL" in body["detail"] and "Authorization" in body["detail"]
    # not even beside a right header: the URL has leaked it
    _is_problem(client.get(url, headers=token.bearer), 401)
    assert count(engine, UsageRecord) == 0


def test_a_token_without_the_lookups_scope_is_a_403(engine, client) -> None:
    token = mint(engine, scopes=("whois:read",))
    body = _is_problem(client.get(LOOKUP, headers=token.bearer), 403)
    assert "lookups scope" in body["detail"]
    assert _is_short_text(client.get(SIPSTACK, headers=token.basic), 403) == "Forbidden"
    assert count(engine, UsageRecord) == 0


def test_a_successful_call_notes_the_tokens_last_use(engine, client, clock) -> None:
    token = mint(engine)
    api_tokens.flush_last_used(engine)  # what earlier tests left in this process
    client.get(LOOKUP, headers=token.bearer)
    assert api_tokens.flush_last_used(engine) == 1
    assert fetch(engine, ApiToken, token.new.token.id).last_used_at == clock.at


# --- Refusals --------------------------------------------------------------------------------


def test_not_a_phone_number_is_a_422_in_json_and_in_short_text(engine, client) -> None:
    token = mint(engine)
    body = _is_problem(client.get("/v1/smart-cnam/hello", headers=token.bearer), 422)
    assert "not a phone number" in body["errors"]["source"]
    assert (
        _is_short_text(
            client.get("/v1/b/partner/smart-cnam/phoneNumber/911", headers=token.basic), 422
        )
        == "Not a phone number"
    )
    assert count(engine, UsageRecord) == 0


def test_a_lookup_the_funds_cannot_cover_is_a_402_with_the_reason(engine, client) -> None:
    token = mint(engine, funds_cents=0, contract_included_requests=0)
    with db.write_session(engine) as session:
        account = session.get_one(BillingAccount, token.owner.organization_id)
        account.credit_limit_micros = 0
        session.add(account)
    body = _is_problem(client.get(LOOKUP, headers=token.bearer), 402)
    assert "Add funds" in body["detail"]
    assert _is_short_text(client.get(SIPSTACK, headers=token.basic), 402) == "Payment required"
    assert count(engine, UsageRecord) == 0
    assert [event.status for event in _events(engine)] == [EventStatus.REFUSED] * 2


def test_a_capped_plan_past_its_allowance_is_a_402(engine, client, clock) -> None:
    token = mint(engine, plan="free", contract_included_requests=1)
    assert client.get(LOOKUP, headers=token.bearer).status_code == 200
    clock.advance(1)  # Free looks up one number a second
    _is_problem(client.get(LOOKUP, headers=token.bearer), 402)


def test_a_bad_idempotency_key_is_a_422(engine, client) -> None:
    token = mint(engine)
    body = _is_problem(
        client.get(LOOKUP, headers={**token.bearer, "Idempotency-Key": "k" * 121}), 422
    )
    assert "Idempotency-Key" in body["errors"]


def test_errors_on_text_routes_are_short_ascii() -> None:
    for status, words in SHORT_TEXT.items():
        assert words.isascii() and len(words) <= 20, status


# --- Billing ---------------------------------------------------------------------------------


def test_an_api_lookup_is_billed_exactly_like_a_portal_lookup(engine, client) -> None:
    token = mint(engine, contract_included_requests=1)
    by_portal = member(engine, contract_included_requests=1)
    for _ in range(2):
        client.get(LOOKUP, headers=token.bearer)
        look_up(engine, by_portal, "+14169671111", now=NOW)

    def billing(organization_id: uuid.UUID) -> tuple:
        with db.read_session(engine) as session:
            account = session.get_one(BillingAccount, organization_id)
            records = session.exec(
                select(UsageRecord).where(col(UsageRecord.organization_id) == organization_id)
            ).all()
            daily = session.exec(
                select(UsageDaily).where(col(UsageDaily.organization_id) == organization_id)
            ).all()
            entries = session.exec(
                select(LedgerEntry).where(col(LedgerEntry.organization_id) == organization_id)
            ).all()
        return (
            (account.balance_micros, account.unbilled_micros, account.period_requests),
            sorted((r.lookup_type, r.included, r.cost_micros) for r in records),
            sorted((d.lookup_type, d.requests, d.cost_micros) for d in daily),
            sorted(e.amount_cents for e in entries),
        )

    api_billing = billing(token.owner.organization_id)
    assert api_billing == billing(by_portal.organization_id)
    assert api_billing[0][1] == STARTER_PRICE  # the second lookup was past the allowance


def test_an_api_lookup_shows_its_token_in_logs(engine, client) -> None:
    token = mint(engine)
    client.get(LOOKUP, headers=token.bearer)
    (event,) = _events(engine)
    assert event.api_token_id == token.new.token.id
    assert event.organization_id == token.owner.organization_id


def test_a_retried_request_with_its_idempotency_key_is_charged_once(engine, client) -> None:
    token = mint(engine, contract_included_requests=0)
    headers = {**token.bearer, "Idempotency-Key": "retry-me"}
    first = client.get(LOOKUP, headers=headers).json()
    again = client.get(LOOKUP, headers=headers).json()
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert first["cost_micros"] == again["cost_micros"] == STARTER_PRICE
    assert count(engine, UsageRecord) == 1 and len(_events(engine)) == 1
    assert fetch(engine, BillingAccount, token.owner.organization_id).unbilled_micros == (
        STARTER_PRICE
    )


def test_an_idempotency_key_reused_for_another_lookup_is_a_409(engine, client) -> None:
    token = mint(engine)
    headers = {**token.bearer, "Idempotency-Key": "one-request"}
    assert client.get(LOOKUP, headers=headers).status_code == 200
    _is_problem(client.get(f"{LOOKUP}?type=telco", headers=headers), 409)
    assert _is_short_text(client.get(f"{SIPSTACK}?type=risk", headers=headers), 422)
    assert count(engine, UsageRecord) == 1


# --- Test tokens -----------------------------------------------------------------------------


def test_a_test_token_answers_sample_data_and_never_bills_or_logs(engine, client, clock) -> None:
    token = mint(engine, test=True, funds_cents=0, plan="free", contract_included_requests=0)
    body = client.get("/v1/smart-cnam/+14165550100", headers=token.bearer).json()
    assert (body["caller_name"], body["score"], body["test"]) == ("Harbor Dental", "4.250", True)
    assert body["cost_micros"] == 0
    clock.advance(1)
    sipstack = client.get("/v1/b/partner/smart-cnam/phoneNumber/+15145550163", headers=token.basic)
    assert sipstack.text == "3.100Cafe Ltee"
    assert count(engine, UsageRecord) == 0
    assert count(engine, ProductEvent) == 0 and count(engine, ProductEventDaily) == 0
    assert fetch(engine, BillingAccount, token.owner.organization_id).period_requests == 0


def test_a_test_tokens_answer_for_an_unknown_number_is_the_same_every_time(engine, client) -> None:
    token = mint(engine, test=True)
    first = client.get(LOOKUP, headers=token.bearer).json()
    again = client.get(LOOKUP, headers=token.bearer).json()
    assert (first["score"], first["text"]) == (again["score"], again["text"])
    assert 2000 <= first["score_millis"] <= 4000
    other = client.get("/v1/smart-cnam/+14169671112", headers=token.bearer).json()
    assert other["source"]["e164"] == "+14169671112"


def test_a_test_token_refuses_what_a_live_one_refuses(engine, client) -> None:
    token = mint(engine, test=True)
    _is_problem(client.get("/v1/smart-cnam/911", headers=token.bearer), 422)
    _is_problem(client.get(f"{LOOKUP}?type=risk", headers=token.bearer), 422)
