"""How the REST API answers an error: problem JSON (RFC 9457), or, where a call flow reads
the answer as text, a short ``text/plain`` line.

A dialplan puts whatever the lookup answered on the called party's screen, so a text route's
error keeps its HTTP status but says what went wrong in at most 20 ASCII characters
(``Unauthorized``, ``Not a phone number``), never a JSON document.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse, PlainTextResponse

from portal_core.rules.numbers import NotAPhoneNumber

PROBLEM = "application/problem+json"
TEXT = "text/plain"
# Clients that wait for a challenge (curl --anyauth, libcurl in Asterisk) then send Basic.
CHALLENGE = {"WWW-Authenticate": 'Basic realm="SIPSTACK"'}

SHORT_TEXT: dict[int, str] = {
    400: "Bad request",
    401: "Unauthorized",
    402: "Payment required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    422: "Invalid input",
    429: "Too many requests",
    500: "Server error",
    503: "Unavailable",
}


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=_challenge(status))


def short_text(status: int, error: Exception | None = None) -> PlainTextResponse:
    """The error as a call flow reads it: its status, and a few words of ASCII."""
    if isinstance(error, NotAPhoneNumber):
        words = "Not a phone number"
    else:
        words = SHORT_TEXT.get(status, "Error")
    return PlainTextResponse(words, status_code=status, headers=_challenge(status))


def _challenge(status: int) -> dict[str, str] | None:
    return CHALLENGE if status == 401 else None
