"""When an organization's company details are complete, and what its brand domains publish.

Both the Company page (which says what is missing) and the carrier score (which rewards
complete details) read these, so they live below services and queries alike.
(docs/product.md, Pages › Company; and docs/product.md, Carrier score).
"""

from __future__ import annotations

from collections.abc import Mapping

# Countries whose invoices need a province or state (it decides the sales tax) and whose
# postal codes are checked against the country's pattern.
COUNTRIES_WITH_PROVINCES = frozenset({"CA", "US"})

# The legal details, in the order the Company page lists them, with their names there.
COMPANY_FIELDS: dict[str, str] = {
    "legal_name": "Legal name",
    "country": "Country",
    "province": "Province or state",
    "address_line": "Street address",
    "city": "City",
    "postal_code": "Postal code",
    "tax_id": "Tax id",
}

# The audit action of a change to the legal details: the Company page's history reads them.
COMPANY_UPDATED = "company.updated"

_ALWAYS_REQUIRED = ("legal_name", "country", "address_line", "city")
_REQUIRED_WITH_PROVINCES = ("province", "postal_code")

# The DNS TXT record that proves a brand domain is the organization's: published at a name of
# its own under the domain, so it sits beside, never among, the domain's other TXT records.
VERIFICATION_LABEL = "_sipstack-verify"
VERIFICATION_PREFIX = "sipstack-verification="


def missing_company_fields(details: Mapping[str, str | None]) -> list[str]:
    """The required legal details that ``details`` (field → value) lacks, in page order: the
    legal name, country, street address and city always; the province or state and the
    postal code too in the countries that have them."""
    required = list(_ALWAYS_REQUIRED)
    if (details.get("country") or "").strip().upper() in COUNTRIES_WITH_PROVINCES:
        required.extend(_REQUIRED_WITH_PROVINCES)
    missing = {name for name in required if not (details.get(name) or "").strip()}
    return [name for name in COMPANY_FIELDS if name in missing]


def company_complete(details: Mapping[str, str | None]) -> bool:
    return not missing_company_fields(details)


def verification_name(domain: str) -> str:
    """Where a domain's verification record is published."""
    return f"{VERIFICATION_LABEL}.{domain}"


def verification_value(token: str) -> str:
    """The exact text the record must hold."""
    return f"{VERIFICATION_PREFIX}{token}"
