"""The samples of a lookup through an API token: each names the portal's address and the
SIPSTACK-compatible route, with the token in the form that client takes."""

from __future__ import annotations

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
