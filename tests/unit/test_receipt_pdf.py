"""The payment receipt PDF: what it prints (seller and tax numbers, the payer, reference, date
in the billing time zone, card, amount credited, the convenience fee and its rate, the total
charged), that only a succeeded payment of the same organization has one, and its file name.

The text is read back with the small PDF reader of ``test_invoice_pdf``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from portal_core.documents import receipt_file_name, receipt_pdf
from portal_core.errors import NotFound
from portal_core.models.accounts import Organization
from portal_core.models.payments import GatewayName, Payment, PaymentSource, PaymentStatus
from portal_core.services.platform import Seller
from tests.unit.test_invoice_pdf import pdf_runs, pdf_text

TORONTO = ZoneInfo("America/Toronto")
SELLER = Seller(
    legal_name="SIPSTACK Inc.",
    address="100 Queen Street West, Toronto, ON M5H 2N2, Canada",
    gst_hst_number="123456789 RT0001",
    qst_number="1234567890 TQ0001",
)


def organization_of(name: str = "Northwind Telecom Inc.") -> Organization:
    return Organization(
        id=uuid.uuid4(),
        name="Northwind",
        legal_name=name,
        country="CA",
        province="QC",
        city="Montréal",
        address_line="1 Main Street",
        postal_code="H2X 1Y4",
        tax_id="123456789 RT0001",
    )


def payment_of(
    organization: Organization,
    *,
    status: PaymentStatus = PaymentStatus.SUCCEEDED,
    created_at: datetime = datetime(2026, 11, 3, 15, 4, tzinfo=UTC),
    settled_at: datetime | None = datetime(2026, 11, 3, 15, 5, tzinfo=UTC),
) -> Payment:
    """$100.00 added with a 2.95 % fee: $2.95, $102.95 charged to a Visa ending 4242."""
    return Payment(
        id=uuid.uuid4(),
        organization_id=organization.id,
        reference="PAY-7Q2KX9",
        source=PaymentSource.PORTAL,
        gateway=GatewayName.SANDBOX,
        card_label="Visa •••• 4242",
        card_last4="4242",
        amount_cents=10_000,
        fee_millipercent=2_950,
        fee_cents=295,
        total_cents=10_295,
        status=status,
        idempotency_key=uuid.uuid4().hex,
        created_at=created_at,
        updated_at=created_at,
        settled_at=settled_at,
    )


def printed(payment: Payment, organization: Organization) -> list[str]:
    return pdf_runs(receipt_pdf(payment, organization, SELLER, time_zone=TORONTO))


def test_the_receipt_is_a_pdf() -> None:
    organization = organization_of()

    data = receipt_pdf(payment_of(organization), organization, SELLER, time_zone=TORONTO)

    assert data.startswith(b"%PDF-")


def test_prints_the_wordmark_and_the_reference() -> None:
    organization = organization_of()

    runs = printed(payment_of(organization), organization)

    assert runs[:3] == ["SIPSTACK", "RECEIPT", "PAY-7Q2KX9"]
    assert runs[runs.index("Reference") + 1] == "PAY-7Q2KX9"


def test_prints_the_sellers_legal_name_address_and_tax_numbers() -> None:
    organization = organization_of()

    runs = printed(payment_of(organization), organization)

    start = runs.index("FROM")
    assert runs[start + 1] == "SIPSTACK Inc."
    assert "GST/HST registration: 123456789 RT0001" in runs
    assert "QST registration: 1234567890 TQ0001" in runs


def test_prints_who_paid() -> None:
    organization = organization_of()

    runs = printed(payment_of(organization), organization)

    start = runs.index("RECEIVED FROM")
    assert runs[start + 1 : start + 6] == [
        "Northwind Telecom Inc.",
        "1 Main Street",
        "Montréal, QC H2X 1Y4",
        "CA",
        "Tax ID: 123456789 RT0001",
    ]


def test_prints_the_settlement_date_and_time_in_the_billing_time_zone_and_the_card() -> None:
    organization = organization_of()
    # Settled at 02:30 UTC on November 4th: still November 3rd, 21:30, in Toronto.
    payment = payment_of(
        organization,
        created_at=datetime(2026, 11, 4, 2, 29, tzinfo=UTC),
        settled_at=datetime(2026, 11, 4, 2, 30, tzinfo=UTC),
    )

    runs = printed(payment, organization)

    assert runs[runs.index("Date") + 1] == "2026-11-03"
    assert runs[runs.index("Time") + 1] == "21:30 EST"
    assert runs[runs.index("Paid by") + 1] == "Visa •••• 4242"
    assert runs[runs.index("Status") + 1] == "Paid"


def test_a_payment_not_yet_stamped_as_settled_is_dated_when_it_was_made() -> None:
    organization = organization_of()
    payment = payment_of(
        organization, created_at=datetime(2026, 12, 1, 17, 0, tzinfo=UTC), settled_at=None
    )

    runs = printed(payment, organization)

    assert runs[runs.index("Date") + 1] == "2026-12-01"


def test_prints_the_amount_credited_the_fee_with_its_rate_and_the_total_charged() -> None:
    organization = organization_of()

    runs = printed(payment_of(organization), organization)

    start = runs.index("Description")
    assert runs[start : start + 6] == [
        "Description",
        "Amount",
        "Funds added to the SIPSTACK prepaid balance",
        "$100.00",
        "Card convenience fee (2.95%, not taxed)",
        "$2.95",
    ]
    assert runs[runs.index("Total charged to the card (USD)") + 1] == "$102.95"


def test_says_it_is_not_an_invoice_and_where_the_services_are_billed() -> None:
    organization = organization_of()

    text = pdf_text(receipt_pdf(payment_of(organization), organization, SELLER, time_zone=TORONTO))

    assert "it is not an invoice" in text
    assert "monthly invoices (Billing › Invoices). Prices in USD." in text


def test_a_company_name_outside_latin_1_prints_as_written() -> None:
    organization = organization_of("東京テレコム株式会社")

    runs = printed(payment_of(organization), organization)

    assert runs[runs.index("RECEIVED FROM") + 1] == "東京テレコム株式会社"


@pytest.mark.parametrize(
    "status",
    [PaymentStatus.PENDING, PaymentStatus.FAILED, PaymentStatus.REQUIRES_ACTION],
    ids=str,
)
def test_a_payment_that_did_not_go_through_has_no_receipt(status: PaymentStatus) -> None:
    organization = organization_of()

    with pytest.raises(NotFound, match="only for a payment that went through"):
        receipt_pdf(
            payment_of(organization, status=status), organization, SELLER, time_zone=TORONTO
        )


def test_a_payment_of_another_organization_has_no_receipt_for_this_one() -> None:
    payer, other = organization_of(), organization_of("Someone Else Ltd.")

    with pytest.raises(NotFound, match="That payment was not found."):
        receipt_pdf(payment_of(payer), other, SELLER, time_zone=TORONTO)


def test_the_file_name_carries_the_reference_and_nothing_unsafe() -> None:
    assert receipt_file_name("PAY-7Q2KX9") == "SIPSTACK-receipt-PAY-7Q2KX9.pdf"
    assert receipt_file_name("../PAY 7/Q2") == "SIPSTACK-receipt-PAY7Q2.pdf"
    assert receipt_file_name("…") == "SIPSTACK-receipt-payment.pdf"
