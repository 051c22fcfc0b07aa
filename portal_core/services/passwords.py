"""Password rules and hashing.

Rules (NIST SP 800-63B): at least 8 characters, up to 256 allowed, any characters including
spaces, nothing stripped or lower-cased; passwords that are easy to guess — common ones, or
ones built from the user's own name, e-mail or company — are refused, judged by ``zxcvbn``,
plus one rule of ours: a password whose letters are nothing but the user's own words is
refused too, since zxcvbn rates "first.last@company.com" strong for having several pieces.

bcrypt reads only 72 bytes, so the password is first reduced to a fixed-length SHA-256 digest
(base64) and that is hashed: long passwords keep all their strength.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from functools import lru_cache

import bcrypt
from zxcvbn import zxcvbn

from portal_core.settings import get_settings

MIN_LENGTH = 8
MAX_LENGTH = 256
MIN_ZXCVBN_SCORE = 2
_ZXCVBN_PREFIX = 72  # zxcvbn refuses longer input (and is slow on it); the prefix decides
_LETTER_RUN = re.compile(r"[^\W\d_]+")  # letters of any alphabet


def password_problem(password: str, *, user_inputs: Iterable[str] = ()) -> str | None:
    """Why ``password`` is refused, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    user_inputs = list(user_inputs)
    if _only_own_words(password, user_inputs):
        return "Choose a password that is not made of your name, e-mail or company."
    inputs = [part for value in user_inputs for part in _words(value)]
    result = zxcvbn(password[:_ZXCVBN_PREFIX], user_inputs=inputs)
    if result["score"] < MIN_ZXCVBN_SCORE:
        hint = result["feedback"].get("warning") or "It is too common or too easy to guess."
        return f"Choose a harder password: {hint.rstrip('.')}. A few unrelated words work well."
    return None


def _words(value: str) -> list[str]:
    separators = "@._- "
    for separator in separators:
        value = value.replace(separator, " ")
    return [word for word in value.lower().split() if len(word) >= 3]


def _only_own_words(password: str, user_inputs: Iterable[str]) -> bool:
    """Whether the password's letters, in any case and whatever digits or symbols sit between
    them, split wholly into words of the user's name, e-mail or company (a word may repeat).
    Two-letter words count, so that "Jo" cannot pad "Jo-Ortiz-2026"."""
    letters = "".join(_LETTER_RUN.findall(password.lower()))
    vocabulary = {
        word
        for value in user_inputs
        for word in _LETTER_RUN.findall(value.lower())
        if len(word) >= 2
    }
    if not letters or not vocabulary:
        return False
    longest = max(map(len, vocabulary))
    # splits[i]: the first i letters split into words of the vocabulary.
    splits = [True] + [False] * len(letters)
    for end in range(1, len(letters) + 1):
        splits[end] = any(
            splits[start] and letters[start:end] in vocabulary
            for start in range(max(0, end - longest), end)
        )
    return splits[-1]


def _prehash(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def hash_password(password: str) -> str:
    rounds = get_settings().bcrypt_rounds
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(_prehash(password), password_hash.encode("ascii"))
    except ValueError:
        return False


@lru_cache(maxsize=1)
def _unknown_user_hash() -> str:
    return hash_password("no user has this password")


def burn_verification_time(password: str) -> None:
    """Spend what checking a real password costs, so an unknown e-mail answers like a wrong
    password, in words and in time."""
    verify_password(password, _unknown_user_hash())
