"""Random secrets for links and sessions, the digest under which they are stored, and the
encryption of the few secrets the portal must read back (an authenticator's).

Keyed digests are made under ``TOKEN_KEYS`` and sealed secrets under ``SEALING_KEYS``, each
apart from the cookie's key (docs/architecture.md, Keys and their rotation): each setting is a
list, newest first, so a key is rotated by putting a new one in front and keeping the old one
behind it while what was made under it lives. Making uses the newest; checking accepts any.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
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
    """What the database keeps of a short secret (a six-digit code, a token's secret): an HMAC
    under the newest token key, bound to ``context`` (what it proves), so a leaked table does
    not give the secret away to a million guesses."""
    return _keyed(get_settings().token_key_list[0], secret, context)


def keyed_digests(secret: str, *, context: str) -> tuple[str, ...]:
    """``keyed_digest`` under every token key, newest first: what a stored digest may be."""
    return tuple(_keyed(key, secret, context) for key in get_settings().token_key_list)


def matches_keyed_digest(stored: str, secret: str, *, context: str) -> bool:
    """Whether ``stored`` is ``secret``'s keyed digest under any token key."""
    return keyed_digest_key(stored, secret, context=context) is not None


def keyed_digest_key(stored: str, secret: str, *, context: str) -> int | None:
    """Which token key ``stored`` is ``secret``'s keyed digest under (0: the newest), or
    None. Every key is compared, in constant time, so the time taken tells nothing of which
    matched."""
    matched: int | None = None
    for position, candidate in enumerate(keyed_digests(secret, context=context)):
        if hmac.compare_digest(stored, candidate) and matched is None:
            matched = position
    return matched


def token_key_fingerprints() -> tuple[str, ...]:
    """A short name for each token key, newest first, that gives nothing of the key away:
    what an API token keeps of the key its digest was made under."""
    return tuple(_fingerprint(key) for key in get_settings().token_key_list)


@dataclass(frozen=True)
class KeyStanding:
    """How many things (live API tokens; members with recovery codes left) still depend on
    each token key: a key can leave ``TOKEN_KEYS`` once nothing does."""

    under_each: tuple[tuple[str, int], ...]  # (fingerprint, how many), newest key first
    unplaced: int  # made before the portal kept their key: under any key, as far as it knows
    unlisted: int  # under a key ``TOKEN_KEYS`` no longer lists: refused

    @property
    def under_older(self) -> int:
        return sum(count for _key, count in self.under_each[1:])

    @property
    def keeping_older(self) -> int:
        """How many may still need an older listed key: under one, or under no kept key."""
        return self.under_older + self.unplaced

    @property
    def total(self) -> int:
        return sum(count for _key, count in self.under_each) + self.unplaced + self.unlisted

    @classmethod
    def of(cls, counts: dict[str | None, int]) -> KeyStanding:
        """From how many there are under each fingerprint (None: not kept)."""
        left = dict(counts)
        listed = token_key_fingerprints()
        return cls(
            under_each=tuple((key, int(left.pop(key, 0))) for key in listed),
            unplaced=int(left.pop(None, 0)),
            unlisted=sum(int(count) for count in left.values()),
        )


@lru_cache(maxsize=16)
def _fingerprint(key: str) -> str:
    return hmac.new(key.encode(), b"sipstack token key fingerprint", "sha256").hexdigest()[:16]


def new_code(digits: int = 6) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def seal(secret: str, *, purpose: str) -> str:
    """``secret`` encrypted (Fernet: AES-CBC with an HMAC) under a key derived from the newest
    sealing key for ``purpose``: a leaked table alone gives nothing away."""
    return _sealing(get_settings().sealing_key_list, purpose).encrypt(secret.encode()).decode()


def unseal(sealed: str, *, purpose: str) -> str | None:
    """The secret ``seal`` encrypted, under any of the sealing keys; None when it was sealed
    under a key no longer listed, or for another purpose."""
    try:
        return _sealing(get_settings().sealing_key_list, purpose).decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None


def reseal(sealed: str, *, purpose: str) -> str | None:
    """``sealed`` as it would be sealed under the newest sealing key: the same text when it
    already is (so re-sealing twice changes nothing), None when no listed key reads it."""
    keys = get_settings().sealing_key_list
    try:
        _sealing(keys[:1], purpose).decrypt(sealed.encode())
        return sealed
    except InvalidToken:
        pass
    try:
        return _sealing(keys, purpose).rotate(sealed.encode()).decode()
    except InvalidToken:
        return None


def _keyed(key: str, secret: str, context: str) -> str:
    return hmac.new(key.encode(), f"{context}:{secret}".encode(), hashlib.sha256).hexdigest()


# Deriving a key costs an HKDF per key: kept for the few (keys, purpose) a process meets.
@lru_cache(maxsize=32)
def _sealing(keys: tuple[str, ...], purpose: str) -> MultiFernet:
    return MultiFernet([_fernet(key, purpose) for key in keys])


def _fernet(key: str, purpose: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"portal:{purpose}".encode()
    ).derive(key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))
