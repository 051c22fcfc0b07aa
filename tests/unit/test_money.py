"""money.py: parsing what partners type, formatting, and half-up rounding of micro-dollars."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal_core.money import (
    MICROS_PER_CENT,
    cents_to_micros,
    editable_dollars,
    editable_unit_price,
    format_cents,
    format_line_price,
    format_micros,
    format_percent,
    format_rate,
    format_unit_price,
    micros_to_cents,
    parse_dollars,
    parse_percent,
    parse_unit_price,
)


@pytest.mark.parametrize(
    ("typed", "cents"),
    [
        ("1,250.50", 125_050),
        ("$10", 1_000),
        ("  $ 25.00 ", 2_500),
        ("0.01", 1),
        ("7.5", 750),
        ("1.230", 123),
        ("0", 0),
        ("1,000,000", 100_000_000),
        (".5", 50),
        ("5.", 500),
        ("−$3.00", -300),
        ("-$3", -300),
        ("9999999999999.99", 999_999_999_999_999),
    ],
)
def test_parse_dollars_accepts_what_a_partner_types(typed, cents):
    assert parse_dollars(typed) == cents


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("abc", "not an amount"),
        ("", "not an amount"),
        ("$", "not an amount"),
        ("1.234", "whole cents"),
        ("0.001", "whole cents"),
        ("nan", "not an amount"),
        ("NaN", "not an amount"),
        ("inf", "not an amount"),
        ("-Infinity", "not an amount"),
        ("10 dollars", "not an amount"),
        ("1e3", "not an amount"),
        ("1_000", "not an amount"),
        ("$-5", "not an amount"),
        ("--5", "not an amount"),
        (".", "not an amount"),
        ("٣", "not an amount"),
        ("99999999999999", "not an amount"),
        ("1.000000000000000000000000000001", "whole cents"),
    ],
)
def test_parse_dollars_refuses_what_is_not_an_amount_in_cents(typed, words):
    with pytest.raises(ValueError, match=words):
        parse_dollars(typed)


@pytest.mark.parametrize(
    ("typed", "cents"),
    [
        ("1,050.00", 105_000),
        ("1,050", 105_000),
        ("$12,345.6", 1_234_560),
        ("−1,000", -100_000),
        ("999,999,999.99", 99_999_999_999),
    ],
)
def test_parse_dollars_reads_commas_that_group_thousands(typed, cents):
    assert parse_dollars(typed) == cents


COMMA_RULE = "Use a point for cents, as in 10.50; a comma may only group thousands, as in 1,050.00."


@pytest.mark.parametrize(
    "typed",
    ["10,50", "1,05", "1,0500", "1000,00", ",500", "1,,000", "1,000,00", "12345,000", "1.050,00"],
)
def test_parse_dollars_refuses_a_comma_that_is_not_a_thousands_group(typed):
    with pytest.raises(ValueError) as raised:
        parse_dollars(typed)

    assert str(raised.value) == f"“{typed}” is not an amount in dollars. {COMMA_RULE}"


@pytest.mark.parametrize(
    ("cents", "shown"),
    [
        (0, "$0.00"),
        (5, "$0.05"),
        (123_456_789, "$1,234,567.89"),
        (-300, "−$3.00"),
        (-5, "−$0.05"),
        (-125_050, "−$1,250.50"),
    ],
)
def test_format_cents(cents, shown):
    assert format_cents(cents) == shown


@pytest.mark.parametrize(
    ("micros", "cents"),
    [
        (0, 0),
        (4_999, 0),
        (5_000, 1),
        (14_999, 1),
        (15_000, 2),
        (-4_999, 0),
        (-5_000, -1),
        (-15_000, -2),
        (30_000_000, 3_000),
    ],
)
def test_micros_to_cents_rounds_half_up_away_from_zero(micros, cents):
    assert micros_to_cents(micros) == cents


def test_format_micros_rounds_to_cents():
    assert format_micros(1_234_565_000) == "$1,234.57"
    assert format_micros(-25_000) == "−$0.03"


@given(st.integers(min_value=-(10**15) + 1, max_value=10**15 - 1))
def test_formatted_cents_parse_back_to_the_same_cents(cents):
    assert parse_dollars(format_cents(cents)) == cents


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_cents_survive_a_trip_through_micros(cents):
    assert micros_to_cents(cents_to_micros(cents)) == cents


@given(st.integers(min_value=-(10**18), max_value=10**18))
def test_rounding_to_cents_is_never_more_than_half_a_cent_off(micros):
    error = micros_to_cents(micros) * MICROS_PER_CENT - micros

    assert -MICROS_PER_CENT // 2 <= error <= MICROS_PER_CENT // 2
    # Exactly half a cent always rounds away from zero.
    if abs(error) == MICROS_PER_CENT // 2:
        assert (error > 0) == (micros > 0)


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_rounding_is_symmetric_around_zero(micros):
    assert micros_to_cents(-micros) == -micros_to_cents(micros)


@pytest.mark.parametrize(
    ("micros", "shown"),
    [
        (3_000, "$0.0030"),
        (2_800, "$0.0028"),
        (2_500, "$0.0025"),
        (1_234, "$0.001234"),
        (0, "$0.0000"),
        (1_500_000, "$1.5000"),
        (12_345_678_900, "$12,345.6789"),
    ],
)
def test_unit_prices_show_at_least_four_decimals_and_never_round(micros, shown):
    assert format_unit_price(micros) == shown


@pytest.mark.parametrize(
    ("typed", "micros"),
    [
        ("0.0025", 2_500),
        ("$0.0021", 2_100),
        (" 0.012345 ", 12_345),
        ("0.00250000", 2_500),
        (".003", 3_000),
        ("1", 1_000_000),
        ("0", 0),
    ],
)
def test_parse_unit_price_reads_dollars_to_the_millionth(typed, micros):
    assert parse_unit_price(typed) == micros


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("0.0000001", "Prices per request go to the millionth of a dollar: at most six decimals."),
        ("", "“” is not a price in dollars, such as 0.0025."),
        ("-0.002", "“-0.002” is not a price in dollars, such as 0.0025."),
        ("1e-3", "“1e-3” is not a price in dollars, such as 0.0025."),
        ("12345678.0", "“12345678.0” is not a price in dollars, such as 0.0025."),
    ],
)
def test_parse_unit_price_refuses_what_is_not_a_price_to_the_millionth(typed, words):
    with pytest.raises(ValueError) as refused:
        parse_unit_price(typed)
    assert str(refused.value) == words


@given(st.integers(min_value=0, max_value=9_999_999 * 1_000_000))
def test_unit_prices_parse_back_from_how_they_are_shown(micros):
    assert parse_unit_price(format_unit_price(micros).replace(",", "")) == micros


@pytest.mark.parametrize(
    ("typed", "millipercent"),
    [("13", 13_000), ("9.975", 9_975), ("9.975 %", 9_975), ("5%", 5_000), (".5", 500)],
)
def test_parse_percent_reads_thousandths_of_a_percent(typed, millipercent):
    assert parse_percent(typed) == millipercent


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("9.9755", "Use at most three decimals, as in 9.975."),
        ("-1", "“-1” is not a percentage, such as 13 or 9.975."),
        ("", "“” is not a percentage, such as 13 or 9.975."),
        ("1000", "“1000” is not a percentage, such as 13 or 9.975."),
    ],
)
def test_parse_percent_refuses_what_is_not_a_percentage(typed, words):
    with pytest.raises(ValueError) as refused:
        parse_percent(typed)
    assert str(refused.value) == words


@pytest.mark.parametrize(
    ("millipercent", "shown"),
    [
        (13_000, "13%"),
        (9_975, "9.975%"),
        (5_000, "5%"),
        (14_975, "14.975%"),
        (2_950, "2.95%"),
        (0, "0%"),
    ],
)
def test_rates_print_without_trailing_zeros(millipercent: int, shown: str) -> None:
    assert format_rate(millipercent) == shown


@pytest.mark.parametrize(
    ("millipercent", "shown"),
    [(13_000, "13 %"), (9_975, "9.975 %"), (2_950, "2.95 %"), (0, "0 %")],
)
def test_percentages_on_screen_keep_a_space_before_the_sign(millipercent, shown):
    assert format_percent(millipercent) == shown


@given(st.integers(min_value=0, max_value=100_000))
def test_percentages_parse_back_from_how_they_are_shown(millipercent):
    assert parse_percent(format_percent(millipercent)) == millipercent


@pytest.mark.parametrize(
    ("micros", "shown"),
    [
        (30_000_000, "$30.00"),
        (2_400_000_000, "$2,400.00"),
        (3_000, "$0.0030"),
        (2_500, "$0.0025"),
        (12_345, "$0.012345"),
    ],
)
def test_unit_prices_print_whole_cents_as_money_and_fractions_as_published(
    micros: int, shown: str
) -> None:
    assert format_line_price(micros) == shown


@pytest.mark.parametrize(
    ("cents", "shown"), [(125_050, "1,250.50"), (0, "0.00"), (-300, "−3.00"), (None, "")]
)
def test_editable_amounts_drop_the_dollar_sign_and_parse_back(cents, shown):
    assert editable_dollars(cents) == shown
    if cents is not None:
        assert parse_dollars(shown) == cents


@pytest.mark.parametrize(("micros", "shown"), [(2_500, "0.0025"), (12_345, "0.012345"), (None, "")])
def test_editable_unit_prices_drop_the_dollar_sign_and_parse_back(micros, shown):
    assert editable_unit_price(micros) == shown
    if micros is not None:
        assert parse_unit_price(shown) == micros
