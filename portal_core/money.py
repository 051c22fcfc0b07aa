"""Money: integer cents and micro-dollars, Decimal only at parsing and rounding.

Ledger entries, payments, invoices, fees and taxes are integer **cents**; unit prices and
metered usage are integer **micro-dollars** (1 USD = 1,000,000), because one request costs a
fraction of a cent (docs/architecture.md, rule 4). Rounding is half-up, done once where a
figure leaves micro-dollars for cents. Rates (tax rates, the card fee) are integer thousandths
of a percent ("millipercent": 13 % is 13000, 9.975 % is 9975). Parsing what people type and
formatting live here alone, and are called at the edges: pages, PDFs, e-mails, CSV.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

MICROS_PER_CENT = 10_000
MICROS_PER_DOLLAR = 1_000_000
MILLIPERCENT_PER_PERCENT = 1_000


def cents_to_micros(cents: int) -> int:
    return cents * MICROS_PER_CENT


def micros_to_cents(micros: int) -> int:
    """Round micro-dollars to whole cents, half-up (away from zero on negatives)."""
    return int((Decimal(micros) / MICROS_PER_CENT).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# Commas that group thousands, and nothing else: 1,050 and 1,050.00, never 10,50 or 1,0500.
_THOUSANDS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")


def parse_dollars(text: str) -> int:
    """Parse what a partner typed ("1,250.50", "$10", "−$3.00") into cents; refuse fractions
    of a cent, and Decimal's own spellings ("1e3", "1_000", "NaN") that no partner means.
    Whole dollars are capped at 13 digits, beyond any real amount.

    A comma is read only as a separator of thousands, and only where it is one: "10,50" is
    refused, never guessed to be $1,050.00 (where a comma marks the cents) or $10.50."""
    cleaned = text.strip().replace("−", "-")
    sign = -1 if cleaned.startswith("-") else 1
    unsigned = cleaned.removeprefix("-").strip().removeprefix("$").strip()
    if "," in unsigned:
        if not _THOUSANDS.fullmatch(unsigned):
            raise ValueError(
                f"“{text}” is not an amount in dollars. Use a point for cents, as in 10.50; "
                "a comma may only group thousands, as in 1,050.00."
            )
        unsigned = unsigned.replace(",", "")
    return sign * _fixed_point(
        unsigned,
        whole_digits=13,
        places=2,
        not_a_number=f"“{text}” is not an amount in dollars, such as 25.00.",
        too_precise="Amounts are in whole cents: use at most two decimals.",
    )


def parse_unit_price(text: str) -> int:
    """Parse a price per request typed in dollars ("0.0025", "$0.0021") into micro-dollars.
    Prices go to the millionth of a dollar, so at most six decimals; whole dollars are capped
    at 7 digits, far beyond any price. The bounds of a price are the caller's rule."""
    return _fixed_point(
        text.strip().removeprefix("$").strip(),
        whole_digits=7,
        places=6,
        not_a_number=f"“{text}” is not a price in dollars, such as 0.0025.",
        too_precise="Prices per request go to the millionth of a dollar: at most six decimals.",
    )


def parse_percent(text: str) -> int:
    """Parse a rate typed as a percentage ("13", "9.975 %") into thousandths of a percent;
    at most three decimals (Quebec's QST is 9.975 %). The bounds are the caller's rule."""
    return _fixed_point(
        text.strip().removesuffix("%").strip(),
        whole_digits=3,
        places=3,
        not_a_number=f"“{text}” is not a percentage, such as 13 or 9.975.",
        too_precise="Use at most three decimals, as in 9.975.",
    )


def _fixed_point(
    cleaned: str, *, whole_digits: int, places: int, not_a_number: str, too_precise: str
) -> int:
    """Plain digits with an optional decimal point ("12.50", ".5", "7.") in units of
    10^-``places``, exactly; trailing zeros do not count as decimals. Raises ValueError with
    ``not_a_number`` or ``too_precise``."""
    found = re.fullmatch(
        rf"(?P<whole>[0-9]{{0,{whole_digits}}})(?:\.(?P<fraction>[0-9]*))?", cleaned
    )
    if found is None or not (found["whole"] or found["fraction"]):
        raise ValueError(not_a_number)
    fraction = (found["fraction"] or "").rstrip("0")
    if len(fraction) > places:
        raise ValueError(too_precise)
    return int(found["whole"] or "0") * 10**places + int(fraction.ljust(places, "0"))


def tax_cents(subtotal_cents: int, rate_millipercent: int) -> int:
    """One tax on a subtotal, rounded half-up to the cent once (13 % of $30.05 = $3.91)."""
    exact = Decimal(subtotal_cents) * rate_millipercent / (100 * MILLIPERCENT_PER_PERCENT)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


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


def editable_dollars(cents: int | None) -> str:
    """An amount as a form's box offers it for editing: "1,250.50" ("" for none), which
    ``parse_dollars`` reads back."""
    return "" if cents is None else format_cents(cents).replace("$", "", 1)


def editable_unit_price(micros: int | None) -> str:
    """A price per request as a form's box offers it for editing: "0.0025" ("" for none),
    which ``parse_unit_price`` reads back."""
    return "" if micros is None else format_unit_price(micros).replace("$", "", 1)


def format_line_price(unit_micros: int) -> str:
    """An invoice line's unit price: whole cents as money ($30.00 for a plan), a fraction of a
    cent as SIPSTACK publishes per-request prices ($0.0030)."""
    if unit_micros % MICROS_PER_CENT == 0:
        return format_cents(unit_micros // MICROS_PER_CENT)
    return format_unit_price(unit_micros)


def format_rate(millipercent: int) -> str:
    """A tax or fee rate as documents print it, without trailing zeros: 13000 → "13%",
    9975 → "9.975%"."""
    return _percent_digits(millipercent) + "%"


def format_percent(millipercent: int) -> str:
    """A rate as the portal's screens write it, a space before the sign: 13000 → "13 %",
    2950 → "2.95 %"."""
    return _percent_digits(millipercent) + " %"


def _percent_digits(millipercent: int) -> str:
    whole, fraction = divmod(millipercent, MILLIPERCENT_PER_PERCENT)
    decimals = f"{fraction:03d}".rstrip("0")
    return f"{whole:,}.{decimals}" if decimals else f"{whole:,}"
