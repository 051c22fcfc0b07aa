"""Random secrets for links and sessions, and the digest under which they are stored."""

from __future__ import annotations

import hashlib
import secrets


def new_secret() -> str:
    """256 random bits, URL-safe: for session handles and e-mailed links."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What the database keeps of a secret: a leaked table reveals no usable handle or link."""
    return hashlib.sha256(secret.encode()).hexdigest()
