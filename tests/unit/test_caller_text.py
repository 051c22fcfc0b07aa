"""rules/caller_text.py: the short ASCII answer call flows read, score then caller name."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal_core.rules.caller_text import (
    MAX_NAME,
    MAX_TEXT,
    caller_name_ascii,
    place_name,
    text_answer,
)

FORM = re.compile(r"^[0-5]\.\d{3}[A-Za-z0-9 .'&-]{0,15}$")


@pytest.mark.parametrize(
    ("name", "ascii"),
    [
        ("Café Ltée", "Cafe Ltee"),
        ("Straße", "Strasse"),
        ("北京", "BeiJing"),
        ("Москва", "Moskva"),
        ("Ｆｕｌｌ Ｗｉｄｔｈ", "Full Width"),
        ("Dr. Müller & Söhne-GmbH", "Dr. Muller & Sohne-GmbH"),
        ("O'Brien", "O'Brien"),
        ("  Joe \t\n  Smith  ", "Joe Smith"),
        ("Smith,John", "Smith John"),
        ("Zoë_O'Brien", "Zoe O'Brien"),
        ("Joe 😀 Pizza", "Joe Pizza"),
        ("Acme™ Inc.", "Acme Inc."),
        ("x\u200by", "xy"),
        ("Yahoo!", "Yahoo"),
        ("😀🍕", ""),
        ("", ""),
    ],
)
def test_a_name_is_transliterated_and_kept_to_what_caller_id_shows(name: str, ascii: str) -> None:
    assert caller_name_ascii(name) == ascii


@pytest.mark.parametrize(
    ("millis", "name", "text"),
    [
        (3750, "Café Ltée", "3.750Cafe Ltee"),
        (3750, "Straße", "3.750Strasse"),
        (4120, "北京", "4.120BeiJing"),
        (3750, None, "3.750"),
        (3750, "", "3.750"),
        (0, "😀 ™ ©", "0.000"),  # nothing left of the name: the score alone
        (5000, "Trusted Caller", "5.000Trusted Caller"),
        (2500, "Northern Lights Telecom", "2.500Northern Lights"),  # cut at 15, space stripped
        (2500, "Abcdefghijklmnopq", "2.500Abcdefghijklmno"),  # cut at 15
        (2500, "Abcdefghijklmn pq", "2.500Abcdefghijklmn"),  # the 15th is a space: stripped
        (1200, "Toronto ON", "1.200Toronto ON"),
    ],
)
def test_the_text_answer_is_the_score_then_the_name(
    millis: int, name: str | None, text: str
) -> None:
    assert text_answer(millis, name) == text
    assert FORM.match(text)


@pytest.mark.parametrize(
    ("place", "shown"),
    [
        ("Toronto, ON", "Toronto ON"),
        ("Ontario", "Ontario"),
        ("", ""),
        ("New York, NY", "New York NY"),
        ("  Montreal,QC ", "Montreal QC"),
    ],
)
def test_a_place_is_written_without_its_commas(place: str, shown: str) -> None:
    assert place_name(place) == shown


def test_a_place_reads_in_the_text_answer_like_a_name() -> None:
    assert text_answer(3000, place_name("Toronto, ON")) == "3.000Toronto ON"


def test_the_limits_are_caller_ids() -> None:
    assert (MAX_NAME, MAX_TEXT) == (15, 20)


@given(st.integers(0, 5000), st.none() | st.text())
def test_any_name_and_score_give_twenty_ascii_characters_at_most(
    millis: int, name: str | None
) -> None:
    text = text_answer(millis, name)
    assert len(text) <= MAX_TEXT
    assert FORM.match(text), text
    assert text[:5] == f"{millis // 1000}.{millis % 1000:03d}"
    assert not text.endswith(" ")
    assert caller_name_ascii(name or "").startswith(text[5:])


@given(st.text())
def test_a_name_in_ascii_has_no_space_at_either_end_nor_two_in_a_row(name: str) -> None:
    ascii_name = caller_name_ascii(name)
    assert ascii_name == ascii_name.strip()
    assert "  " not in ascii_name
    assert re.fullmatch(r"[A-Za-z0-9 .'&-]*", ascii_name)


@pytest.mark.parametrize("millis", [-1, 5001])
def test_a_score_off_the_scale_has_no_text_answer(millis: int) -> None:
    with pytest.raises(ValueError):
        text_answer(millis, "Joe")
