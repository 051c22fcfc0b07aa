"""The rate limits as a partner's system meets them: the headers on every answer, 429 with
Retry-After past a limit (problem JSON, or short text on a text route), windows that reset,
failed credentials stopped per address, and one count shared by two API processes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from portal_core import db
from portal_core.models.billing import BillingAccount, UsageRecord
from tests.api.support import MANAGEMENT_SCOPES, Clock, api_over, mint
from tests.services.support import count

LOOKUP = "/v1/smart-cnam/+14169671111"
SIPSTACK = "/v1/b/partner/smart-cnam/phoneNumber/+14169671111"
HEADERS = ("X-Rate-Limit-Policy", "X-Rate-Limit-Limit", "X-Rate-Limit-Remaining")


def _limits(response) -> tuple[str, int, int, int]:
    headers = response.headers
    return (
        headers["X-Rate-Limit-Policy"],
        int(headers["X-Rate-Limit-Limit"]),
        int(headers["X-Rate-Limit-Remaining"]),
        int(headers["X-Rate-Limit-Window"]),
    )


def test_the_plans_lookups_per_second_then_429_then_the_next_second(engine, client, clock):
    token = mint(engine, plan="starter")
    answers = [client.get(LOOKUP, headers=token.bearer) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert [_limits(a) for a in answers] == [("lookups", 5, left, 1) for left in (4, 3, 2, 1, 0)]
    refused = client.get(LOOKUP, headers=token.bearer)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert "5 lookups a second" in refused.json()["detail"]
    assert refused.headers["Retry-After"] == "1"
    assert _limits(refused) == ("lookups", 5, 0, 1)
    text = client.get(SIPSTACK, headers=token.basic)
    assert (text.status_code, text.text) == (429, "Too many requests")
    assert text.headers["Retry-After"] == "1"
    assert count(engine, UsageRecord) == 5  # a refused call reaches neither meter nor log
    clock.advance(1)
    assert client.get(LOOKUP, headers=token.bearer).status_code == 200


def test_every_answer_of_a_limited_route_carries_the_headers(engine, client, clock) -> None:
    token = mint(engine)
    no_scope = mint(engine, scopes=("whois:read",))
    broke = mint(engine, funds_cents=0, contract_included_requests=0)
    with db.write_session(engine) as session:
        account = session.get_one(BillingAccount, broke.owner.organization_id)
        account.credit_limit_micros = 0
        session.add(account)
    answers = {
        200: client.get(LOOKUP, headers=token.bearer),
        401: client.get(LOOKUP),
        402: client.get(LOOKUP, headers=broke.bearer),
        403: client.get(LOOKUP, headers=no_scope.bearer),
        406: client.get(f"{LOOKUP}?type=telco&format=text", headers=token.bearer),
        422: client.get("/v1/smart-cnam/hello", headers=token.bearer),
    }
    for status, response in answers.items():
        assert response.status_code == status
        assert all(name in response.headers for name in HEADERS), status
        assert int(response.headers["X-Rate-Limit-Window"]) in (1, 60)


def test_failed_credentials_are_stopped_per_address_even_with_good_ones(engine, client, clock):
    token = mint(engine)
    wrong = {"Authorization": f"Bearer {token.new.key}.{'x' * len(token.new.secret)}"}
    failures = [client.get(LOOKUP, headers=wrong) for _ in range(5)]
    assert [f.status_code for f in failures] == [401] * 5
    assert [_limits(f) for f in failures] == [("auth", 5, left, 60) for left in (4, 3, 2, 1, 0)]
    sixth = client.get(LOOKUP, headers=wrong)
    assert sixth.status_code == 429 and "failed credential checks" in sixth.json()["detail"]
    assert int(sixth.headers["Retry-After"]) == 60
    # Were the right secret let through now, the answers would tell a guesser it was right.
    good = client.get(LOOKUP, headers=token.bearer)
    assert good.status_code == 429 and _limits(good)[0] == "auth"
    assert client.get(SIPSTACK).text == "Too many requests"
    assert count(engine, UsageRecord) == 0
    clock.advance(60)
    assert client.get(LOOKUP, headers=token.bearer).status_code == 200


def test_calls_without_credentials_are_not_counted_as_failures(engine, client) -> None:
    token = mint(engine)
    for _ in range(8):  # what a client that waits for the Basic challenge sends first
        assert client.get(SIPSTACK).status_code == 401
    assert client.get(SIPSTACK, headers=token.basic).status_code == 200


def test_health_and_the_stripe_webhook_are_not_limited(client) -> None:
    health = client.get("/healthz")
    webhook = client.post("/stripe/webhook", content=b"{}")
    for response in (health, webhook):
        assert "X-Rate-Limit-Policy" not in response.headers


def test_two_api_processes_share_one_count(concurrent_engine, backend) -> None:
    """Two apps, each with an engine of its own on one database, as two processes are."""
    url = concurrent_engine.url.render_as_string(hide_password=False)
    other_engine = db.create_engine(url)
    clock = Clock()
    token = mint(concurrent_engine, plan="starter")
    try:
        with (
            TestClient(api_over(concurrent_engine, clock)) as first,
            TestClient(api_over(other_engine, clock)) as second,
        ):
            statuses = [
                (first if turn % 2 else second).get(LOOKUP, headers=token.bearer).status_code
                for turn in range(6)
            ]
            assert statuses == [200] * 5 + [429]
            clock.advance(1)
            assert second.get(LOOKUP, headers=token.bearer).status_code == 200
    finally:
        other_engine.dispose()


# --- The management routes' policies: light reads, medium writes, heavy bulk -------------


@pytest.mark.parametrize(
    ("method", "path", "policy", "limit"),
    [
        ("GET", "/v1/billing/balance", "light", 50),
        ("DELETE", "/v1/whois/profiles/not-a-profile", "medium", 40),
        ("GET", "/v1/logs.csv", "heavy", 10),
    ],
)
def test_each_management_policy_counts_per_token_then_answers_429(
    engine, client, clock, method, path, policy, limit
) -> None:
    token = mint(engine, scopes=MANAGEMENT_SCOPES)
    answers = [client.request(method, path, headers=token.bearer) for _ in range(limit)]
    assert all(answer.status_code in (200, 404) for answer in answers)
    assert _limits(answers[0]) == (policy, limit, limit - 1, 60)
    assert _limits(answers[-1]) == (policy, limit, 0, 60)
    refused = client.request(method, path, headers=token.bearer)
    assert refused.status_code == 429
    assert f"{limit:,} {policy} calls a minute" in refused.json()["detail"]
    assert int(refused.headers["Retry-After"]) <= 60
    # Counted per token: another token of the organization has its own count.
    other = mint(engine, token.owner, scopes=MANAGEMENT_SCOPES)
    assert client.request(method, path, headers=other.bearer).status_code in (200, 404)
    clock.advance(60)
    assert client.request(method, path, headers=token.bearer).status_code in (200, 404)
