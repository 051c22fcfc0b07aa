"""parties.py: a partner organization as its invoices and receipts print it."""

from __future__ import annotations

from portal_core.models.accounts import Organization
from portal_core.parties import organization_lines


def test_an_organization_prints_legal_name_street_place_country_and_tax_id() -> None:
    organization = Organization(
        name="Northwind",
        legal_name="Northwind Telecom Inc.",
        address_line="1 Main Street",
        city="Toronto",
        province="ON",
        postal_code="M5V 2T6",
        country="CA",
        tax_id="123456789RT0001",
    )

    assert organization_lines(organization) == [
        "Northwind Telecom Inc.",
        "1 Main Street",
        "Toronto, ON M5V 2T6",
        "CA",
        "Tax ID: 123456789RT0001",
    ]


def test_what_is_not_set_is_left_out_and_the_name_stands_in_for_a_legal_name() -> None:
    organization = Organization(name="Maple Voice", city="Montréal", country="CA")

    assert organization_lines(organization) == ["Maple Voice", "Montréal", "CA"]
