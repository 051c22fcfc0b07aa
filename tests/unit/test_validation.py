"""validation.py: e-mail addresses, domains and free text, as the forms check them."""

from __future__ import annotations

import pytest

from portal_core.services.validation import (
    domain_problem,
    email_problem,
    normalize_domain,
    normalize_email,
    text_problem,
)
from portal_core.settings import get_settings


@pytest.mark.parametrize(
    "address",
    [
        "name@company.com",
        "  Name.Surname+portal@Company.co.uk  ",
        "o'neil@example.ie",
        "owner@demo.sipstack.test",
        "josé@exämple.com",
    ],
)
def test_email_problem_accepts_real_addresses(address):
    assert email_problem(address) is None


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("", "Enter your e-mail"),
        ("   ", "Enter your e-mail"),
        ("name", "valid e-mail"),
        ("name@", "valid e-mail"),
        ("@company.com", "valid e-mail"),
        ("name@company", "valid e-mail"),
        ("name@@company.com", "valid e-mail"),
        ("name @company.com", "valid e-mail"),
        ("name@company..com", "valid e-mail"),
        ("a" * 245 + "@example.com", "too long"),
    ],
)
def test_email_problem_refuses_malformed_addresses(address, words):
    problem = email_problem(address)

    assert problem is not None
    assert words in problem


def test_the_reserved_test_domain_is_refused_in_production(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("COOKIE_KEY", "k" * 48)
    get_settings.cache_clear()

    assert email_problem("owner@demo.sipstack.test") is not None
    assert email_problem("owner@sipstack.com") is None


def test_normalize_email_trims_and_lower_cases():
    assert normalize_email("  Dana.Price@Example.COM ") == "dana.price@example.com"


def test_normalize_email_composes_accents():
    decomposed = "Jose\u0301.Mu\u0308ller@example.com"

    assert normalize_email(decomposed) == "jos\u00e9.m\u00fcller@example.com"


@pytest.mark.parametrize(
    "domain",
    [
        "example.com",
        "Voice.Example.CO.UK",
        "example.com.",
        "my-brand.io",
        "bücher.de",
        "xn--bcher-kva.de",
        "a1.example.technology",
    ],
)
def test_domain_problem_accepts_registrable_names(domain):
    assert domain_problem(domain) is None


@pytest.mark.parametrize(
    ("domain", "words"),
    [
        ("", "Enter your brand's domain"),
        ("https://example.com", "no https://"),
        ("example.com/path", "no https://"),
        ("example.com:8080", "no https://"),
        ("owner@example.com", "no https://"),
        ("example", "with its extension"),
        ("localhost", "with its extension"),
        ("example.c", "extension is not valid"),
        ("example.c0m", "extension is not valid"),
        ("example.123", "extension is not valid"),
        ("-example.com", "not a valid domain"),
        ("example-.com", "not a valid domain"),
        ("exa_mple.com", "not a valid domain"),
        ("*.example.com", "not a valid domain"),
        ("exa mple.com", "not a valid domain"),
        ("example..com", "not a valid domain"),
        ("a" * 64 + ".com", "not a valid domain"),
        (".".join(["label"] * 50) + ".com", "with its extension"),
    ],
)
def test_domain_problem_refuses_what_is_not_a_domain(domain, words):
    problem = domain_problem(domain)

    assert problem is not None
    assert words in problem


def test_normalize_domain_lower_cases_and_drops_the_root_dot():
    assert normalize_domain("  Example.COM. ") == "example.com"


@pytest.mark.parametrize(
    ("raw", "required", "words"),
    [
        ("", True, "Enter the city"),
        ("   ", True, "Enter the city"),
        ("x" * 11, True, "at most 10 characters"),
        ("Tor\nonto", True, "not allowed"),
        ("Tor\x00onto", False, "not allowed"),
    ],
)
def test_text_problem_refuses_blank_long_and_control_characters(raw, required, words):
    problem = text_problem(raw, label="the city", max_length=10, required=required)

    assert problem is not None
    assert words in problem


@pytest.mark.parametrize(
    ("raw", "required"), [("", False), ("  Toronto  ", True), ("x" * 10, True)]
)
def test_text_problem_accepts_good_text(raw, required):
    assert text_problem(raw, label="the city", max_length=10, required=required) is None
