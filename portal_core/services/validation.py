"""Checks shared by the forms of several services: e-mail addresses, names, domains, and
an amount of money up to what is left."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import TypeVar

import pydantic
from email_validator import EmailNotValidError, validate_email

from portal_core.errors import ValidationFailed
from portal_core.money import format_cents, parse_dollars
from portal_core.settings import get_settings

Model = TypeVar("Model", bound=pydantic.BaseModel)


def checked(model: type[Model], value: pydantic.BaseModel, messages: Mapping[str, str]) -> Model:
    """Validate ``value`` as ``model``; each failing field gets its message from ``messages``."""
    try:
        return model.model_validate(value.model_dump())
    except pydantic.ValidationError as error:
        raise ValidationFailed(
            {
                str(problem["loc"][0]): messages.get(str(problem["loc"][0]), problem["msg"])
                for problem in error.errors()
            }
        ) from None


def normalize_email(raw: str) -> str:
    """The address as stored and compared: trimmed, lower-cased (addresses compare
    case-insensitively) and in Unicode's composed form (NFC), so "josé" typed as one
    character or as "e" and a combining accent is one address, not two look-alike accounts."""
    return unicodedata.normalize("NFC", raw.strip().lower())


def email_problem(raw: str) -> str | None:
    address = raw.strip()
    if not address:
        return "Enter your e-mail address."
    if len(address) > 254:
        return "That e-mail address is too long."
    try:
        # Outside production, the reserved ".test" domain is allowed (demo and test users).
        validate_email(
            address,
            check_deliverability=False,
            test_environment=get_settings().portal_env != "production",
        )
    except EmailNotValidError:
        return "Enter a valid e-mail address, such as name@company.com."
    return None


def text_problem(raw: str, *, label: str, max_length: int, required: bool = True) -> str | None:
    value = raw.strip()
    if required and not value:
        return f"Enter {label}."
    if len(value) > max_length:
        return f"{label[0].upper()}{label[1:]} must be at most {max_length} characters."
    if any(ord(char) < 32 for char in value):
        return f"{label[0].upper()}{label[1:]} contains characters that are not allowed."
    return None


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalize_domain(raw: str) -> str:
    return raw.strip().lower().rstrip(".")


def domain_problem(raw: str) -> str | None:
    """A registrable host name such as example.com (no scheme, path, port or wildcard)."""
    domain = normalize_domain(raw)
    if not domain:
        return "Enter your brand's domain, such as example.com."
    if "://" in domain or "/" in domain or ":" in domain or "@" in domain:
        return "Enter the domain alone, such as example.com (no https:// and no path)."
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return "That is not a valid domain name."
    labels = ascii_domain.split(".")
    if len(ascii_domain) > 253 or len(labels) < 2:
        return "Enter a full domain with its extension, such as example.com."
    if not all(_LABEL.match(label) for label in labels):
        return "That is not a valid domain name: use letters, digits and hyphens."
    if not re.fullmatch(r"[a-z]{2,63}|xn--[a-z0-9-]{1,59}", labels[-1]):
        return "That domain's extension is not valid."
    return None


def amount_up_to(amount: str, left_cents: int, *, out_of_bounds: str) -> int:
    """The cents of an amount as typed, of something with ``left_cents`` left (a payment to
    refund, an invoice to credit): empty is all that is left; otherwise from $0.01 up to it.
    ``ValidationFailed({"amount": …})`` says why not, with ``out_of_bounds`` (formatted with
    ``left``) when the amount is outside those bounds."""
    if not amount.strip():
        return left_cents
    try:
        cents = parse_dollars(amount)
    except ValueError as problem:
        raise ValidationFailed({"amount": str(problem)}) from problem
    if not 1 <= cents <= left_cents:
        raise ValidationFailed({"amount": out_of_bounds.format(left=format_cents(left_cents))})
    return cents
