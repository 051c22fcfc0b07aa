"""rules/numbers.py: what a partner types, read as one E.164 number with its facts, or refused
with a reason they can act on."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumber, PhoneNumberFormat, PhoneNumberType

from portal_core.errors import ValidationFailed
from portal_core.rules.numbers import (
    PROFILE_LINE_TYPES,
    LineType,
    NotAPhoneNumber,
    NumberFacts,
    facts_of,
    parse_number,
)

TORONTO = "+14165550123"


@pytest.mark.parametrize(
    ("typed", "region"),
    [
        ("+1 (416) 555-0123", None),
        ("+1 (416) 555-0123", "GB"),  # a + overrides the region it is read in
        ("416.555.0123", "CA"),
        ("(416) 555-0123", "CA"),
        ("1-416-555-0123", "CA"),
        ("4165550123", "ca"),
        ("tel:+14165550123", None),
        ("tel:+1-416-555-0123", None),
        ("TEL:+1-416-555-0123", None),
        ("tel:555-0123;phone-context=+1-416", None),
        ("４１６５５５０１２３", "CA"),
        ("＋１ ４１６ ５５５ ０１２３", None),
        ("416\u00a0555\u00a00123", "CA"),  # no-break spaces
        ("416\u2009555\u202f0123", "CA"),  # thin and narrow no-break spaces
        ("\u2003+1 416 555 0123\u3000", None),  # em and ideographic spaces around it
        ("  \t+1 416 555 0123 \n", None),
        ("\u202a+1 416 555 0123\u202c", None),  # bidi marks a web page's copy brings
        ("416\u200b555\u200b0123", "CA"),  # zero-width spaces
    ],
)
def test_every_common_form_reads_as_one_number(typed: str, region: str | None) -> None:
    facts = parse_number(typed, default_region=region)
    assert facts.e164 == TORONTO
    assert facts.valid is True
    assert facts.country == "CA"


@pytest.mark.parametrize(
    ("typed", "region", "words"),
    [
        ("", "CA", "Enter a phone number."),
        ("   \u00a0\u2003", "CA", "Enter a phone number."),
        ("1" * 65, "CA", "at most 64 characters; this has 65"),
        ("hello", "CA", "“hello” is not a phone number"),
        ("hello", None, "“hello” is not a phone number"),
        ("+", None, "“+” is not a phone number"),
        ("call 416 555 0123 please", "CA", "without words or letters"),
        ("1-800-FLOWERS", "US", "“1-800-FLOWERS” is not a phone number"),
        ("911", "CA", "“911” is an emergency number, never looked up"),
        ("911", "US", "an emergency number, never looked up"),
        ("112", "GB", "“112” is an emergency number, never looked up"),
        ("112", "CA", "an emergency number, never looked up"),
        ("999", "GB", "“999” is an emergency number, never looked up"),
        ("000", "AU", "an emergency number, never looked up"),
        ("+1 911", None, "“+1 911” is an emergency number"),  # the number's own region
        ("+44 999", "CA", "“+44 999” is an emergency number"),
        ("tel:911", "CA", "an emergency number"),
        ("36363", "CA", "“36363” is a short code, not a caller's number"),
        ("611", "US", "“611” is a short code, not a caller's number"),
        ("611", "CA", "a short code, not a caller's number"),
        ("12", "CA", "“12” is too short to be a phone number"),
        ("+1 416 555 012", None, "too short to be a phone number"),
        ("5550123", "CA", "too short: enter the whole number, with its area code"),
        ("+1 416 555 0123 4567", None, "too long to be a phone number"),
        ("+14165550123456789", None, "too long to be a phone number"),
        ("416 555 0123 / 416 555 0199", "CA", "too long to be a phone number"),
        ("416 555 0123 ext. 22", "CA", "has an extension: enter the number without an extension"),
        ("416 555 0123 x22", "CA", "without an extension"),
        ("+1 416 555 0123 ext 22", None, "without an extension"),
        ("tel:+1-416-555-0123;ext=22", None, "without an extension"),
        ("4165550123", None, "“4165550123” has no country code: add the country code, e.g. +1"),
        ("416 555 0123", "ZZ", "add the country code, e.g. +1"),  # a region the metadata lacks
        ("+999 123 4567", None, "does not start with a country code that exists"),
    ],
)
def test_what_cannot_be_a_callers_number_is_refused_with_its_reason(
    typed: str, region: str | None, words: str
) -> None:
    with pytest.raises(NotAPhoneNumber) as refused:
        parse_number(typed, default_region=region)
    assert words in refused.value.reason
    assert refused.value.errors == {"number": refused.value.reason}
    assert str(refused.value) == refused.value.reason


def test_a_refusal_names_the_field_the_caller_gives_and_is_a_validation_failure() -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_number("911", default_region="CA", field="destination")
    assert isinstance(refused.value, NotAPhoneNumber)
    assert refused.value.status == 422
    assert refused.value.field == "destination"
    assert refused.value.errors == {"destination": "“911” is an emergency number, never looked up."}


def test_a_refusal_shows_what_was_typed_as_typed_for_the_ui_to_escape() -> None:
    with pytest.raises(NotAPhoneNumber) as refused:
        parse_number("*hello* <b>", default_region="CA")
    assert refused.value.reason == "“*hello* <b>” is not a phone number."


def test_a_possible_number_that_is_not_allocated_is_read_and_called_not_valid() -> None:
    facts = parse_number("+1 555-123-4567", default_region=None)
    assert facts == NumberFacts(
        e164="+15551234567",
        valid=False,
        country=None,
        place="",
        carrier="",
        line_type=LineType.UNKNOWN,
        time_zones=(),
    )
    assert facts.international == "+1 555-123-4567"


def test_the_facts_are_the_metadatas() -> None:
    facts = parse_number("(416) 967-1111", default_region="CA")
    assert facts == NumberFacts(
        e164="+14169671111",
        valid=True,
        country="CA",
        place="Toronto, ON",
        carrier="",
        line_type=LineType.FIXED_OR_MOBILE,
        time_zones=("America/Toronto",),
    )
    assert facts.international == "+1 416-967-1111"


@pytest.mark.parametrize(
    ("e164", "line_type", "carrier", "place"),
    [
        ("+447400123456", LineType.MOBILE, "Three", "United Kingdom"),
        ("+33612345678", LineType.MOBILE, "SFR", "France"),
        ("+4930123456", LineType.FIXED, "", "Berlin"),
        ("+18002345678", LineType.TOLL_FREE, "", ""),
        ("+445612345678", LineType.VOIP, "", ""),
        ("+449012345678", LineType.PREMIUM_RATE, "", ""),
        ("+447640123456", LineType.OTHER, "", ""),  # a pager
        ("+445512345678", LineType.OTHER, "", ""),  # universal access
        ("+447012345678", LineType.OTHER, "", ""),  # a personal number
    ],
)
def test_line_type_carrier_and_place_follow_the_metadata(
    e164: str, line_type: LineType, carrier: str, place: str
) -> None:
    facts = parse_number(e164, default_region=None)
    assert (facts.line_type, facts.carrier, facts.place) == (line_type, carrier, place)
    assert "Etc/Unknown" not in facts.time_zones and facts.time_zones


def test_each_line_type_has_its_label_and_a_profile_picks_among_five() -> None:
    assert {line_type: line_type.label for line_type in LineType} == {
        LineType.MOBILE: "Mobile",
        LineType.FIXED: "Fixed line",
        LineType.FIXED_OR_MOBILE: "Fixed line or mobile",
        LineType.TOLL_FREE: "Toll-free",
        LineType.VOIP: "VoIP",
        LineType.PREMIUM_RATE: "Premium rate",
        LineType.OTHER: "Other",
        LineType.UNKNOWN: "Unknown",
    }
    assert PROFILE_LINE_TYPES == (
        LineType.MOBILE,
        LineType.FIXED,
        LineType.TOLL_FREE,
        LineType.VOIP,
        LineType.OTHER,
    )
    assert LineType("toll_free") is LineType.TOLL_FREE


def test_facts_of_a_stored_number_are_those_it_was_parsed_with() -> None:
    assert facts_of("+14169671111") == parse_number("416-967-1111", default_region="CA")
    assert facts_of("+15551234567").valid is False


@pytest.mark.parametrize("stored", ["4169671111", "+1 416-967-1111", "", "+1416967111x"])
def test_facts_of_refuses_what_is_not_e164(stored: str) -> None:
    with pytest.raises(NotAPhoneNumber, match="E.164"):
        facts_of(stored)


# --- Properties -----------------------------------------------------------------------------------

EXAMPLE_TYPES = (
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER,
    PhoneNumberType.UAN,
    PhoneNumberType.VOICEMAIL,
)
# Every region's example number of every type the metadata has one for.
EXAMPLES: list[tuple[str, PhoneNumber]] = [
    (region, example)
    for region in sorted(phonenumbers.SUPPORTED_REGIONS)
    for kind in EXAMPLE_TYPES
    if (example := phonenumbers.example_number_for_type(region, kind)) is not None
]
FULL_WIDTH = str.maketrans("0123456789+", "０１２３４５６７８９＋")


@st.composite
def valid_numbers(draw: st.DrawFn) -> tuple[str, PhoneNumber]:
    """A region and a valid number of it: an example, or one of its neighbours the metadata
    also calls valid (the example's last three digits replaced)."""
    region, example = draw(st.sampled_from(EXAMPLES))
    tail = draw(st.none() | st.integers(min_value=0, max_value=999))
    if tail is None:
        return region, example
    assert example.national_number is not None
    national = example.national_number // 1000 * 1000 + tail
    number = PhoneNumber(
        country_code=example.country_code,
        national_number=national,
        italian_leading_zero=example.italian_leading_zero,
        number_of_leading_zeros=example.number_of_leading_zeros,
    )
    assume(phonenumbers.is_valid_number_for_region(number, region))
    return region, number


def test_the_examples_cover_many_regions_and_types() -> None:
    assert len({region for region, _ in EXAMPLES}) > 200
    assert len(EXAMPLES) > 1000


@settings(max_examples=400, deadline=None)
@given(valid_numbers())
def test_a_valid_number_written_any_common_way_reads_back_the_same(
    case: tuple[str, PhoneNumber],
) -> None:
    region, number = case
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    forms = [
        (e164, None),
        (international, None),
        (international, "CA"),
        (national, region),
        (phonenumbers.format_number(number, PhoneNumberFormat.RFC3966), None),
        (international.translate(FULL_WIDTH), None),
        (national.translate(FULL_WIDTH), region),
    ]
    for typed, default_region in forms:
        facts = parse_number(typed, default_region=default_region)
        assert (facts.e164, facts.valid) == (e164, True), typed
    assert facts_of(e164) == parse_number(e164, default_region=None)
    assert facts_of(e164).international == international


@settings(max_examples=600, deadline=None)
@given(st.text(), st.sampled_from([None, "CA", "US", "GB", "DE", "IN", "AU"]))
def test_any_text_is_read_or_refused_and_never_breaks(text: str, region: str | None) -> None:
    try:
        facts = parse_number(text, default_region=region)
    except NotAPhoneNumber as refused:
        assert refused.reason
    else:
        assert facts.e164.startswith("+") and facts.e164[1:].isdigit()


@settings(max_examples=600, deadline=None)
@given(
    st.text(alphabet="0123456789+-() .x#*;:=telTEL\u00a0\u2003", max_size=30),
    st.sampled_from([None, "CA", "US", "GB", "DE", "IN", "AU", "JP", "IT"]),
)
def test_digit_heavy_text_is_read_or_refused_and_never_breaks(
    text: str, region: str | None
) -> None:
    try:
        facts = parse_number(text, default_region=region)
    except NotAPhoneNumber as refused:
        assert refused.reason
    else:
        assert facts_of(facts.e164) == facts
