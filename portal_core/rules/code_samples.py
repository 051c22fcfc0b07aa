"""Samples of a Smart CNAM lookup through an API token, to copy: curl, Python (httpx) and an
Asterisk dialplan line. The API token page shows them with a new token; Smart CNAM can show
them too. They call the SIPSTACK-compatible route, which answers the short text a call flow
reads as a caller name.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

LOOKUP_ROUTE = "/api/v1/b/partner/smart-cnam/phoneNumber"
SAMPLE_NUMBER = "14165550100"


@dataclass(frozen=True)
class Sample:
    title: str
    language: str  # for the code block's highlighting
    code: str


def lookup_url(base_url: str, number: str = SAMPLE_NUMBER) -> str:
    return f"{base_url.rstrip('/')}{LOOKUP_ROUTE}/{number}?type=cnam"


def curl(base_url: str, key: str, secret: str, number: str = SAMPLE_NUMBER) -> str:
    return f'curl --user {key}:{secret} "{lookup_url(base_url, number)}"'


def python(base_url: str, key: str, secret: str, number: str = SAMPLE_NUMBER) -> str:
    return (
        "import httpx\n"
        "\n"
        "answer = httpx.get(\n"
        f'    "{lookup_url(base_url, number)}",\n'
        f'    headers={{"Authorization": "Bearer {key}.{secret}"}},\n'
        "    timeout=5,\n"
        ")\n"
        "answer.raise_for_status()\n"
        "print(answer.text)"
    )


def asterisk(base_url: str, key: str, secret: str) -> str:
    """The dialplan line that sets an incoming call's caller name from the lookup of its
    number, for the number it called; the credentials ride in the URL, as CURL() takes them."""
    parts = urlsplit(base_url.rstrip("/"))
    url = (
        f"{parts.scheme}://{key}:{secret}@{parts.netloc}{parts.path}{LOOKUP_ROUTE}"
        "/${CALLERID(num)}/${EXTEN}?type=cnam"
    )
    return f"same => n,Set(CALLERID(name)=${{CURL({url})}})"


def lookup_samples(base_url: str, key: str, secret: str) -> tuple[Sample, ...]:
    return (
        Sample("curl", "bash", curl(base_url, key, secret)),
        Sample("Python (httpx)", "python", python(base_url, key, secret)),
        Sample("Asterisk dialplan", "text", asterisk(base_url, key, secret)),
    )
