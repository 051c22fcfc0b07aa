"""What an API token is made of, and what each of its scopes lets a program do
(docs/product.md, Pages › API tokens).

A key (``ssk_live_`` or ``ssk_test_`` and 16 base62 characters) names a token and may be
shown; a secret (32 base62 characters and a 6-character base62 CRC32 of them) proves it.
The checksum lets a scanner tell a leaked secret from random text offline, without asking
the portal. Both use only ``[A-Za-z0-9_]``, so ``KEY.SECRET`` and ``KEY:SECRET`` split at
their one separator.
"""

from __future__ import annotations

import secrets
import string
import zlib
from enum import StrEnum

from portal_core.models.accounts import Role
from portal_core.permissions import GRANTS, Capability

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
LIVE_PREFIX = "ssk_live_"
TEST_PREFIX = "ssk_test_"
KEY_BODY = 16
SECRET_BODY = 32
CHECKSUM = 6  # 62**6 > 2**32: every CRC32 fits
SECRET_LENGTH = SECRET_BODY + CHECKSUM
KEY_LENGTH = len(LIVE_PREFIX) + KEY_BODY


class Scope(StrEnum):
    LOOKUPS = "lookups"
    WHOIS_READ = "whois:read"
    WHOIS_WRITE = "whois:write"
    LOGS_READ = "logs:read"
    BILLING_READ = "billing:read"
    REPORTS_WRITE = "reports:write"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Scope.LOOKUPS: "Smart CNAM lookups",
    Scope.WHOIS_READ: "Read Whois Profiles",
    Scope.WHOIS_WRITE: "Register and edit Whois Profiles",
    Scope.LOGS_READ: "Read Logs",
    Scope.BILLING_READ: "Read billing",
    Scope.REPORTS_WRITE: "Report numbers to the community",
}

# What each scope lets the token's calls do, as the services check it: a scope is granted
# only by a member whose role holds its capability. Reporting a number is a Smart CNAM
# user's act, so it asks what a lookup asks.
CAPABILITY: dict[Scope, Capability] = {
    Scope.LOOKUPS: Capability.LOOKUP,
    Scope.WHOIS_READ: Capability.WHOIS_READ,
    Scope.WHOIS_WRITE: Capability.WHOIS_WRITE,
    Scope.LOGS_READ: Capability.USE_PORTAL,
    Scope.BILLING_READ: Capability.BILLING_READ,
    Scope.REPORTS_WRITE: Capability.LOOKUP,
}


def grantable(role: Role) -> tuple[Scope, ...]:
    """The scopes a member of ``role`` may put on a token, in their listed order."""
    return tuple(scope for scope in Scope if CAPABILITY[scope] in GRANTS[role])


def grants(scopes: frozenset[Scope]) -> frozenset[Capability]:
    """What a token with ``scopes`` may do, whoever created it."""
    return frozenset(CAPABILITY[scope] for scope in scopes)


def joined(scopes: frozenset[Scope] | set[Scope]) -> str:
    """The scopes as stored: comma-joined in their listed order."""
    return ",".join(scope.value for scope in Scope if scope in scopes)


def parsed(stored: str) -> frozenset[Scope]:
    """The stored scopes; a value this portal no longer knows grants nothing."""
    known = {scope.value for scope in Scope}
    return frozenset(Scope(part) for part in stored.split(",") if part in known)


def new_key(*, test: bool) -> str:
    body = "".join(secrets.choice(BASE62) for _ in range(KEY_BODY))
    return (TEST_PREFIX if test else LIVE_PREFIX) + body


def new_secret() -> str:
    body = "".join(secrets.choice(BASE62) for _ in range(SECRET_BODY))
    return body + checksum(body)


def checksum(body: str) -> str:
    """The CRC32 of ``body`` in base62, zero-padded to six characters."""
    value = zlib.crc32(body.encode())
    digits = []
    for _ in range(CHECKSUM):
        value, digit = divmod(value, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits))


def looks_like_secret(text: str) -> bool:
    """Whether ``text`` is shaped like a token's secret and its checksum holds."""
    if len(text) != SECRET_LENGTH or any(char not in BASE62 for char in text):
        return False
    return checksum(text[:SECRET_BODY]) == text[SECRET_BODY:]


def looks_like_key(text: str) -> bool:
    return (
        len(text) == KEY_LENGTH
        and text.startswith((LIVE_PREFIX, TEST_PREFIX))
        and all(char in BASE62 for char in text[len(LIVE_PREFIX) :])
    )
