"""The parties to SIPSTACK's documents, as they are printed: SIPSTACK as the seller, and a
partner organization as the buyer, on an invoice (copied onto it when issued) and on a
payment receipt.

Plain functions of stored values, below the services and the documents, so that both print
the parties the same way.
"""

from __future__ import annotations

from typing import Protocol


class BuyerDetails(Protocol):
    """A partner organization's printed details: the organization itself, or its details in
    force at an invoice's period end (``models.billing.BillingDetails``)."""

    @property
    def name(self) -> str: ...
    @property
    def legal_name(self) -> str | None: ...
    @property
    def address_line(self) -> str | None: ...
    @property
    def city(self) -> str | None: ...
    @property
    def province(self) -> str | None: ...
    @property
    def postal_code(self) -> str | None: ...
    @property
    def country(self) -> str | None: ...
    @property
    def tax_id(self) -> str | None: ...


class SellerDetails(Protocol):
    """SIPSTACK's legal details, as the platform settings hold them (``platform.Seller``)."""

    @property
    def legal_name(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def gst_hst_number(self) -> str: ...
    @property
    def qst_number(self) -> str: ...


def seller_lines(seller: SellerDetails) -> list[str]:
    """SIPSTACK as printed on its documents: legal name, address, tax registrations."""
    return [
        seller.legal_name,
        seller.address,
        f"GST/HST registration: {seller.gst_hst_number}",
        f"QST registration: {seller.qst_number}",
    ]


def organization_lines(organization: BuyerDetails) -> list[str]:
    """A partner organization as printed on its documents: its legal name (else its name),
    street, "City, Province Postal code", country and tax ID, leaving out what is not set."""
    region = " ".join(part for part in (organization.province, organization.postal_code) if part)
    place = ", ".join(part for part in (organization.city, region) if part)
    parts = [
        organization.legal_name or organization.name,
        organization.address_line,
        place,
        organization.country,
        f"Tax ID: {organization.tax_id}" if organization.tax_id else None,
    ]
    return [part for part in parts if part]
