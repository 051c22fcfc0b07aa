"""Password rules (NIST SP 800-63B) and hashing."""

from __future__ import annotations

import pytest

from portal_core.services.passwords import (
    MAX_LENGTH,
    hash_password,
    password_problem,
    verify_password,
)

PASSPHRASE_64 = "glacier tangerine mosaic orbit kettle saffron trellis nimbus quarry"[:64]
PASSPHRASE_200 = (
    "the quiet lighthouse keeper painted seventeen crooked violet doors along the harbor "
    "before the autumn ferries returned with salt, brass lanterns and a very confused goat "
    "named Bartholomew, who ate the harbormaster's winter hat!"
)[:200]
NAME, EMAIL, COMPANY = "Marguerite Okonkwo", "marguerite.okonkwo@example.com", "Northwind Voice"


def test_the_passphrases_are_the_lengths_they_claim():
    assert (len(PASSPHRASE_64), len(PASSPHRASE_200)) == (64, 200)


@pytest.mark.parametrize(
    "password",
    [
        "Zebra-Quilt-Mosaic-42",
        "correct horse battery staple",
        "  Tidal Pocket Orbit 93  ",
        "Ωμέγα-Σίσυφος-Κύκλος",
        PASSPHRASE_64,
        PASSPHRASE_200,
        "x" * 30 + "Zebra-Quilt-Mosaic-42",
    ],
)
def test_strong_passwords_of_any_length_up_to_the_limit_are_accepted(password):
    assert password_problem(password, user_inputs=(NAME, EMAIL, COMPANY)) is None


@pytest.mark.parametrize("password", [PASSPHRASE_64, PASSPHRASE_200, "  Tidal Pocket Orbit 93  "])
def test_a_long_password_hashes_and_verifies_in_full(password):
    hashed = hash_password(password)

    assert verify_password(password, hashed)
    assert not verify_password(password[:-1], hashed)
    assert not verify_password(password + " ", hashed)
    assert not verify_password(password.strip() + "?", hashed)


def test_characters_past_bcrypts_72_bytes_still_count():
    hashed = hash_password(PASSPHRASE_200)

    assert not verify_password(PASSPHRASE_200[:72], hashed)
    assert not verify_password(PASSPHRASE_200[:199] + "?", hashed)


@pytest.mark.parametrize("password", ["Tq9!zr", "1234567", ""])
def test_fewer_than_eight_characters_are_refused(password):
    assert password_problem(password) == "Use at least 8 characters."


def test_more_than_the_maximum_is_refused():
    assert (
        password_problem("Zebra-Quilt-Mosaic-42 " * 20) == f"Use at most {MAX_LENGTH} characters."
    )
    assert password_problem(("Zebra-Quilt-Mosaic-42 " * 20)[:MAX_LENGTH]) is None


@pytest.mark.parametrize(
    "password", ["password1", "Password123!", "qwertyuiop", "iloveyou2", "abcdefgh", "11111111"]
)
def test_common_passwords_are_refused(password):
    problem = password_problem(password)

    assert problem is not None
    assert problem.startswith("Choose a harder password")


@pytest.mark.parametrize(
    "password",
    [
        "marguerite.okonkwo@example.com",
        "Okonkwo-Marguerite",
        "MargueriteOkonkwo2026",
        "Marguerite2024!",
        "NorthwindVoice#1",
        "okonkwo okonkwo okonkwo",
    ],
)
def test_passwords_built_from_the_users_own_name_email_or_company_are_refused(password):
    assert password_problem(password, user_inputs=(NAME, EMAIL, COMPANY)) is not None


def test_the_same_words_are_fine_for_someone_else():
    assert password_problem("Okonkwo-Marguerite-Lake") is None


@pytest.mark.parametrize("password", ["Zebra-Quilt-Mosaic-42", PASSPHRASE_200, "  spaced out  "])
def test_the_hash_never_equals_or_contains_the_password(password):
    hashed = hash_password(password)

    assert hashed != password
    assert password not in hashed
    assert password.strip() not in hashed
    assert hashed.startswith("$2b$")


def test_the_same_password_hashes_differently_each_time():
    assert hash_password("Zebra-Quilt-Mosaic-42") != hash_password("Zebra-Quilt-Mosaic-42")


def test_a_malformed_hash_verifies_nothing():
    assert not verify_password("Zebra-Quilt-Mosaic-42", "not a bcrypt hash")
