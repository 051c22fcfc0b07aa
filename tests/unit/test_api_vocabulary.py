"""The REST API's vocabulary: every lookup type has exactly one API name, only risk and cnam
have a text answer, pages are 10, 20, 50 or 100 rows, labels become stable JSON keys."""

from __future__ import annotations

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import ValidationError

from portal_core.api.vocabulary import (
    ApiLookupType,
    Page,
    PageRequest,
    page_request,
    word_key,
)
from portal_core.errors import ValidationFailed
from portal_core.models.billing import LookupType


def test_each_lookup_type_has_one_api_name_and_back() -> None:
    assert {name.value: name.lookup_type for name in ApiLookupType} == {
        "risk": LookupType.SOURCE_RISK,
        "cnam": LookupType.CALLER_ID,
        "regional": LookupType.REGIONAL,
        "telco": LookupType.TELCO_CARRIER,
        "profile": LookupType.ONLINE_PROFILES,
    }
    for lookup_type in LookupType:
        assert ApiLookupType.of(lookup_type).lookup_type == lookup_type


def test_only_risk_and_cnam_have_a_text_answer() -> None:
    assert {name for name in ApiLookupType if name.has_text_answer} == {
        ApiLookupType.RISK,
        ApiLookupType.CNAM,
    }


@pytest.mark.parametrize(
    ("label", "key"),
    [("City / region", "city_region"), ("E-mail", "email"), ("Caller name", "caller_name")],
)
def test_labels_become_json_keys(label: str, key: str) -> None:
    assert word_key(label) == key


def test_a_list_takes_pages_of_10_20_50_or_100_rows() -> None:
    app = FastAPI()

    @app.get("/things")
    def things(paging: PageRequest = Depends(page_request)) -> Page[str]:  # noqa: B008
        return Page[str](items=["a"], page=paging.page, page_size=paging.page_size, total=1)

    @app.exception_handler(ValidationFailed)
    async def refused(_request: Request, error: ValidationFailed) -> JSONResponse:
        return JSONResponse(error.errors, status_code=error.status)

    client = TestClient(app)
    assert client.get("/things").json() == {"items": ["a"], "page": 1, "page_size": 20, "total": 1}
    assert client.get("/things?page=3&page_size=100").json()["page_size"] == 100
    refused_size = client.get("/things?page_size=30")
    assert refused_size.status_code == 422
    assert refused_size.json() == {"page_size": "Show 10, 20, 50 or 100 rows a page, not 30."}
    assert client.get("/things?page=0").status_code == 422
    with pytest.raises(ValidationError):
        PageRequest(page=1, page_size=25)
