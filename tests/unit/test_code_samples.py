"""The samples of a lookup through an API token: each names the portal's address and the
SIPSTACK-compatible route, with the token in the form that client takes."""

from __future__ import annotations

from portal_core.api.vocabulary import ApiLookupType
from portal_core.models.billing import LookupType
from portal_core.rules import code_samples

KEY = "ssk_live_0123456789abcdef"
SECRET = "A" * 38


def test_curl_sends_basic_credentials_to_the_lookup_route() -> None:
    assert code_samples.curl("https://portal.example.com/", KEY, SECRET) == (
        f"curl --user {KEY}:{SECRET} "
        '"https://portal.example.com/api/v1/b/partner/smart-cnam/phoneNumber/14165550100'
        '?type=cnam"'
    )


def test_python_sends_the_bearer_form() -> None:
    sample = code_samples.python("https://portal.example.com", KEY, SECRET)
    assert "import httpx" in sample
    assert f'headers={{"Authorization": "Bearer {KEY}.{SECRET}"}}' in sample
    compile(sample, "<sample>", "exec")  # the sample is Python that runs as pasted


def test_the_dialplan_line_puts_the_credentials_in_the_url_of_a_portal_under_a_path() -> None:
    assert code_samples.asterisk("https://example.com/portal/", KEY, SECRET) == (
        "same => n,Set(CALLERID(name)=${CURL("
        f"https://{KEY}:{SECRET}@example.com/portal/api/v1/b/partner/smart-cnam/phoneNumber/"
        "${CALLERID(num)}/${EXTEN}?type=cnam)})"
    )


def test_the_three_samples_are_offered_in_order() -> None:
    titles = [s.title for s in code_samples.lookup_samples("http://localhost:8501", KEY, SECRET)]
    assert titles == ["curl", "Python (httpx)", "Asterisk dialplan"]


def test_a_lookup_with_a_text_answer_is_asked_on_sipstacks_route_with_its_numbers() -> None:
    lookup = code_samples.Lookup("+14165550177", "+14165550144", LookupType.SOURCE_RISK)
    samples = code_samples.lookup_samples("https://portal.example.com", lookup=lookup)
    curl, python, dialplan = samples
    url = (
        "https://portal.example.com/api/v1/b/partner/smart-cnam/phoneNumber/"
        "+14165550177/+14165550144?type=risk"
    )
    assert curl.code == f'curl --user YOUR_KEY:YOUR_SECRET "{url}"'
    assert f'"{url}"' in python.code and "Bearer YOUR_KEY.YOUR_SECRET" in python.code
    assert python.code.endswith("print(answer.text)")
    compile(python.code, "<sample>", "exec")
    # A dialplan asks for the call it handles: its caller's number and the number called.
    assert dialplan.code == (
        "same => n,Set(SIPSTACK_SCORE=${CURL(https://YOUR_KEY:YOUR_SECRET@portal.example.com"
        "/api/v1/b/partner/smart-cnam/phoneNumber/${CALLERID(num)}/${EXTEN}?type=risk)})"
    )


def test_a_lookup_without_a_text_answer_is_asked_on_the_json_route_and_has_no_dialplan() -> None:
    lookup = code_samples.Lookup("+16475550166", None, LookupType.TELCO_CARRIER)
    samples = code_samples.lookup_samples("http://localhost:8501/", KEY, SECRET, lookup)
    assert [sample.title for sample in samples] == ["curl", "Python (httpx)"]
    curl, python = samples
    url = "http://localhost:8501/api/v1/smart-cnam/+16475550166?type=telco"
    assert curl.code == f'curl --user {KEY}:{SECRET} "{url}"'
    assert f'"{url}"' in python.code and python.code.endswith("print(answer.json())")
    compile(python.code, "<sample>", "exec")


def test_every_lookup_type_has_the_name_the_api_gives_it() -> None:
    assert {
        lookup_type: ApiLookupType(name).lookup_type
        for lookup_type, name in code_samples.API_TYPES.items()
    } == {lookup_type: lookup_type for lookup_type in LookupType}
    assert code_samples.TEXT_TYPES == {
        kind.lookup_type for kind in ApiLookupType if kind.has_text_answer
    }
