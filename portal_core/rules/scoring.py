"""A number's score: 0.000 to 5.000, higher is more trustworthy, kept as milli-points (an
integer from 0 to 5000), with the factors that make it
(docs/product.md, Smart CNAM lookups and scores).

**The model.** Every figure below is a row of ``data/score_model.csv`` (``key``, ``value``,
``meaning``), not a constant in code; the figures named here are the shipped ones.

- Every number starts at ``base`` (2.500): what a number the metadata calls valid is worth
  before anything is known of it.
- Ownership: + ``verified_owner`` (1.000) when its owner proved ownership; +
  ``registered_owner`` (0.400) when it is registered in a Whois profile but not proved.
- Profile: + ``completeness_weight`` (0.500) × the owner's profile completeness (0 to 1);
  nothing when the number is not registered.
- Carrier: + ``carrier_weight`` (0.300) × (the owner's carrier score − ``carrier_neutral``
  (2.500)) / ``carrier_span`` (2.500), between −0.300 and +0.300; nothing without an owner
  or a carrier score.
- Community reports over ``report_window_days`` (90): net = spam − safe. Net spam takes off
  ``spam_report_penalty`` (0.250) a report, ``spam_reports_floor`` (2.000) at most; net safe
  adds ``safe_report_bonus`` (0.100) a report, ``safe_reports_cap`` (0.500) at most.
- Burst: − ``burst_penalty`` (0.300) when a number nobody registered is looked up by
  ``burst_organizations`` (5) or more organizations within ``burst_window_minutes`` (60): the
  pattern of a robocaller's number sprayed across carriers.
- An invalid or unallocated number scores ``invalid_cap`` (0.500) at most, whatever the
  factors above gave it.
- The score stays within 0.000 and 5.000.

It is computed in ``Decimal`` and rounded half-up to the milli-point once, at the end. The
cap and the clamp are factors like the others, and each factor's effect is the difference it
makes to the running total rounded to the milli-point, so the effects of an explanation add
up to the score exactly.

**The bands** (``data/score_bands.csv``: ``lower_bound``, ``remark``, ``spam``), lower bound
inclusive: under 1.000 Blacklisted · 1.000 Fraud · 1.500 Spam · 2.000 Spam Likely · 2.500
Spam Possible/Recovering · 3.000 Safe · 4.000 Trusted (up to 5.000 included). The spam bands
come first; the lowest bound of the others (2.500) is where a number's owner is alerted.

Both files are read once and checked as they are read: a file that breaks a rule raises
``ScoreModelError``, naming the file and the row, when the module is imported.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from portal_core.settings import DATA_DIR

MODEL_FILE = "score_model.csv"
BANDS_FILE = "score_bands.csv"
MAX_MILLIS = 5000
MILLIS_PER_POINT = 1000
_ZERO = Decimal(0)
_TOP = Decimal(MAX_MILLIS) / MILLIS_PER_POINT
_MILLI = Decimal("0.001")


class ScoreModelError(ValueError):
    """A figure or a band of the score's data files that the model cannot use."""


# --- The model's figures -----------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """A remark for the scores from ``lower_millis`` (included) to ``upper_millis``
    (excluded, except the top band's 5000)."""

    remark: str
    lower_millis: int
    upper_millis: int
    spam: bool  # the spam bands: those under where an owner is alerted


@dataclass(frozen=True)
class ScoreModel:
    """The figures of ``data/score_model.csv`` and the bands of ``data/score_bands.csv``."""

    base: Decimal
    verified_owner: Decimal
    registered_owner: Decimal
    completeness_weight: Decimal
    carrier_weight: Decimal
    carrier_neutral: Decimal
    carrier_span: Decimal
    spam_report_penalty: Decimal
    spam_reports_floor: Decimal
    safe_report_bonus: Decimal
    safe_reports_cap: Decimal
    report_window_days: int
    burst_penalty: Decimal
    burst_organizations: int
    burst_window_minutes: int
    invalid_cap: Decimal
    bands: tuple[Band, ...]

    @property
    def alert_below_millis(self) -> int:
        """The lowest score that is in no spam band: under it, a number is in a spam band."""
        return min(band.lower_millis for band in self.bands if not band.spam)


# The figures counted in whole units (days, organizations, minutes), at least 1 each.
_WHOLE = ("report_window_days", "burst_organizations", "burst_window_minutes")
# Figures on the score's own scale.
_POINTS = (
    "base",
    "verified_owner",
    "registered_owner",
    "completeness_weight",
    "carrier_weight",
    "carrier_neutral",
    "carrier_span",
    "spam_report_penalty",
    "spam_reports_floor",
    "safe_report_bonus",
    "safe_reports_cap",
    "burst_penalty",
    "invalid_cap",
)


def load_model(folder: Path = DATA_DIR) -> ScoreModel:
    """The model whose figures and bands are the files of ``folder``, checked row by row."""
    figures = _figures(folder / MODEL_FILE)
    return ScoreModel(
        base=figures["base"],
        verified_owner=figures["verified_owner"],
        registered_owner=figures["registered_owner"],
        completeness_weight=figures["completeness_weight"],
        carrier_weight=figures["carrier_weight"],
        carrier_neutral=figures["carrier_neutral"],
        carrier_span=figures["carrier_span"],
        spam_report_penalty=figures["spam_report_penalty"],
        spam_reports_floor=figures["spam_reports_floor"],
        safe_report_bonus=figures["safe_report_bonus"],
        safe_reports_cap=figures["safe_reports_cap"],
        report_window_days=int(figures["report_window_days"]),
        burst_penalty=figures["burst_penalty"],
        burst_organizations=int(figures["burst_organizations"]),
        burst_window_minutes=int(figures["burst_window_minutes"]),
        invalid_cap=figures["invalid_cap"],
        bands=_bands(folder / BANDS_FILE),
    )


def _rows(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Each row of ``path`` with its line number (the header is line 1)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != columns:
                raise ScoreModelError(
                    f"{path.name}: the columns must be {','.join(columns)}, "
                    f"not {','.join(reader.fieldnames or ())}"
                )
            return [(reader.line_num, row) for row in reader]
    except OSError as error:
        raise ScoreModelError(f"{path.name}: cannot be read ({error})") from error


def _decimal(path: Path, line: int, text: str | None) -> Decimal:
    try:
        value = Decimal((text or "").strip())
    except InvalidOperation:
        raise ScoreModelError(f"{path.name}, row {line}: {text!r} is not a number") from None
    if not value.is_finite():
        raise ScoreModelError(f"{path.name}, row {line}: {text!r} is not a number")
    return value


def _figures(path: Path) -> dict[str, Decimal]:
    figures: dict[str, Decimal] = {}
    known = (*_POINTS, *_WHOLE)
    for line, row in _rows(path, ("key", "value", "meaning")):
        key = (row["key"] or "").strip()
        if key not in known:
            raise ScoreModelError(f"{path.name}, row {line}: {key!r} is not a figure of the model")
        if key in figures:
            raise ScoreModelError(f"{path.name}, row {line}: {key!r} is given twice")
        value = _decimal(path, line, row["value"])
        if key in _WHOLE and (value != value.to_integral_value() or value < 1):
            raise ScoreModelError(
                f"{path.name}, row {line}: {key} must be a whole number, 1 or more"
            )
        if key in _POINTS and not _ZERO <= value <= _TOP:
            raise ScoreModelError(
                f"{path.name}, row {line}: {key} must be between 0 and {_TOP}, not {value}"
            )
        if key == "carrier_span" and value == 0:
            raise ScoreModelError(f"{path.name}, row {line}: carrier_span cannot be 0")
        figures[key] = value
    missing = [key for key in known if key not in figures]
    if missing:
        raise ScoreModelError(f"{path.name}: no row for {', '.join(missing)}")
    return figures


def _bands(path: Path) -> tuple[Band, ...]:
    read: list[tuple[str, int, bool]] = []
    for line, row in _rows(path, ("lower_bound", "remark", "spam")):
        lower = _decimal(path, line, row["lower_bound"])
        millis = lower * MILLIS_PER_POINT
        if millis != millis.to_integral_value() or not 0 <= millis < MAX_MILLIS:
            raise ScoreModelError(
                f"{path.name}, row {line}: {lower} is not a score from 0.000 to 4.999 "
                "in thousandths"
            )
        remark = (row["remark"] or "").strip()
        if not remark:
            raise ScoreModelError(f"{path.name}, row {line}: the band has no remark")
        spam = (row["spam"] or "").strip().lower()
        if spam not in ("true", "false"):
            raise ScoreModelError(f"{path.name}, row {line}: spam is true or false, not {spam!r}")
        if not read and millis != 0:
            raise ScoreModelError(f"{path.name}, row {line}: the first band starts at 0.000")
        if read and millis <= read[-1][1]:
            raise ScoreModelError(
                f"{path.name}, row {line}: the bands go up: {lower} is not above the one before"
            )
        if any(remark == earlier for earlier, _, _ in read):
            raise ScoreModelError(f"{path.name}, row {line}: {remark!r} is given twice")
        if spam == "true" and read and not read[-1][2]:
            raise ScoreModelError(
                f"{path.name}, row {line}: a spam band cannot sit above one that is not spam"
            )
        read.append((remark, int(millis), spam == "true"))
    if not read or all(spam for _, _, spam in read):
        raise ScoreModelError(f"{path.name}: at least one band must not be spam")
    uppers = [lower for _, lower, _ in read[1:]] + [MAX_MILLIS]
    return tuple(
        Band(remark=remark, lower_millis=lower, upper_millis=upper, spam=spam)
        for (remark, lower, spam), upper in zip(read, uppers, strict=True)
    )


@cache
def model() -> ScoreModel:
    """The model the portal scores with: the shipped files, read once."""
    return load_model()


# Read at import, so that a bad file stops the portal from starting rather than a lookup.
REPORT_WINDOW_DAYS: int = model().report_window_days
BURST_WINDOW_MINUTES: int = model().burst_window_minutes
BURST_ORGANIZATIONS: int = model().burst_organizations
REPUTATION_ALERT_BELOW_MILLIS: int = model().alert_below_millis


# --- Scoring -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreInputs:
    """What is known of a number when it is scored (the caller counts the reports and the
    organizations in the windows the model names)."""

    valid: bool
    registered: bool = False
    verified: bool = False
    completeness_permille: int = 0  # 0–1000
    owner_carrier_score_millis: int | None = None
    spam_reports: int = 0  # in the report window
    safe_reports: int = 0
    organizations_looking_up: int = 0  # distinct organizations in the burst window

    def __post_init__(self) -> None:
        if self.verified and not self.registered:
            raise ValueError("a verified owner is a registered one")
        if not 0 <= self.completeness_permille <= 1000:
            raise ValueError(f"completeness is 0–1000 permille, not {self.completeness_permille}")
        carrier = self.owner_carrier_score_millis
        if carrier is not None and not 0 <= carrier <= MAX_MILLIS:
            raise ValueError(f"a carrier score is 0–{MAX_MILLIS} millis, not {carrier}")
        if min(self.spam_reports, self.safe_reports, self.organizations_looking_up) < 0:
            raise ValueError("counts of reports and organizations cannot be negative")


@dataclass(frozen=True)
class Factor:
    """One line of a score's explanation."""

    key: str  # base, ownership, completeness, carrier, reports, burst, invalid_cap, clamp
    label: str  # what this number has: "Verified owner", "3 net spam reports"
    weight: str  # how the model weighs it: "+1.000 when verified, +0.400 registered"
    effect_millis: int  # its signed effect on this score; 0 is shown too


@dataclass(frozen=True)
class Score:
    millis: int
    band: Band
    factors: tuple[Factor, ...]  # their effects add up to ``millis``

    @property
    def text(self) -> str:
        return format_score(self.millis)


def format_score(millis: int) -> str:
    """ "3.750": a score as the portal and the text answer write it."""
    if not 0 <= millis <= MAX_MILLIS:
        raise ValueError(f"a score is 0–{MAX_MILLIS} millis, not {millis}")
    return f"{millis // MILLIS_PER_POINT}.{millis % MILLIS_PER_POINT:03d}"


def bands(scoring: ScoreModel | None = None) -> tuple[Band, ...]:
    return (scoring or model()).bands


def band_of(millis: int, scoring: ScoreModel | None = None) -> Band:
    """The band a score falls in (lower bound inclusive; 5.000 is the top band's)."""
    if not 0 <= millis <= MAX_MILLIS:
        raise ValueError(f"a score is 0–{MAX_MILLIS} millis, not {millis}")
    return [band for band in bands(scoring) if band.lower_millis <= millis][-1]


def score(inputs: ScoreInputs, scoring: ScoreModel | None = None) -> Score:
    """The number's score under ``scoring`` (the shipped model by default), explained."""
    figures = scoring or model()
    steps = [
        _base(inputs, figures),
        _ownership(inputs, figures),
        _completeness(inputs, figures),
        _carrier(inputs, figures),
        _reports(inputs, figures),
        _burst(inputs, figures),
    ]
    running = sum((effect for _, _, _, effect in steps), _ZERO)
    capped = not inputs.valid and running > figures.invalid_cap
    steps.append(
        (
            "invalid_cap",
            _cap_label(inputs, figures),
            f"at most {_points(figures.invalid_cap)} for an invalid or unallocated number",
            figures.invalid_cap - running if capped else _ZERO,
        )
    )
    running = min(running, figures.invalid_cap) if capped else running
    kept = min(max(running, _ZERO), _TOP)
    steps.append(
        (
            "clamp",
            "Kept within 0.000 and 5.000" if kept != running else "Within 0.000 and 5.000",
            "the score stays within 0.000 and 5.000",
            kept - running,
        )
    )
    factors: list[Factor] = []
    total = _ZERO
    rounded_before = 0
    for key, label, weight, effect in steps:
        total += effect
        rounded = _to_millis(total)
        factors.append(Factor(key, label, weight, rounded - rounded_before))
        rounded_before = rounded
    return Score(
        millis=rounded_before, band=band_of(rounded_before, figures), factors=tuple(factors)
    )


_Step = tuple[str, str, str, Decimal]


def _base(inputs: ScoreInputs, figures: ScoreModel) -> _Step:
    label = "Valid number" if inputs.valid else "Not a valid or allocated number"
    return ("base", label, f"starts at {_points(figures.base)}", figures.base)


def _ownership(inputs: ScoreInputs, figures: ScoreModel) -> _Step:
    weight = (
        f"{_signed(figures.verified_owner)} when verified, "
        f"{_signed(figures.registered_owner)} registered"
    )
    if inputs.verified:
        return ("ownership", "Verified owner", weight, figures.verified_owner)
    if inputs.registered:
        return ("ownership", "Registered, ownership not proved", weight, figures.registered_owner)
    return ("ownership", "Not registered", weight, _ZERO)


def _completeness(inputs: ScoreInputs, figures: ScoreModel) -> _Step:
    weight = f"{_signed(figures.completeness_weight)} × profile completeness"
    if not inputs.registered:
        return ("completeness", "No profile", weight, _ZERO)
    percent, tenth = divmod(inputs.completeness_permille, 10)
    shown = f"{percent}.{tenth}" if tenth else f"{percent}"
    share = Decimal(inputs.completeness_permille) / 1000
    return (
        "completeness",
        f"Profile {shown}% complete",
        weight,
        figures.completeness_weight * share,
    )


def _carrier(inputs: ScoreInputs, figures: ScoreModel) -> _Step:
    neutral, span = _points(figures.carrier_neutral), _points(figures.carrier_span)
    weight = f"{_signed(figures.carrier_weight)} × (carrier score − {neutral}) / {span}"
    carrier = inputs.owner_carrier_score_millis
    if not inputs.registered:
        return ("carrier", "No owner", weight, _ZERO)
    if carrier is None:
        return ("carrier", "Owner has no carrier score", weight, _ZERO)
    points = Decimal(carrier) / MILLIS_PER_POINT
    effect = figures.carrier_weight * (points - figures.carrier_neutral) / figures.carrier_span
    return ("carrier", f"Owner's carrier score {format_score(carrier)}", weight, effect)


def _reports(inputs: ScoreInputs, figures: ScoreModel) -> _Step:
    weight = (
        f"−{_points(figures.spam_report_penalty)} per net spam report "
        f"(−{_points(figures.spam_reports_floor)} at most), "
        f"+{_points(figures.safe_report_bonus)} per net safe report "
        f"(+{_points(figures.safe_reports_cap)} at most), "
        f"over {figures.report_window_days} days"
    )
    net = inputs.spam_reports - inputs.safe_reports
    if net > 0:
        effect = -min(net * figures.spam_report_penalty, figures.spam_reports_floor)
        return ("reports", _count(net, "net spam report"), weight, effect)
    if net < 0:
        effect = min(-net * figures.safe_report_bonus, figures.safe_reports_cap)
        return ("reports", _count(-net, "net safe report"), weight, effect)
    return ("reports", "No net reports", weight, _ZERO)


def _burst(inputs: ScoreInputs, figures: ScoreModel) -> _Step:
    window = f"within {figures.burst_window_minutes} minutes"
    weight = (
        f"−{_points(figures.burst_penalty)} when unregistered and looked up by "
        f"{figures.burst_organizations} or more organizations {window}"
    )
    # The count stops at the threshold (``queries.score_inputs`` reads no further).
    if inputs.organizations_looking_up >= figures.burst_organizations:
        seen = f"{figures.burst_organizations} or more organizations"
    else:
        seen = _count(inputs.organizations_looking_up, "organization")
    label = f"Looked up by {seen} {window}"
    if inputs.registered:
        return ("burst", f"{label}; registered", weight, _ZERO)
    if inputs.organizations_looking_up >= figures.burst_organizations:
        return ("burst", label, weight, -figures.burst_penalty)
    return ("burst", label, weight, _ZERO)


def _cap_label(inputs: ScoreInputs, figures: ScoreModel) -> str:
    if inputs.valid:
        return "Valid number: no cap"
    return f"Not a valid or allocated number: {_points(figures.invalid_cap)} at most"


def _to_millis(points: Decimal) -> int:
    return int((points * MILLIS_PER_POINT).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _points(value: Decimal) -> str:
    """A figure as scores are written, "0.250"; a finer figure keeps its digits."""
    return f"{value:.3f}" if value == value.quantize(_MILLI) else f"{value.normalize():f}"


def _signed(value: Decimal) -> str:
    return f"+{_points(value)}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")
