"""The REST API's skeleton: health, problem JSON for errors (RFC 9457), OpenAPI."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from portal_core.api import app as api_module
from portal_core.errors import NotFound, Throttled, ValidationFailed


@pytest.fixture
def client(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setattr(api_module, "engine", lambda: engine)
    application = api_module.create_app()
    _add_failing_routes(application)
    with TestClient(application, raise_server_exceptions=False) as client:
        yield client


def _add_failing_routes(application: FastAPI) -> None:
    @application.get("/boom/not-found")
    def not_found() -> None:
        raise NotFound("That invoice was not found.")

    @application.get("/boom/invalid")
    def invalid() -> None:
        raise ValidationFailed({"amount": "Enter an amount between $10 and $10,000."})

    @application.get("/boom/throttled")
    def throttled() -> None:
        raise Throttled("Slow down.", retry_after_seconds=42)

    @application.get("/boom/crash")
    def crash() -> None:
        raise RuntimeError("secret internals")

    @application.get("/boom/typed/{number}")
    def typed(number: int) -> dict[str, int]:
        return {"number": number}


def test_healthz_answers_ok_when_the_database_answers(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_an_unknown_route_is_a_problem_json_404(client: TestClient) -> None:
    response = client.get("/no-such-route")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_a_domain_error_keeps_its_status_and_message(client: TestClient) -> None:
    response = client.get("/boom/not-found")
    assert response.status_code == 404
    body = response.json()
    assert body["title"] == "Not found"
    assert body["detail"] == "That invoice was not found."


def test_validation_errors_list_each_field(client: TestClient) -> None:
    response = client.get("/boom/invalid")
    assert response.status_code == 422
    assert response.json()["errors"] == {"amount": "Enter an amount between $10 and $10,000."}


def test_bad_request_input_is_a_422_problem_naming_the_field(client: TestClient) -> None:
    response = client.get("/boom/typed/not-a-number")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "path.number" in response.json()["errors"]


def test_throttling_says_when_to_retry(client: TestClient) -> None:
    response = client.get("/boom/throttled")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "42"


def test_an_unexpected_error_reveals_nothing(client: TestClient) -> None:
    response = client.get("/boom/crash")
    assert response.status_code == 500
    assert "secret" not in response.text
    assert response.json()["detail"] == "Something went wrong on our side."


def test_the_openapi_document_describes_healthz(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert "/healthz" in document["paths"]
