"""The samples Smart CNAM shows for a lookup, one for each lookup type, reach routes that
answer under /api as the portal mounts the API: curl's with HTTP Basic, Python's with Bearer,
each the answer its code reads (a text answer, or JSON of that lookup)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.routing import Mount

from portal_core.models.billing import LookupType
from portal_core.rules import code_samples
from tests.api.support import api_over, mint
from tests.services.products_support import register

SOURCE = "+14169671111"
OWN_NUMBER = "+14165550100"
BASE = "http://testserver"


def _sample_url(code: str) -> str:
    [url] = re.findall(r'"(http://testserver/[^"]+)"', code)
    return url


@pytest.mark.parametrize("lookup_type", list(LookupType), ids=str)
def test_the_samples_of_a_lookup_call_routes_that_answer_it(engine, clock, lookup_type) -> None:
    token = mint(engine)
    register(engine, token.owner, OWN_NUMBER)  # Source/Risk asks about a call to one's own
    lookup = code_samples.Lookup(SOURCE, OWN_NUMBER, lookup_type)
    curl, python, *_dialplan = code_samples.lookup_samples(
        BASE, token.new.key, token.new.secret, lookup
    )
    portal = Starlette(routes=[Mount("/api", app=api_over(engine, clock))])
    with TestClient(portal) as mounted:
        by_curl = mounted.get(_sample_url(curl.code), auth=(token.new.key, token.new.secret))
        by_httpx = mounted.get(_sample_url(python.code), headers=token.bearer)
    assert by_curl.status_code == by_httpx.status_code == 200, by_curl.text
    if lookup.has_text_answer:
        assert by_curl.headers["content-type"].startswith("text/plain")
        assert re.fullmatch(r"\d\.\d{3}.*", by_curl.text)
        assert by_httpx.text == by_curl.text
    else:
        answer = by_httpx.json()
        assert answer["type"] == code_samples.API_TYPES[lookup_type]
        assert (answer["source"]["e164"], answer["destination"]["e164"]) == (SOURCE, OWN_NUMBER)
