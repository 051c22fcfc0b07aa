"""Random secrets for links and sessions, the digest under which they are stored, and the
encryption of the few secrets the portal must read back (an authenticator's)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

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


def seal(secret: str, *, purpose: str) -> str:
    """``secret`` encrypted (Fernet: AES-CBC with an HMAC) under a key derived from the
    portal's own key for ``purpose``: a leaked table alone gives nothing away. Changing the
    portal's key makes every sealed secret unreadable (``unseal`` returns None)."""
    return _fernet(purpose).encrypt(secret.encode()).decode()


def unseal(sealed: str, *, purpose: str) -> str | None:
    """The secret ``seal`` encrypted, or None when it was sealed under another key or purpose."""
    try:
        return _fernet(purpose).decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None


def _fernet(purpose: str) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"portal:{purpose}".encode()
    ).derive(get_settings().cookie_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))
