"""Samples of a Smart CNAM lookup through an API token, to copy: curl, Python (httpx) and an
Asterisk dialplan line. The API token page shows them with a new token (its key and secret,
for the sample number); Smart CNAM shows the lookup on screen, its numbers and type, with
``YOUR_KEY`` / ``YOUR_SECRET`` in place of a token.

A lookup type with a text answer (Source/Risk and Caller ID) is asked on the
SIPSTACK-compatible route, which answers the short text a call flow reads; the others have
only the JSON answer, on the JSON route, and no dialplan line.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from portal_core.models.billing import LookupType

LOOKUP_ROUTE = "/api/v1/b/partner/smart-cnam/phoneNumber"
JSON_ROUTE = "/api/v1/smart-cnam"
SAMPLE_NUMBER = "14165550100"
PLACEHOLDER_KEY = "YOUR_KEY"
PLACEHOLDER_SECRET = "YOUR_SECRET"

# The API's ``type`` of each lookup type (the API's vocabulary names them so).
API_TYPES: dict[LookupType, str] = {
    LookupType.SOURCE_RISK: "risk",
    LookupType.CALLER_ID: "cnam",
    LookupType.REGIONAL: "regional",
    LookupType.TELCO_CARRIER: "telco",
    LookupType.ONLINE_PROFILES: "profile",
}
TEXT_TYPES = frozenset({LookupType.SOURCE_RISK, LookupType.CALLER_ID})
# What the dialplan sets from a text answer: Caller ID's is the caller's name; Source/Risk's
# is the score alone, which a call flow tests before it rings.
_DIALPLAN_TARGETS = {
    LookupType.CALLER_ID: "CALLERID(name)",
    LookupType.SOURCE_RISK: "SIPSTACK_SCORE",
}


@dataclass(frozen=True)
class Sample:
    title: str
    language: str  # for the code block's highlighting
    code: str


@dataclass(frozen=True)
class Lookup:
    """The lookup a sample makes: numbers in E.164 (or digits), and its type."""

    source: str = SAMPLE_NUMBER
    destination: str | None = None
    lookup_type: LookupType = LookupType.CALLER_ID

    @property
    def api_type(self) -> str:
        return API_TYPES[self.lookup_type]

    @property
    def has_text_answer(self) -> bool:
        return self.lookup_type in TEXT_TYPES

    @property
    def route(self) -> str:
        return LOOKUP_ROUTE if self.has_text_answer else JSON_ROUTE


SAMPLE_LOOKUP = Lookup()


def url_of(base_url: str, lookup: Lookup) -> str:
    """The address that asks ``lookup``: its route, its numbers, its type."""
    numbers = lookup.source + (f"/{lookup.destination}" if lookup.destination else "")
    return f"{base_url.rstrip('/')}{lookup.route}/{numbers}?type={lookup.api_type}"


def lookup_url(base_url: str, number: str = SAMPLE_NUMBER) -> str:
    return url_of(base_url, Lookup(number))


def curl(base_url: str, key: str, secret: str, lookup: Lookup = SAMPLE_LOOKUP) -> str:
    return f'curl --user {key}:{secret} "{url_of(base_url, lookup)}"'


def python(base_url: str, key: str, secret: str, lookup: Lookup = SAMPLE_LOOKUP) -> str:
    shown = "answer.text" if lookup.has_text_answer else "answer.json()"
    return (
        "import httpx\n"
        "\n"
        "answer = httpx.get(\n"
        f'    "{url_of(base_url, lookup)}",\n'
        f'    headers={{"Authorization": "Bearer {key}.{secret}"}},\n'
        "    timeout=5,\n"
        ")\n"
        "answer.raise_for_status()\n"
        f"print({shown})"
    )


def asterisk(base_url: str, key: str, secret: str, lookup: Lookup = SAMPLE_LOOKUP) -> str | None:
    """The dialplan line that asks ``lookup``'s type for an incoming call, from its caller's
    number to the number it called, and keeps the text answer (Caller ID's sets the caller's
    name); ``None`` for a type without a text answer. The credentials ride in the URL, as
    CURL() takes them."""
    target = _DIALPLAN_TARGETS.get(lookup.lookup_type)
    if target is None:
        return None
    parts = urlsplit(base_url.rstrip("/"))
    url = (
        f"{parts.scheme}://{key}:{secret}@{parts.netloc}{parts.path}{LOOKUP_ROUTE}"
        f"/${{CALLERID(num)}}/${{EXTEN}}?type={lookup.api_type}"
    )
    return f"same => n,Set({target}=${{CURL({url})}})"


def lookup_samples(
    base_url: str,
    key: str = PLACEHOLDER_KEY,
    secret: str = PLACEHOLDER_SECRET,
    lookup: Lookup = SAMPLE_LOOKUP,
) -> tuple[Sample, ...]:
    """curl, Python and (for a type with a text answer) the dialplan line of ``lookup``."""
    samples = [
        Sample("curl", "bash", curl(base_url, key, secret, lookup)),
        Sample("Python (httpx)", "python", python(base_url, key, secret, lookup)),
    ]
    dialplan = asterisk(base_url, key, secret, lookup)
    if dialplan is not None:
        samples.append(Sample("Asterisk dialplan", "text", dialplan))
    return tuple(samples)
