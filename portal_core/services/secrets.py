"""Random secrets for links and sessions, and the digest under which they are stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from portal_core.settings import get_settings


def new_secret() -> str:
    """256 random bits, URL-safe: for session handles and e-mailed links."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What the database keeps of a secret: a leaked table reveals no usable handle or link."""
    return hashlib.sha256(secret.encode()).hexdigest()


def keyed_digest(secret: str, *, context: str) -> str:
    """What the database keeps of a short secret (a six-digit code): an HMAC under the
    portal's own key, bound to ``context`` (the profile it proves), so a leaked table does
    not give the code away to a million guesses."""
    key = get_settings().cookie_key.encode()
    return hmac.new(key, f"{context}:{secret}".encode(), hashlib.sha256).hexdigest()


def new_code(digits: int = 6) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"
