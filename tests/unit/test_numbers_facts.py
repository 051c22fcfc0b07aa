"""rules/numbers.py works a number's region and type out once, where the library's functions
each work them out again: its facts must be exactly what those functions answer, for numbers
of every region and type, allocated or not."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import (
    NumberParseException,
    PhoneNumber,
    PhoneNumberFormat,
    PhoneNumberType,
    carrier,
    geocoder,
    timezone,
)

from portal_core.rules.numbers import (
    _LINE_TYPES,
    UNKNOWN_TIME_ZONE,
    LineType,
    NotAPhoneNumber,
    NumberFacts,
    allocated,
    facts_of,
    parse_number,
)


def _library_facts(number: PhoneNumber) -> NumberFacts:
    """The facts as the library's own functions give them, each on its own."""
    return NumberFacts(
        e164=phonenumbers.format_number(number, PhoneNumberFormat.E164),
        valid=phonenumbers.is_valid_number(number),
        country=phonenumbers.region_code_for_number(number),
        place=geocoder.description_for_number(number, "en"),
        carrier=carrier.name_for_number(number, "en"),
        line_type=_LINE_TYPES.get(phonenumbers.number_type(number), LineType.UNKNOWN),
        time_zones=tuple(
            zone for zone in timezone.time_zones_for_number(number) if zone != UNKNOWN_TIME_ZONE
        ),
    )


def _examples() -> list[str]:
    """An example number of every type of every region and non-geographic code, E.164."""
    found: set[str] = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in range(PhoneNumberType.UNKNOWN):  # every type but UNKNOWN
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                found.add(phonenumbers.format_number(example, PhoneNumberFormat.E164))
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            found.add(phonenumbers.format_number(example, PhoneNumberFormat.E164))
    return sorted(found)


EXAMPLES = _examples()


def test_the_examples_cover_many_regions_and_every_kind_of_line() -> None:
    facts = [facts_of(e164) for e164 in EXAMPLES]
    assert len({fact.country for fact in facts}) > 200
    assert {fact.line_type for fact in facts} >= set(LineType) - {LineType.UNKNOWN}


@pytest.mark.parametrize("e164", EXAMPLES)
def test_an_allocated_numbers_facts_are_the_librarys(e164: str) -> None:
    assert facts_of(e164) == _library_facts(phonenumbers.parse(e164, None))
    assert allocated(e164) is True


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(EXAMPLES), st.text("0123456789", min_size=1, max_size=3))
def test_a_changed_numbers_facts_are_the_librarys_too(e164: str, digits: str) -> None:
    """Changing the last digits (or adding some) makes numbers of other types, regions, or
    none: allocated or not, the facts agree."""
    changed = e164[: -len(digits)] + digits if len(digits) < len(e164) - 3 else e164 + digits
    try:
        number = phonenumbers.parse(changed, None)
    except NumberParseException:
        return
    formatted = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    assert facts_of(formatted) == _library_facts(number)
    assert allocated(formatted) is phonenumbers.is_valid_number(number)


@pytest.mark.parametrize("stored", ["+1 416 967 1111", "4169671111", "+1416967111a", "", "+"])
def test_a_number_not_in_e164_form_is_refused_alike(stored: str) -> None:
    for read in (facts_of, allocated):
        with pytest.raises(NotAPhoneNumber) as refused:
            read(stored)
        assert "not a number in E.164 form" in refused.value.reason


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["CA", "US", "GB", "FR", "DE", "AU", "IN", "BR", "JM", "PR"]),
    st.text("0123456789", min_size=7, max_size=12),
)
def test_a_typed_numbers_facts_are_the_librarys(region: str, digits: str) -> None:
    """Read in a region, whatever the digits: the library's facts, or refused; an allocated
    number only as an emergency number, one that is not only when it is not even possible."""
    try:
        number = phonenumbers.parse(digits, region)
    except NumberParseException:
        number = None
    try:
        facts = parse_number(digits, default_region=region)
    except NotAPhoneNumber as refused:
        if number is not None and phonenumbers.is_valid_number(number):
            assert "emergency" in refused.reason
        return
    assert number is not None
    assert facts == _library_facts(number)
    if not facts.valid:
        possible = phonenumbers.is_possible_number_with_reason(number)
        assert possible == phonenumbers.ValidationResult.IS_POSSIBLE


def test_text_read_before_is_read_again_in_its_own_region_and_refused_under_its_field() -> None:
    """What was typed is kept once read: the same text in another region, or refused under
    another field, is read afresh."""
    london = "020 7946 0018"
    assert parse_number(london, default_region="GB").e164 == "+442079460018"
    assert parse_number(london, default_region="GB", field="source").country == "GB"
    for field in ("source", "destination"):
        with pytest.raises(NotAPhoneNumber) as refused:
            parse_number(london, default_region="CA", field=field)
        assert refused.value.field == field
        assert "too long" in refused.value.reason


@pytest.mark.parametrize(
    ("typed", "region"),
    [
        ("000000", "DE"),  # +49 00000 would be stored, and read back as +49 0000
        ("000007057008", "IN"),
        ("0001290", "AU"),
        ("+600000251000", None),
    ],
)
def test_digits_whose_e164_form_reads_back_as_another_number_are_refused(
    typed: str, region: str | None
) -> None:
    """The metadata writes some unallocated digits (zeros after the country code) in an E.164
    form that it reads back as another number: stored, such a number could never be read
    again. None is a number anyone calls."""
    with pytest.raises(NotAPhoneNumber) as refused:
        parse_number(typed, default_region=region)
    assert refused.value.reason == f"“{typed}” is not a phone number."
