"""Money: integer cents and micro-dollars, Decimal only at parsing and rounding.

Ledger entries, payments, invoices, fees and taxes are integer **cents**; unit prices and
metered usage are integer **micro-dollars** (1 USD = 1,000,000), because one request costs a
fraction of a cent (DESIGN.md, rule 4). Rounding is half-up, done once where a figure leaves
micro-dollars for cents. Formatting lives here alone and is called at the edges.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

MICROS_PER_CENT = 10_000
MICROS_PER_DOLLAR = 1_000_000
_PLAIN_AMOUNT = re.compile(r"(?P<dollars>[0-9]{0,13})(?:\.(?P<fraction>[0-9]*))?")


def cents_to_micros(cents: int) -> int:
    return cents * MICROS_PER_CENT


def micros_to_cents(micros: int) -> int:
    """Round micro-dollars to whole cents, half-up (away from zero on negatives)."""
    return int((Decimal(micros) / MICROS_PER_CENT).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def parse_dollars(text: str) -> int:
    """Parse what a partner typed ("1,250.50", "$10", "−$3.00") into cents; refuse fractions
    of a cent, and Decimal's own spellings ("1e3", "1_000", "NaN") that no partner means.
    Whole dollars are capped at 13 digits, beyond any real amount."""
    cleaned = text.strip().replace(",", "").replace("−", "-")
    sign = -1 if cleaned.startswith("-") else 1
    amount = _PLAIN_AMOUNT.fullmatch(cleaned.removeprefix("-").strip().removeprefix("$").strip())
    if amount is None or not (amount["dollars"] or amount["fraction"]):
        raise ValueError(f"“{text}” is not an amount in dollars, such as 25.00.")
    dollars, fraction = amount["dollars"] or "0", (amount["fraction"] or "").rstrip("0")
    if len(fraction) > 2:
        raise ValueError("Amounts are in whole cents: use at most two decimals.")
    return sign * (int(dollars) * 100 + int(fraction.ljust(2, "0")))


def format_cents(cents: int) -> str:
    """$1,234.56, and −$3.00 for negatives (a minus sign, not a hyphen)."""
    sign = "−" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


def format_micros(micros: int) -> str:
    """A balance held in micro-dollars, shown as cents (rounded half-up)."""
    return format_cents(micros_to_cents(micros))


def format_unit_price(micros: int) -> str:
    """A per-request price as SIPSTACK publishes it, to the tenth of a cent or finer: $0.0030."""
    dollars, fraction = divmod(micros, MICROS_PER_DOLLAR)
    digits = f"{fraction:06d}".rstrip("0").ljust(4, "0")
    return f"${dollars:,}.{digits}"
