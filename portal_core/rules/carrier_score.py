"""The carrier score: how far SIPSTACK trusts what an organization says about its numbers,
0.000–5.000 (docs/product.md, Whois Profiles › Carrier score). Its figures are data
(``data/carrier_score_model.csv``); the rules:

- An organization with no registered number is not scored yet.
- Start at 2.500.
- Add 1.000 × the mean completeness of its profiles (0–1): accurate, complete details.
- Add 1.000 × the share of its numbers whose ownership it proved by a one-time code.
- Take 0.500 per ownership dispute it lost within 365 days (it registered a number it did
  not own), down to −2.000 in all.
- Community reports on its numbers within the report window: per net spam report (spam
  minus safe) take 0.100, down to −1.500; per net safe report add 0.050, up to +0.250.
- Add 0.250 when its company details are complete (``rules.company``), and 0.250 when at
  least one of its brand domains is verified by DNS: who it is, stated and proven.
- Clamp to 0–5 and round half-up to the milli-point once, at the end.

Every factor is shown with its effect, and ``raise_by`` says what the organization could do
to raise it, largest gain first. An owner's carrier score weighs on each of its numbers'
scores (``rules.scoring``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path

from portal_core.rules import scoring
from portal_core.rules.scoring import Factor
from portal_core.settings import DATA_DIR

MAX = Decimal(5)
_MILLI = Decimal("0.001")


@dataclass(frozen=True)
class Model:
    start: Decimal
    completeness_weight: Decimal
    verified_weight: Decimal
    dispute_lost: Decimal
    disputes_floor: Decimal
    dispute_window_days: int
    spam_report: Decimal
    reports_floor: Decimal
    safe_report: Decimal
    reports_cap: Decimal
    company_complete: Decimal
    verified_domain: Decimal


def load(path: Path) -> Model:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = {row["key"]: row["value"] for row in csv.DictReader(handle)}
    try:
        return Model(
            start=Decimal(rows["start"]),
            completeness_weight=Decimal(rows["completeness_weight"]),
            verified_weight=Decimal(rows["verified_weight"]),
            dispute_lost=Decimal(rows["dispute_lost"]),
            disputes_floor=Decimal(rows["disputes_floor"]),
            dispute_window_days=int(rows["dispute_window_days"]),
            spam_report=Decimal(rows["spam_report"]),
            reports_floor=Decimal(rows["reports_floor"]),
            safe_report=Decimal(rows["safe_report"]),
            reports_cap=Decimal(rows["reports_cap"]),
            company_complete=Decimal(rows["company_complete"]),
            verified_domain=Decimal(rows["verified_domain"]),
        )
    except (KeyError, ArithmeticError, ValueError) as error:
        raise ValueError(f"{path.name}: a missing or malformed figure ({error})") from None


@cache
def model() -> Model:
    return load(DATA_DIR / "carrier_score_model.csv")


@dataclass(frozen=True)
class CarrierInputs:
    numbers: int  # active registered numbers
    completeness_permille_sum: int  # over those numbers
    verified: int
    disputes_lost: int = 0
    spam_reports: int = 0
    safe_reports: int = 0
    company_complete: bool = False  # every required legal detail present
    verified_domains: int = 0  # brand domains verified by DNS


@dataclass(frozen=True)
class CarrierScore:
    millis: int
    factors: tuple[Factor, ...]  # their effects sum to millis
    raise_by: tuple[str, ...]  # what would raise it, largest gain first


def _millis(value: Decimal) -> int:
    return int((value / _MILLI).to_integral_value(rounding=ROUND_HALF_UP))


def carrier_score(inputs: CarrierInputs, figures: Model | None = None) -> CarrierScore | None:
    """The score of an organization (None while it has no registered number)."""
    if inputs.numbers <= 0:
        return None
    m = figures or model()
    completeness = Decimal(inputs.completeness_permille_sum) / (1000 * inputs.numbers)
    verified_share = Decimal(inputs.verified) / inputs.numbers
    disputes = max(m.disputes_floor, m.dispute_lost * inputs.disputes_lost)
    net = inputs.spam_reports - inputs.safe_reports
    reports = (
        max(m.reports_floor, m.spam_report * net)
        if net > 0
        else min(m.reports_cap, m.safe_report * -net)
    )
    parts = [
        ("start", "Registered numbers", f"starts at {m.start:.3f}", m.start),
        (
            "completeness",
            f"Profiles {int(completeness * 100)}% complete on average",
            f"+{m.completeness_weight:.3f} × mean completeness",
            m.completeness_weight * completeness,
        ),
        (
            "verified",
            f"{inputs.verified} of {inputs.numbers} numbers verified",
            f"+{m.verified_weight:.3f} × share verified",
            m.verified_weight * verified_share,
        ),
        (
            "disputes",
            f"Ownership disputes lost: {inputs.disputes_lost}",
            f"{m.dispute_lost:.3f} each, down to {m.disputes_floor:.3f}",
            disputes,
        ),
        (
            "reports",
            f"{inputs.spam_reports} spam and {inputs.safe_reports} safe reports on its numbers",
            f"{m.spam_report:.3f} per net spam report (to {m.reports_floor:.3f}), "
            f"+{m.safe_report:.3f} per net safe (to +{m.reports_cap:.3f})",
            reports,
        ),
        (
            "company",
            "Company details complete" if inputs.company_complete else "Company details incomplete",
            f"+{m.company_complete:.3f} when complete",
            m.company_complete if inputs.company_complete else Decimal(0),
        ),
        (
            "brand",
            f"Brand domains verified: {inputs.verified_domains}",
            f"+{m.verified_domain:.3f} with at least one",
            m.verified_domain if inputs.verified_domains > 0 else Decimal(0),
        ),
    ]
    factors: list[Factor] = []
    running = 0
    total = Decimal(0)
    for key, label, weight, effect in parts:
        total += effect
        # Each factor's effect is what it moves the rounded running total by, so the
        # explanation adds up to the score exactly.
        rounded = _millis(total)
        factors.append(Factor(key=key, label=label, weight=weight, effect_millis=rounded - running))
        running = rounded
    clamped = min(max(running, 0), _millis(MAX))
    if clamped != running:
        factors.append(
            Factor(
                key="clamp",
                label="Kept within 0–5",
                weight="0.000 to 5.000",
                effect_millis=clamped - running,
            )
        )
    suggestions: list[tuple[Decimal, str]] = []
    if inputs.verified < inputs.numbers:
        gain = m.verified_weight * (1 - verified_share)
        suggestions.append(
            (
                gain,
                f"Verify your unverified numbers ({inputs.numbers - inputs.verified}): "
                f"up to +{gain:.3f}",
            )
        )
    if completeness < 1:
        gain = m.completeness_weight * (1 - completeness)
        suggestions.append(
            (gain, f"Complete your profiles' Location and Additional tabs: up to +{gain:.3f}")
        )
    if not inputs.company_complete:
        suggestions.append(
            (
                m.company_complete,
                "Complete your company's legal details (Organization › Company): "
                f"+{m.company_complete:.3f}",
            )
        )
    if inputs.verified_domains <= 0:
        suggestions.append(
            (
                m.verified_domain,
                "Verify a brand domain with its DNS record (Organization › Brand): "
                f"+{m.verified_domain:.3f}",
            )
        )
    if net > 0:
        suggestions.append(
            (
                -reports,
                "Find out why your numbers are reported as spam: reports count for "
                f"{scoring.REPORT_WINDOW_DAYS} days",
            )
        )
    suggestions.sort(key=lambda pair: pair[0], reverse=True)
    return CarrierScore(
        millis=clamped,
        factors=tuple(factors),
        raise_by=tuple(text for _gain, text in suggestions),
    )
