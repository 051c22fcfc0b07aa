"""rules/scoring.py: the score of a number, its factors, its band, and the data files that
hold its figures."""

from __future__ import annotations

import shutil
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal_core.rules import scoring
from portal_core.rules.scoring import (
    BANDS_FILE,
    BURST_ORGANIZATIONS,
    BURST_WINDOW_MINUTES,
    MODEL_FILE,
    REPORT_WINDOW_DAYS,
    REPUTATION_ALERT_BELOW_MILLIS,
    Band,
    ScoreInputs,
    ScoreModel,
    ScoreModelError,
    band_of,
    bands,
    format_score,
    load_model,
    score,
)
from portal_core.settings import DATA_DIR

KEYS = ("base", "ownership", "completeness", "carrier", "reports", "burst", "invalid_cap", "clamp")


def effects(inputs: ScoreInputs, model: ScoreModel | None = None) -> dict[str, int]:
    """The factors' effects, by key, of the ones that moved the score."""
    result = score(inputs, model)
    return {factor.key: factor.effect_millis for factor in result.factors if factor.effect_millis}


def copy_of_the_data(folder: Path) -> Path:
    for name in (MODEL_FILE, BANDS_FILE):
        shutil.copy(DATA_DIR / name, folder / name)
    return folder


def set_figure(folder: Path, key: str, value: str) -> None:
    path = folder / MODEL_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    changed = [f"{key},{value},changed" if line.startswith(f"{key},") else line for line in lines]
    assert changed != lines, f"no row for {key}"
    path.write_text("\n".join(changed) + "\n", encoding="utf-8")


# --- Each factor alone ----------------------------------------------------------------------------


def test_a_valid_number_nobody_knows_starts_at_the_base() -> None:
    result = score(ScoreInputs(valid=True))
    assert result.millis == 2500
    assert result.text == "2.500"
    assert result.band.remark == "Spam Possible/Recovering"
    assert [factor.key for factor in result.factors] == list(KEYS)
    assert effects(ScoreInputs(valid=True)) == {"base": 2500}
    assert result.factors[0].label == "Valid number"


@pytest.mark.parametrize(
    ("inputs", "ownership", "label"),
    [
        (ScoreInputs(valid=True, registered=True, verified=True), 1000, "Verified owner"),
        (ScoreInputs(valid=True, registered=True), 400, "Registered, ownership not proved"),
        (ScoreInputs(valid=True), 0, "Not registered"),
    ],
)
def test_ownership_adds_more_when_proved(inputs: ScoreInputs, ownership: int, label: str) -> None:
    result = score(inputs)
    factor = result.factors[1]
    assert (factor.key, factor.effect_millis, factor.label) == ("ownership", ownership, label)
    assert factor.weight == "+1.000 when verified, +0.400 registered"
    assert result.millis == 2500 + ownership


@pytest.mark.parametrize(
    ("permille", "effect", "label"),
    [
        (0, 0, "Profile 0% complete"),
        (800, 400, "Profile 80% complete"),
        (805, 403, "Profile 80.5% complete"),  # 0.4025, half-up in the running total
        (1000, 500, "Profile 100% complete"),
    ],
)
def test_completeness_adds_half_a_point_for_a_whole_profile(
    permille: int, effect: int, label: str
) -> None:
    result = score(ScoreInputs(valid=True, registered=True, completeness_permille=permille))
    factor = result.factors[2]
    assert (factor.effect_millis, factor.label) == (effect, label)
    assert result.millis == 2500 + 400 + effect


def test_completeness_counts_only_for_a_registered_number() -> None:
    result = score(ScoreInputs(valid=True, completeness_permille=1000))
    assert result.factors[2].effect_millis == 0 and result.factors[2].label == "No profile"
    assert result.millis == 2500


@pytest.mark.parametrize(
    ("carrier", "effect"),
    [(5000, 300), (0, -300), (2500, 0), (3750, 150), (1250, -150), (3333, 100)],
)
def test_the_owners_carrier_score_moves_it_up_to_three_tenths_either_way(
    carrier: int, effect: int
) -> None:
    inputs = ScoreInputs(valid=True, registered=True, owner_carrier_score_millis=carrier)
    assert effects(inputs).get("carrier", 0) == effect
    assert score(inputs).millis == 2900 + effect
    assert score(inputs).factors[3].label == f"Owner's carrier score {format_score(carrier)}"


@pytest.mark.parametrize(
    ("inputs", "label"),
    [
        (ScoreInputs(valid=True, owner_carrier_score_millis=5000), "No owner"),
        (ScoreInputs(valid=True, registered=True), "Owner has no carrier score"),
    ],
)
def test_no_carrier_score_counts_without_an_owner_or_a_score(
    inputs: ScoreInputs, label: str
) -> None:
    factor = score(inputs).factors[3]
    assert (factor.key, factor.effect_millis, factor.label) == ("carrier", 0, label)


@pytest.mark.parametrize(
    ("spam", "safe", "effect", "label"),
    [
        (1, 0, -250, "1 net spam report"),
        (3, 1, -500, "2 net spam reports"),
        (8, 0, -2000, "8 net spam reports"),
        (9, 0, -2000, "9 net spam reports"),  # the floor
        (40, 1, -2000, "39 net spam reports"),
        (0, 1, 100, "1 net safe report"),
        (2, 5, 300, "3 net safe reports"),
        (0, 5, 500, "5 net safe reports"),
        (0, 6, 500, "6 net safe reports"),  # the cap
        (4, 4, 0, "No net reports"),
        (0, 0, 0, "No net reports"),
    ],
)
def test_net_reports_take_off_a_quarter_each_and_add_a_tenth_each_within_limits(
    spam: int, safe: int, effect: int, label: str
) -> None:
    result = score(ScoreInputs(valid=True, spam_reports=spam, safe_reports=safe))
    factor = result.factors[4]
    assert (factor.key, factor.effect_millis, factor.label) == ("reports", effect, label)
    assert result.millis == 2500 + effect
    assert factor.weight == (
        "−0.250 per net spam report (−2.000 at most), +0.100 per net safe report "
        "(+0.500 at most), over 90 days"
    )


@pytest.mark.parametrize(
    ("registered", "organizations", "effect"),
    [(False, 4, 0), (False, 5, -300), (False, 60, -300), (True, 5, 0), (True, 60, 0)],
)
def test_a_burst_of_organizations_counts_only_against_an_unregistered_number(
    registered: bool, organizations: int, effect: int
) -> None:
    inputs = ScoreInputs(valid=True, registered=registered, organizations_looking_up=organizations)
    factor = score(inputs).factors[5]
    assert (factor.key, factor.effect_millis) == ("burst", effect)
    # The count is read up to the threshold only: past it, the label says "or more".
    seen = f"{organizations} organizations" if organizations < 5 else "5 or more organizations"
    assert f"Looked up by {seen} within 60 minutes" in factor.label


@pytest.mark.parametrize(
    ("inputs", "millis", "cap"),
    [
        (ScoreInputs(valid=False), 500, -2000),
        (
            ScoreInputs(
                valid=False,
                registered=True,
                verified=True,
                completeness_permille=1000,
                owner_carrier_score_millis=5000,
                safe_reports=9,
            ),
            500,
            -4300,
        ),
        (ScoreInputs(valid=False, spam_reports=8), 500, 0),  # exactly at the cap
        (ScoreInputs(valid=False, spam_reports=8, organizations_looking_up=5), 200, 0),
    ],
)
def test_an_invalid_number_scores_half_a_point_at_most(
    inputs: ScoreInputs, millis: int, cap: int
) -> None:
    result = score(inputs)
    assert result.millis == millis
    assert result.band.remark == "Blacklisted"
    factor = result.factors[6]
    assert (factor.key, factor.effect_millis) == ("invalid_cap", cap)
    assert factor.label == "Not a valid or allocated number: 0.500 at most"
    assert result.factors[0].label == "Not a valid or allocated number"


def test_the_best_and_worst_the_shipped_model_gives_stay_within_the_scale() -> None:
    best = ScoreInputs(
        valid=True,
        registered=True,
        verified=True,
        completeness_permille=1000,
        owner_carrier_score_millis=5000,
        safe_reports=50,
    )
    worst = ScoreInputs(valid=True, spam_reports=50, organizations_looking_up=50)
    assert score(best).millis == 4800 and score(best).band.remark == "Trusted"
    assert score(worst).millis == 200 and score(worst).band.remark == "Blacklisted"


def test_the_clamp_keeps_the_score_within_zero_and_five(tmp_path: Path) -> None:
    folder = copy_of_the_data(tmp_path)
    set_figure(folder, "base", "4.500")
    set_figure(folder, "spam_reports_floor", "5.000")
    high = load_model(folder)
    best = ScoreInputs(valid=True, registered=True, verified=True, completeness_permille=1000)
    result = score(best, high)
    assert result.millis == 5000 and result.text == "5.000"
    assert result.factors[-1].key == "clamp" and result.factors[-1].effect_millis == -1000
    assert result.factors[-1].label == "Kept within 0.000 and 5.000"
    low = score(ScoreInputs(valid=True, spam_reports=30), high)
    assert low.millis == 0 and low.factors[-1].effect_millis == 500
    assert sum(factor.effect_millis for factor in low.factors) == 0


# --- Bands ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("millis", "remark", "spam"),
    [
        (0, "Blacklisted", True),
        (999, "Blacklisted", True),
        (1000, "Fraud", True),
        (1499, "Fraud", True),
        (1500, "Spam", True),
        (1999, "Spam", True),
        (2000, "Spam Likely", True),
        (2499, "Spam Likely", True),
        (2500, "Spam Possible/Recovering", False),
        (2999, "Spam Possible/Recovering", False),
        (3000, "Safe", False),
        (3999, "Safe", False),
        (4000, "Trusted", False),
        (5000, "Trusted", False),
    ],
)
def test_each_band_starts_at_its_lower_bound(millis: int, remark: str, spam: bool) -> None:
    band = band_of(millis)
    assert (band.remark, band.spam) == (remark, spam)
    assert band.lower_millis <= millis
    assert millis < band.upper_millis or millis == band.upper_millis == 5000


def test_the_bands_cover_the_scale_without_gaps_and_alert_below_the_spam_line() -> None:
    shipped = bands()
    assert [(band.lower_millis, band.upper_millis) for band in shipped] == [
        (0, 1000),
        (1000, 1500),
        (1500, 2000),
        (2000, 2500),
        (2500, 3000),
        (3000, 4000),
        (4000, 5000),
    ]
    assert REPUTATION_ALERT_BELOW_MILLIS == 2500
    assert all(band.spam == (band.upper_millis <= 2500) for band in shipped)


@pytest.mark.parametrize("millis", [-1, 5001])
def test_a_score_off_the_scale_has_no_band_and_no_text(millis: int) -> None:
    with pytest.raises(ValueError):
        band_of(millis)
    with pytest.raises(ValueError):
        format_score(millis)


@pytest.mark.parametrize(
    ("millis", "text"),
    [(0, "0.000"), (7, "0.007"), (3750, "3.750"), (4999, "4.999"), (5000, "5.000")],
)
def test_a_score_is_written_with_three_decimals(millis: int, text: str) -> None:
    assert format_score(millis) == text


# --- Any inputs ----------------------------------------------------------------------------------


@st.composite
def score_inputs(draw: st.DrawFn) -> ScoreInputs:
    registered = draw(st.booleans())
    return ScoreInputs(
        valid=draw(st.booleans()),
        registered=registered,
        verified=registered and draw(st.booleans()),
        completeness_permille=draw(st.integers(0, 1000)),
        owner_carrier_score_millis=draw(st.none() | st.integers(0, 5000)),
        spam_reports=draw(st.integers(0, 40)),
        safe_reports=draw(st.integers(0, 40)),
        organizations_looking_up=draw(st.integers(0, 20)),
    )


def _exact(inputs: ScoreInputs) -> Decimal:
    """The score as the rules state it, computed straight from them, unrounded."""
    total = Decimal("2.5")
    if inputs.registered:
        total += Decimal("1.0") if inputs.verified else Decimal("0.4")
        total += Decimal("0.5") * inputs.completeness_permille / 1000
        if inputs.owner_carrier_score_millis is not None:
            carrier = Decimal(inputs.owner_carrier_score_millis) / 1000
            total += Decimal("0.3") * (carrier - Decimal("2.5")) / Decimal("2.5")
    net = inputs.spam_reports - inputs.safe_reports
    if net > 0:
        total -= min(Decimal("0.25") * net, Decimal(2))
    else:
        total += min(Decimal("0.1") * -net, Decimal("0.5"))
    if not inputs.registered and inputs.organizations_looking_up >= 5:
        total -= Decimal("0.3")
    if not inputs.valid:
        total = min(total, Decimal("0.5"))
    return min(max(total, Decimal(0)), Decimal(5))


@given(score_inputs())
def test_the_effects_add_up_to_the_score_rounded_once(inputs: ScoreInputs) -> None:
    result = score(inputs)
    assert sum(factor.effect_millis for factor in result.factors) == result.millis
    assert [factor.key for factor in result.factors] == list(KEYS)
    assert 0 <= result.millis <= 5000
    assert result.band == band_of(result.millis)
    exact_millis = _exact(inputs) * 1000
    assert abs(result.millis - exact_millis) <= Decimal("0.5")
    assert result.millis == int(exact_millis + Decimal("0.5"))  # half-up, on a positive score
    if not inputs.valid:
        assert result.millis <= 500


@given(score_inputs(), st.integers(1, 5))
def test_another_spam_report_never_raises_a_score(inputs: ScoreInputs, more: int) -> None:
    worse = replace(inputs, spam_reports=inputs.spam_reports + more)
    assert score(worse).millis <= score(inputs).millis


@pytest.mark.parametrize(
    "fields",
    [
        {"verified": True},
        {"registered": True, "completeness_permille": 1001},
        {"registered": True, "completeness_permille": -1},
        {"registered": True, "owner_carrier_score_millis": 5001},
        {"registered": True, "owner_carrier_score_millis": -1},
        {"spam_reports": -1},
        {"safe_reports": -1},
        {"organizations_looking_up": -1},
    ],
)
def test_inputs_off_their_scale_are_a_mistake_of_the_caller(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ScoreInputs(valid=True, **fields)  # type: ignore[arg-type]


# --- The data files -------------------------------------------------------------------------------


def test_the_shipped_files_hold_the_figures_the_product_documents() -> None:
    model = scoring.model()
    assert (model.base, model.verified_owner, model.registered_owner) == (
        Decimal("2.5"),
        Decimal("1"),
        Decimal("0.4"),
    )
    assert (model.completeness_weight, model.carrier_weight) == (Decimal("0.5"), Decimal("0.3"))
    assert (model.spam_report_penalty, model.spam_reports_floor) == (Decimal("0.25"), 2)
    assert (model.safe_report_bonus, model.safe_reports_cap) == (Decimal("0.1"), Decimal("0.5"))
    assert (model.burst_penalty, model.invalid_cap) == (Decimal("0.3"), Decimal("0.5"))
    assert (REPORT_WINDOW_DAYS, BURST_WINDOW_MINUTES, BURST_ORGANIZATIONS) == (90, 60, 5)
    assert load_model(DATA_DIR) == model


@pytest.mark.parametrize(
    ("key", "value", "inputs", "millis"),
    [
        ("base", "2.700", ScoreInputs(valid=True), 2700),
        ("verified_owner", "1.200", ScoreInputs(valid=True, registered=True, verified=True), 3700),
        ("registered_owner", "0.100", ScoreInputs(valid=True, registered=True), 2600),
        (
            "completeness_weight",
            "1.000",
            ScoreInputs(valid=True, registered=True, completeness_permille=500),
            3400,
        ),
        (
            "carrier_weight",
            "0.600",
            ScoreInputs(valid=True, registered=True, owner_carrier_score_millis=5000),
            3500,
        ),
        (
            "carrier_neutral",
            "3.000",
            ScoreInputs(valid=True, registered=True, owner_carrier_score_millis=5000),
            3140,
        ),
        ("spam_report_penalty", "0.500", ScoreInputs(valid=True, spam_reports=2), 1500),
        ("spam_reports_floor", "1.000", ScoreInputs(valid=True, spam_reports=8), 1500),
        ("safe_report_bonus", "0.200", ScoreInputs(valid=True, safe_reports=2), 2900),
        ("safe_reports_cap", "0.200", ScoreInputs(valid=True, safe_reports=5), 2700),
        ("burst_penalty", "1.000", ScoreInputs(valid=True, organizations_looking_up=5), 1500),
        ("burst_organizations", "3", ScoreInputs(valid=True, organizations_looking_up=3), 2200),
        ("invalid_cap", "0.800", ScoreInputs(valid=False), 800),
    ],
)
def test_the_score_follows_the_figures_of_the_file(
    tmp_path: Path, key: str, value: str, inputs: ScoreInputs, millis: int
) -> None:
    folder = copy_of_the_data(tmp_path)
    set_figure(folder, key, value)
    assert score(inputs, load_model(folder)).millis == millis
    assert score(inputs).millis != millis  # the shipped model scores it otherwise


def test_the_weights_the_explanation_shows_are_the_files(tmp_path: Path) -> None:
    folder = copy_of_the_data(tmp_path)
    set_figure(folder, "report_window_days", "30")
    set_figure(folder, "burst_window_minutes", "15")
    set_figure(folder, "verified_owner", "1.250")
    model = load_model(folder)
    assert (model.report_window_days, model.burst_window_minutes) == (30, 15)
    weights = {
        factor.key: factor.weight for factor in score(ScoreInputs(valid=True), model).factors
    }
    assert weights["reports"].endswith("over 30 days")
    assert "within 15 minutes" in weights["burst"]
    assert weights["ownership"] == "+1.250 when verified, +0.400 registered"


def test_the_bands_follow_their_file(tmp_path: Path) -> None:
    folder = copy_of_the_data(tmp_path)
    path = folder / BANDS_FILE
    path.write_text(path.read_text(encoding="utf-8").replace("3.000,Safe", "3.100,Safe"))
    model = load_model(folder)
    assert band_of(3050, model).remark == "Spam Possible/Recovering"
    assert band_of(3100, model).remark == "Safe"
    assert band_of(3050).remark == "Safe"
    assert model.bands[4] == Band("Spam Possible/Recovering", 2500, 3100, False)


@pytest.mark.parametrize(
    ("line", "replacement", "complaint"),
    [
        ("base,2.500,", "base,two,", "score_model.csv, row 2: 'two' is not a number"),
        ("base,2.500,", "base,NaN,", "row 2: 'NaN' is not a number"),
        ("base,2.500,", "base,6,", "row 2: base must be between 0 and 5"),
        ("base,2.500,", "base,-0.1,", "row 2: base must be between 0 and 5"),
        ("base,2.500,", "bias,2.500,", "row 2: 'bias' is not a figure of the model"),
        ("verified_owner,1.000,", "base,1.000,", "row 3: 'base' is given twice"),
        ("report_window_days,90,", "report_window_days,90.5,", "row 13: report_window_days"),
        ("burst_organizations,5,", "burst_organizations,0,", "row 15: burst_organizations must"),
        ("carrier_span,2.500,", "carrier_span,0,", "row 8: carrier_span cannot be 0"),
        ("invalid_cap,0.500,", "spam_reports_floor,2.000,", "row 17: 'spam_reports_floor' is"),
        ("key,value,meaning", "key,figure,meaning", "the columns must be key,value,meaning"),
    ],
)
def test_a_bad_model_file_is_refused_naming_its_row(
    tmp_path: Path, line: str, replacement: str, complaint: str
) -> None:
    folder = copy_of_the_data(tmp_path)
    path = folder / MODEL_FILE
    text = path.read_text(encoding="utf-8")
    assert line in text
    path.write_text(text.replace(line, replacement, 1), encoding="utf-8")
    with pytest.raises(ScoreModelError) as refused:
        load_model(folder)
    assert complaint in str(refused.value)


def test_a_model_file_missing_a_figure_names_it(tmp_path: Path) -> None:
    folder = copy_of_the_data(tmp_path)
    path = folder / MODEL_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(line for line in lines if not line.startswith("burst_penalty,")))
    with pytest.raises(ScoreModelError, match="score_model.csv: no row for burst_penalty"):
        load_model(folder)


@pytest.mark.parametrize(
    ("line", "replacement", "complaint"),
    [
        ("0.000,Blacklisted,true", "0.100,Blacklisted,true", "row 2: the first band starts at 0"),
        ("1.500,Spam,true", "0.900,Spam,true", "row 4: the bands go up"),
        ("1.500,Spam,true", "1.5005,Spam,true", "row 4: 1.5005 is not a score"),
        ("4.000,Trusted,false", "5.000,Trusted,false", "row 8: 5.000 is not a score"),
        ("1.500,Spam,true", "1.500,,true", "row 4: the band has no remark"),
        ("1.500,Spam,true", "1.500,Fraud,true", "row 4: 'Fraud' is given twice"),
        ("1.500,Spam,true", "1.500,Spam,yes", "row 4: spam is true or false"),
        ("3.000,Safe,false", "3.000,Safe,true", "row 7: a spam band cannot sit above"),
        ("1.500,Spam,true", "one,Spam,true", "score_bands.csv, row 4: 'one' is not a number"),
    ],
)
def test_a_bad_bands_file_is_refused_naming_its_row(
    tmp_path: Path, line: str, replacement: str, complaint: str
) -> None:
    folder = copy_of_the_data(tmp_path)
    path = folder / BANDS_FILE
    text = path.read_text(encoding="utf-8")
    assert line in text
    path.write_text(text.replace(line, replacement, 1), encoding="utf-8")
    with pytest.raises(ScoreModelError) as refused:
        load_model(folder)
    assert complaint in str(refused.value)


def test_bands_that_are_all_spam_leave_nowhere_to_alert_from(tmp_path: Path) -> None:
    folder = copy_of_the_data(tmp_path)
    path = folder / BANDS_FILE
    path.write_text(path.read_text(encoding="utf-8").replace(",false", ",true"))
    with pytest.raises(ScoreModelError, match="at least one band must not be spam"):
        load_model(folder)


def test_a_missing_file_is_refused_by_name(tmp_path: Path) -> None:
    shutil.copy(DATA_DIR / MODEL_FILE, tmp_path / MODEL_FILE)
    with pytest.raises(ScoreModelError, match="score_bands.csv: cannot be read"):
        load_model(tmp_path)
