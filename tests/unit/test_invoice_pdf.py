"""The invoice PDF: what it prints (seller, buyer, number, period, issue date in the billing
time zone, status, lines, each tax with its rate, total, "Prices in USD"), names in any script,
long invoices over several pages, and the figures' formats.

The text is read back from the PDF itself (``pdf_runs``): pypdf is not a dependency, so a
small reader decompresses the content streams (zlib) and maps the embedded fonts' glyph codes
back to Unicode through their ToUnicode CMaps, the way a PDF viewer's copy-paste does.
"""

from __future__ import annotations

import re
import uuid
import zlib
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import select

from portal_core import db
from portal_core.documents import invoice_file_name, invoice_pdf
from portal_core.documents.layout import format_quantity
from portal_core.models.billing import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    InvoiceTax,
)
from portal_core.queries import invoices as invoice_queries
from portal_core.queries.invoices import InvoiceDetail
from portal_core.services import invoices as invoice_service
from tests.factories import (
    actor_of,
    change_subscription,
    keep_details,
    make_organization,
    make_user,
    record_usage,
)

TORONTO = ZoneInfo("America/Toronto")
SELLER = (
    "SIPSTACK Inc.\n100 Queen Street West, Toronto, ON M5H 2N2, Canada\n"
    "GST/HST registration: 123456789 RT0001\nQST registration: 1234567890 TQ0001"
)
# 03:00 UTC on November 1st is still October 31st, 23:00, in Toronto.
ISSUED_LATE_ON_THE_31ST = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


# --- Reading a PDF's text back ---------------------------------------------------------------

_OBJECT = re.compile(rb"(\d+) 0 obj\b")
_LENGTH = re.compile(rb"/Length (\d+)")
_TOKEN = re.compile(
    rb"\((?:\\.|[^\\()])*\)|<[0-9A-Fa-f\s]*>|/[^\s/<>\[\]()]+|\[|\]|[A-Za-z'\"*]+|-?[0-9.]+",
    re.S,
)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def pdf_runs(data: bytes) -> list[str]:
    """Each text object (BT … ET) of every page, in drawing order, as Unicode text."""
    objects = _objects(data)
    cmaps: dict[int, dict[int, str]] = {}
    for number, (head, _stream) in objects.items():
        to_unicode = re.search(rb"/ToUnicode (\d+) 0 R", head)
        if b"/Type /Font" in head and to_unicode:
            cmaps[number] = _cmap(objects[int(to_unicode[1])][1])
    fonts: dict[bytes, dict[int, str]] = {}
    for head, _stream in objects.values():
        for block in re.findall(rb"/Font\s*<<(.*?)>>", head, re.S):
            for name, number in re.findall(rb"/(\S+?)\s+(\d+) 0 R", block):
                if int(number) in cmaps:
                    fonts[name] = cmaps[int(number)]
    runs: list[str] = []
    for head, _stream in objects.values():
        if re.search(rb"/Type /Page\b", head):
            for number in re.findall(rb"/Contents (\d+) 0 R", head):
                runs.extend(_runs(objects[int(number)][1], fonts))
    return [run for run in runs if run]


def pdf_text(data: bytes) -> str:
    """All the text as one string, as read: runs joined by spaces, whitespace collapsed (so a
    paragraph wrapped over two lines reads as one)."""
    return " ".join(" ".join(pdf_runs(data)).split())


def _objects(data: bytes) -> dict[int, tuple[bytes, bytes]]:
    """Every indirect object: its dictionary and its (decompressed) stream."""
    objects: dict[int, tuple[bytes, bytes]] = {}
    position = 0
    while (found := _OBJECT.search(data, position)) is not None:
        start = found.end()
        stream_at, end_at = data.find(b"stream", start), data.find(b"endobj", start)
        if stream_at != -1 and stream_at < end_at:
            head = data[start:stream_at]
            body = stream_at + len(b"stream")
            body += 2 if data[body : body + 2] == b"\r\n" else 1
            length = _LENGTH.search(head)
            assert length is not None, "a stream without a direct /Length"
            stream = data[body : body + int(length[1])]
            if b"/FlateDecode" in head:
                stream = zlib.decompress(stream)
            end_at = data.find(b"endobj", body + int(length[1]))
        else:
            head, stream = data[start:end_at], b""
        objects[int(found[1])] = (head, stream)
        position = end_at + len(b"endobj")
    return objects


def _cmap(stream: bytes) -> dict[int, str]:
    mapping: dict[int, str] = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", stream, re.S):
        for code, text in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            mapping[int(code, 16)] = bytes.fromhex(text.decode()).decode("utf-16-be")
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", stream, re.S):
        for low, high, first in re.findall(
            rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block
        ):
            for offset, code in enumerate(range(int(low, 16), int(high, 16) + 1)):
                mapping[code] = chr(int(first, 16) + offset)
    return mapping


def _literal(token: bytes) -> bytes:
    body, out, index = token[1:-1], bytearray(), 0
    while index < len(body):
        if body[index : index + 1] != b"\\":
            out += body[index : index + 1]
            index += 1
            continue
        octal = re.match(rb"[0-7]{1,3}", body[index + 1 :])
        if octal:
            out.append(int(octal[0], 8) & 0xFF)
            index += 1 + len(octal[0])
        else:
            following = body[index + 1 : index + 2]
            out += _ESCAPES.get(following, following)
            index += 2
    return bytes(out)


def _runs(content: bytes, fonts: dict[bytes, dict[int, str]]) -> list[str]:
    runs: list[str] = []
    current: list[str] = []
    font: dict[int, str] = {}
    operands: list[bytes] = []
    for token in _TOKEN.findall(content):
        if token == b"BT":
            current = []
        elif token == b"ET":
            runs.append("".join(current))
        elif token == b"Tf":
            font = fonts.get(operands[-2][1:], {})
        elif token in (b"Tj", b"TJ", b"'", b'"'):
            for operand in operands:
                if operand.startswith(b"("):
                    raw = _literal(operand)
                elif operand.startswith(b"<"):
                    raw = bytes.fromhex(re.sub(rb"\s", b"", operand[1:-1]).decode())
                else:
                    continue
                current.extend(
                    font.get(int.from_bytes(raw[i : i + 2], "big"), "\ufffd")
                    for i in range(0, len(raw) - 1, 2)
                )
        if token[:1].isalpha() or token in (b"'", b'"'):
            operands = []
        else:
            operands.append(token)
    return runs


def page_count(data: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b", data))


# --- Invoices to print ----------------------------------------------------------------------


def detail_of(
    *,
    buyer: str = "Société Générale Télécom Inc.\n1 Main Street\nMontréal, QC H2X 1Y4\nCA",
    status: InvoiceStatus = InvoiceStatus.PAID,
    lines: list[tuple[str, int, int, int]] | None = None,
    taxes: list[tuple[str, int, int]] | None = None,
    number: int = 123,
) -> InvoiceDetail:
    """An invoice as the run writes it (Quebec: GST and QST), without a database."""
    lines = (
        lines
        if lines is not None
        else [
            ("Starter plan, October 2026", 1, 30_000_000, 3_000),
            ("Caller ID lookups beyond the allowance", 500, 3_000, 150),
        ]
    )
    taxes = taxes if taxes is not None else [("GST", 5_000, 158), ("QST", 9_975, 314)]
    subtotal = sum(amount for *_rest, amount in lines)
    tax = sum(amount for *_rest, amount in taxes)
    invoice = Invoice(
        id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        number=number,
        period="2026-10",
        status=status,
        subtotal_cents=subtotal,
        tax_cents=tax,
        total_cents=subtotal + tax,
        issued_at=ISSUED_LATE_ON_THE_31ST,
        updated_at=ISSUED_LATE_ON_THE_31ST,
        seller_details=SELLER,
        buyer_details=buyer,
    )
    return InvoiceDetail(
        invoice=invoice,
        lines=[
            InvoiceLine(
                invoice_id=invoice.id,
                position=position,
                description=description,
                quantity=quantity,
                unit_micros=unit,
                amount_cents=amount,
            )
            for position, (description, quantity, unit, amount) in enumerate(lines, start=1)
        ],
        taxes=[
            InvoiceTax(invoice_id=invoice.id, tax=name, rate_millipercent=rate, amount_cents=amount)
            for name, rate, amount in taxes
        ],
    )


def printed(detail: InvoiceDetail) -> list[str]:
    return pdf_runs(invoice_pdf(detail, time_zone=TORONTO))


# --- What an invoice prints -----------------------------------------------------------------


def test_the_pdf_is_a_pdf() -> None:
    data = invoice_pdf(detail_of(), time_zone=TORONTO)

    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")


def test_prints_the_wordmark_the_number_the_period_and_prices_in_usd() -> None:
    runs = printed(detail_of())

    assert runs[:3] == ["SIPSTACK", "INVOICE", "No. 123"]
    assert ["Invoice number", "123", "Period", "October 2026"] == runs[
        runs.index("Invoice number") : runs.index("Invoice number") + 4
    ]
    assert "Currency" in runs and "USD" in runs
    assert any(run.startswith("Prices in USD.") for run in runs)


def test_prints_the_sellers_details_and_tax_numbers_as_recorded_on_the_invoice() -> None:
    runs = printed(detail_of())

    start = runs.index("FROM")
    assert runs[start + 1 : start + 6] == [
        "SIPSTACK Inc.",
        "100 Queen Street West, Toronto, ON M5H 2N2,",  # wrapped to the column
        "Canada",
        "GST/HST registration: 123456789 RT0001",
        "QST registration: 1234567890 TQ0001",
    ]


def test_prints_the_buyers_details() -> None:
    runs = printed(detail_of())

    start = runs.index("BILLED TO")
    assert runs[start + 1 : start + 5] == [
        "Société Générale Télécom Inc.",
        "1 Main Street",
        "Montréal, QC H2X 1Y4",
        "CA",
    ]


def test_the_issue_date_is_the_day_in_the_billing_time_zone() -> None:
    runs = printed(detail_of())

    assert runs[runs.index("Issue date") + 1] == "2026-10-31"  # 2026-11-01 in UTC
    assert "2026-11-01" not in runs


def test_prints_each_line_with_quantity_unit_price_and_amount() -> None:
    runs = printed(detail_of())

    start = runs.index("Description")
    assert runs[start : start + 12] == [
        "Description",
        "Quantity",
        "Unit price",
        "Amount",
        "Starter plan, October 2026",
        "1",
        "$30.00",
        "$30.00",
        "Caller ID lookups beyond the allowance",
        "500",
        "$0.0030",
        "$1.50",
    ]


def test_prints_the_subtotal_each_tax_with_its_rate_and_the_total() -> None:
    runs = printed(detail_of())

    start = runs.index("Subtotal")
    assert runs[start : start + 8] == [
        "Subtotal",
        "$31.50",
        "GST (5%)",
        "$1.58",
        "QST (9.975%)",
        "$3.14",
        "Total (USD)",
        "$36.22",
    ]


def test_an_invoice_outside_canada_says_it_carries_no_sales_tax() -> None:
    runs = printed(detail_of(buyer="Acme Telecom LLC\nAustin, TX\nUS", taxes=[]))

    start = runs.index("Subtotal")
    assert runs[start : start + 6] == [
        "Subtotal",
        "$31.50",
        "Sales tax (buyer outside Canada)",
        "$0.00",
        "Total (USD)",
        "$31.50",
    ]


def test_a_paid_invoice_says_it_was_paid_from_the_prepaid_balance() -> None:
    runs = printed(detail_of(status=InvoiceStatus.PAID))

    assert runs[runs.index("Status") + 1] == "Paid"
    assert "Paid from the buyer's SIPSTACK prepaid balance." in runs
    assert not any(run.startswith("Due:") for run in runs)


def test_a_due_invoice_says_it_is_due_and_how_to_pay_it() -> None:
    data = invoice_pdf(detail_of(status=InvoiceStatus.DUE), time_zone=TORONTO)
    runs, text = pdf_runs(data), pdf_text(data)

    assert runs[runs.index("Status") + 1] == "Due"
    assert "Due: the prepaid balance did not cover this invoice." in text
    assert "Billing › Overview" in text
    assert "Paid from" not in text


# --- Names in any script ----------------------------------------------------------------------


def test_a_japanese_company_name_prints_as_written() -> None:
    data = invoice_pdf(
        detail_of(buyer="東京テレコム株式会社\n千代田区丸の内1-1\n東京都 100-0005\nJP"),
        time_zone=TORONTO,
    )

    runs = pdf_runs(data)
    start = runs.index("BILLED TO")
    assert runs[start + 1 : start + 4] == [
        "東京テレコム株式会社",
        "千代田区丸の内1-1",
        "東京都 100-0005",
    ]
    assert b"DroidSansFallback" in data  # the CJK glyphs came from the fallback font


def test_latin_greek_and_cyrillic_names_print_without_the_cjk_font() -> None:
    data = invoice_pdf(
        detail_of(buyer="Société Générale — Łódź Telekom\nΑθήνα Τηλεπικοινωνίες\nМосква Связь"),
        time_zone=TORONTO,
    )

    runs = pdf_runs(data)
    assert "Société Générale — Łódź Telekom" in runs
    assert "Αθήνα Τηλεπικοινωνίες" in runs
    assert "Москва Связь" in runs
    assert b"DroidSansFallback" not in data  # read and embedded only when needed


def test_characters_no_font_has_print_as_question_marks_and_controls_as_spaces() -> None:
    runs = printed(detail_of(buyer="नमस्ते Telecom\tLtd\x07\nMumbai"))

    assert "?????? Telecom Ltd " in runs
    assert "Mumbai" in runs


# --- Long invoices ----------------------------------------------------------------------------


def test_a_long_invoice_continues_on_the_next_page_with_its_headings_and_page_numbers() -> None:
    lines = [
        (f"Line {number:02d}: a long description of usage that wraps", 1, 10_000, 1)
        for number in range(1, 61)
    ]
    data = invoice_pdf(detail_of(lines=lines, taxes=[]), time_zone=TORONTO)

    runs = pdf_runs(data)
    pages = page_count(data)
    assert pages > 1
    assert [run for run in runs if run.startswith("Page ")] == [
        f"Page {number} of {pages}" for number in range(1, pages + 1)
    ]
    assert runs.count("Description") == pages  # the table's headings again on every page
    assert [run for run in runs if run.startswith("Line ")] == [line[0] for line in lines]
    assert runs[runs.index("Total (USD)") + 1] == "$0.60"


# --- Formats ----------------------------------------------------------------------------------


def test_the_file_name_pads_the_number_so_files_sort_in_order() -> None:
    assert invoice_file_name(123) == "SIPSTACK-invoice-000123.pdf"
    assert invoice_file_name(1_234_567) == "SIPSTACK-invoice-1234567.pdf"


def test_quantities_print_with_thousands_separators() -> None:
    assert format_quantity(1_234_567) == "1,234,567"


# --- An invoice the run issued ---------------------------------------------------------------


def test_an_invoice_issued_by_the_run_prints_what_the_run_recorded(engine: Engine) -> None:
    """Starter plan in Ontario, 1,000 Caller ID lookups beyond the allowance at $0.0030."""
    with db.write_session(engine) as session:
        organization = make_organization(session, name="Northwind", province="ON")
        organization.legal_name = "Northwind Inc."
        keep_details(session, organization)
        owner = make_user(session, organization=organization)
        change_subscription(
            session,
            organization,
            plan_code="starter",
            term_started_at=datetime(2026, 9, 1, tzinfo=TORONTO),
        )
        record_usage(
            session,
            organization.id,
            "2026-10",
            1_000,
            made_at=datetime(2026, 10, 15, tzinfo=UTC),
        )
    invoice_service.run_invoices(
        engine, period="2026-10", now=datetime(2026, 11, 1, 6, tzinfo=TORONTO)
    )
    with db.read_session(engine) as session:
        invoice_id = session.exec(
            select(Invoice.id).where(Invoice.organization_id == organization.id)
        ).one()
        detail = invoice_queries.invoice(session, actor_of(owner), invoice_id)

    runs = pdf_runs(invoice_pdf(detail, time_zone=TORONTO))

    assert runs[runs.index("Issue date") + 1] == "2026-11-01"
    assert runs[runs.index("Status") + 1] == "Due"  # nothing paid in: the balance went below 0
    start = runs.index("Starter plan, October 2026")
    assert runs[start : start + 8] == [
        "Starter plan, October 2026",
        "1",
        "$30.00",
        "$30.00",
        "Caller ID lookups beyond the allowance",
        "1,000",
        "$0.0030",
        "$3.00",
    ]
    start = runs.index("Subtotal")
    assert runs[start : start + 6] == [
        "Subtotal",
        "$33.00",
        "HST (13%)",
        "$4.29",
        "Total (USD)",
        "$37.29",
    ]
    assert "Northwind Inc." in runs  # the buyer's legal name, recorded when issued
