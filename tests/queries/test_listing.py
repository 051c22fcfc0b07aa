"""The list machinery every table uses: filters, sorts, paging, counting and CSV, in SQL.

A ledger-entries list stands in for the Billing lists to come (text, choice and date-range
filters; sorts by date, amount and memo); every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from portal_core import db
from portal_core.errors import ValidationFailed
from portal_core.models.billing import EntryKind, LedgerEntry
from portal_core.queries import listing
from portal_core.queries.listing import (
    ChoiceFilter,
    Column,
    ColumnKind,
    DateRange,
    DateRangeFilter,
    Listing,
    ListQuery,
    Sort,
    TextFilter,
    created_sort,
    equal_choices,
    export_csv,
    fetch_page,
)
from tests.factories import make_organization

NOON = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def entries_of(organization_id: uuid.UUID) -> Listing:
    return Listing(
        noun="ledger entries",
        select=select(col(LedgerEntry.id))
        .select_from(LedgerEntry)
        .where(col(LedgerEntry.organization_id) == organization_id),
        key=col(LedgerEntry.id),
        columns=(
            Column("memo", "Memo", col(LedgerEntry.memo)),
            Column("kind", "Type", col(LedgerEntry.kind), ColumnKind.STATUS),
            Column("amount", "Amount", col(LedgerEntry.amount_cents), ColumnKind.MONEY_CENTS),
            Column("created_at", "Created", col(LedgerEntry.created_at), ColumnKind.DATETIME),
        ),
        sorts=(
            created_sort(col(LedgerEntry.created_at)),
            Sort("amount", "Amount", col(LedgerEntry.amount_cents)),
            Sort("memo", "Memo", col(LedgerEntry.memo)),
        ),
        default_sort="created",
        filters=(
            TextFilter("memo", "Memo", (col(LedgerEntry.memo),)),
            ChoiceFilter(
                "kind",
                "Type",
                equal_choices(col(LedgerEntry.kind), {"payment": "Payment", "invoice": "Invoice"}),
            ),
            DateRangeFilter("created", "Created", col(LedgerEntry.created_at)),
        ),
    )


class Ledger:
    """An organization (and a second one, whose entries must never show) with entries."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with db.write_session(engine) as session:
            self.organization_id = make_organization(session).id
            self.other_id = make_organization(session).id
        self.listing = entries_of(self.organization_id)

    def add(
        self,
        memo: str,
        *,
        amount: int = 1_000,
        kind: EntryKind = EntryKind.PAYMENT,
        at: datetime = NOON,
        other: bool = False,
    ) -> uuid.UUID:
        entry = LedgerEntry(
            organization_id=self.other_id if other else self.organization_id,
            kind=kind,
            amount_cents=amount,
            balance_after_cents=amount,  # not a column of this list
            idempotency_key=f"test-{uuid.uuid4()}",
            memo=memo,
            created_at=at,
        )
        with db.write_session(self.engine) as session:
            session.add(entry)
        return entry.id

    def page(self, query: ListQuery) -> listing.Page:
        with db.read_session(self.engine) as session:
            return fetch_page(session, self.listing, query)

    def memos(self, query: ListQuery) -> list[str]:
        return [row["memo"] for row in self.page(query).rows]

    def csv_rows(self, query: ListQuery) -> list[list[str]]:
        with db.read_session(self.engine) as session:
            data = export_csv(session, self.listing, query)
        assert data.startswith("\ufeff".encode())
        return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


@pytest.fixture
def ledger(engine: Engine) -> Ledger:
    return Ledger(engine)


# --- Filters -------------------------------------------------------------------------------


def test_text_filter_finds_text_anywhere_in_any_case(ledger: Ledger) -> None:
    ledger.add("Card payment VISA 4242")
    ledger.add("refund to card")
    ledger.add("Invoice 2025-02")
    ledger.add("card payment of another organization", other=True)

    memos = ledger.memos(ListQuery(filters={"memo": "CARD"}, sort="memo", descending=False))

    assert memos == ["Card payment VISA 4242", "refund to card"]


def test_text_filter_treats_percent_and_underscore_as_plain_characters(ledger: Ledger) -> None:
    ledger.add("discount 10% off")
    ledger.add("discount 100 off")
    ledger.add("code A_B")
    ledger.add("code AXB")

    assert ledger.memos(ListQuery(filters={"memo": "10%"})) == ["discount 10% off"]
    assert ledger.memos(ListQuery(filters={"memo": "a_b"})) == ["code A_B"]


def test_blank_filters_filter_nothing(ledger: Ledger) -> None:
    ledger.add("one")
    ledger.add("two", kind=EntryKind.INVOICE)

    page = ledger.page(ListQuery(filters={"memo": "   ", "kind": "", "created": None}))

    assert page.total == 2


def test_choice_filter_keeps_only_the_chosen_kind(ledger: Ledger) -> None:
    ledger.add("paid", kind=EntryKind.PAYMENT)
    ledger.add("invoiced", kind=EntryKind.INVOICE)

    assert ledger.memos(ListQuery(filters={"kind": "invoice"})) == ["invoiced"]


def test_date_range_includes_both_whole_days(ledger: Ledger) -> None:
    ledger.add("before", at=datetime(2025, 3, 9, 23, 59, 59, tzinfo=UTC))
    ledger.add("first moment", at=datetime(2025, 3, 10, 0, 0, tzinfo=UTC))
    ledger.add("last moment", at=datetime(2025, 3, 11, 23, 59, 59, tzinfo=UTC))
    ledger.add("after", at=datetime(2025, 3, 12, 0, 0, tzinfo=UTC))

    memos = ledger.memos(
        ListQuery(
            filters={"created": DateRange(date(2025, 3, 10), date(2025, 3, 11))},
            descending=False,
        )
    )

    assert memos == ["first moment", "last moment"]


def test_date_range_with_one_end_open(ledger: Ledger) -> None:
    ledger.add("old", at=datetime(2025, 1, 1, 12, tzinfo=UTC))
    ledger.add("new", at=datetime(2025, 6, 1, 12, tzinfo=UTC))

    assert ledger.memos(ListQuery(filters={"created": DateRange(start=date(2025, 3, 1))})) == [
        "new"
    ]
    assert ledger.memos(ListQuery(filters={"created": DateRange(end=date(2025, 3, 1))})) == ["old"]


def test_date_range_days_are_the_days_of_the_chosen_time_zone(ledger: Ledger) -> None:
    # 03:00 UTC on March 10 is still March 9 in Toronto (UTC−4 after March 9, 2025).
    ledger.add("late evening in Toronto", at=datetime(2025, 3, 10, 3, 0, tzinfo=UTC))
    march_10 = {"created": DateRange(date(2025, 3, 10), date(2025, 3, 10))}

    in_utc = ledger.memos(ListQuery(filters=march_10))
    in_toronto = ledger.memos(ListQuery(filters=march_10, time_zone=ZoneInfo("America/Toronto")))

    assert in_utc == ["late evening in Toronto"]
    assert in_toronto == []


def test_filters_combine(ledger: Ledger) -> None:
    ledger.add("card payment", kind=EntryKind.PAYMENT)
    ledger.add("card invoice", kind=EntryKind.INVOICE)
    ledger.add("wire payment", kind=EntryKind.PAYMENT)

    assert ledger.memos(ListQuery(filters={"memo": "card", "kind": "payment"})) == ["card payment"]


# --- Sorting and paging --------------------------------------------------------------------


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
@pytest.mark.parametrize("sort", ["created", "amount", "memo"])
def test_each_sort_orders_both_ways(ledger: Ledger, sort: str, descending: bool) -> None:
    rows = [("b", 300, 2), ("d", -500, 0), ("a", 100, 3), ("c", 200, 1)]
    for memo, amount, hours in rows:
        ledger.add(memo, amount=amount, at=NOON + timedelta(hours=hours))
    position = {"memo": 0, "amount": 1, "created": 2}[sort]
    expected = [row[0] for row in sorted(rows, key=lambda row: row[position], reverse=descending)]

    assert ledger.memos(ListQuery(sort=sort, descending=descending)) == expected


def test_default_sort_is_the_lists_own_newest_first(ledger: Ledger) -> None:
    ledger.add("older", at=NOON)
    ledger.add("newer", at=NOON + timedelta(minutes=1))

    assert ledger.memos(ListQuery()) == ["newer", "older"]


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
def test_paging_through_ties_shows_every_row_once_in_primary_key_order(
    ledger: Ledger, descending: bool
) -> None:
    ids = [ledger.add(f"entry {number}", at=NOON) for number in range(25)]

    pages = [
        ledger.page(ListQuery(page=number, page_size=10, descending=descending))
        for number in (1, 2, 3)
    ]

    shown = [key for page in pages for key in page.keys]
    assert shown == sorted(ids, key=lambda key: key.hex, reverse=descending)
    assert [len(page.rows) for page in pages] == [10, 10, 5]
    assert all(page.total == 25 and page.page_count == 3 for page in pages)
    assert (pages[2].first_number, pages[2].last_number) == (21, 25)


def test_a_page_past_the_end_is_the_last_page(ledger: Ledger) -> None:
    for number in range(12):
        ledger.add(f"entry {number}", at=NOON + timedelta(minutes=number))

    page = ledger.page(ListQuery(page=9, page_size=10, descending=False))

    assert page.page == 2
    assert [row["memo"] for row in page.rows] == ["entry 10", "entry 11"]


def test_count_is_of_the_filtered_rows_not_of_the_page(ledger: Ledger) -> None:
    for number in range(23):
        ledger.add(f"card {number}")
    for number in range(4):
        ledger.add(f"wire {number}")

    page = ledger.page(ListQuery(filters={"memo": "card"}, page_size=10))

    assert (page.total, page.page_count, len(page.rows)) == (23, 3, 10)


def test_an_empty_list_is_one_empty_page(ledger: Ledger) -> None:
    ledger.add("someone else's", other=True)

    page = ledger.page(ListQuery())

    assert (page.rows, page.total, page.page, page.page_count) == ([], 0, 1, 1)
    assert (page.first_number, page.last_number) == (0, 0)


def test_rows_carry_each_columns_value(ledger: Ledger) -> None:
    key = ledger.add("paid", amount=12_345, kind=EntryKind.PAYMENT, at=NOON)

    page = ledger.page(ListQuery())

    assert page.keys == [key]
    assert page.rows == [{"memo": "paid", "kind": "payment", "amount": 12_345, "created_at": NOON}]


# --- CSV -----------------------------------------------------------------------------------


def test_csv_has_every_filtered_row_in_the_chosen_order_read_in_chunks(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listing, "EXPORT_CHUNK_ROWS", 7)
    for number in range(25):
        ledger.add(f"card {number:02d}", amount=number * 100, at=NOON + timedelta(minutes=number))
    ledger.add("wire")

    rows = ledger.csv_rows(
        ListQuery(filters={"memo": "card"}, sort="amount", descending=True, page=2, page_size=10)
    )

    assert rows[0] == ["Memo", "Type", "Amount", "Created"]
    assert [row[0] for row in rows[1:]] == [f"card {number:02d}" for number in range(24, -1, -1)]
    assert rows[1] == ["card 24", "payment", "$24.00", "2025-03-10 12:24:00+00:00"]


def test_csv_streams_in_chunks_that_join_into_the_export(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listing, "EXPORT_CHUNK_ROWS", 4)
    for number in range(10):
        ledger.add(f"card {number}", at=NOON + timedelta(minutes=number))
    with db.read_session(ledger.engine) as session:
        chunks = list(listing.csv_chunks(session, ledger.listing, ListQuery()))
        whole = export_csv(session, ledger.listing, ListQuery())
    assert len(chunks) >= 3  # 4 + 4 + 2 rows, each chunk written as it is read
    assert b"".join(chunks) == whole
    assert whole.decode("utf-8-sig").count("card ") == 10


def test_csv_writes_money_through_money_formatting_and_times_in_the_time_zone(
    ledger: Ledger,
) -> None:
    ledger.add("refund", amount=-300_00, at=NOON)
    ledger.add("big", amount=1_234_567, at=NOON + timedelta(hours=1))

    rows = ledger.csv_rows(ListQuery(descending=False, time_zone=ZoneInfo("America/Toronto")))

    assert rows[1][2:] == ["−$300.00", "2025-03-10 08:00:00-04:00"]
    assert rows[2][2:] == ["$12,345.67", "2025-03-10 09:00:00-04:00"]


def test_csv_neutralises_spreadsheet_formulas(ledger: Ledger) -> None:
    dangerous = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR"]
    for index, memo in enumerate([*dangerous, "plain, with a comma"]):
        ledger.add(memo, at=NOON + timedelta(minutes=index))

    rows = ledger.csv_rows(ListQuery(descending=False))

    assert [row[0] for row in rows[1:]] == [
        *(f"'{memo}" for memo in dangerous),
        "plain, with a comma",
    ]


def test_csv_of_an_empty_list_is_its_header(ledger: Ledger) -> None:
    assert ledger.csv_rows(ListQuery(filters={"memo": "nothing"})) == [
        ["Memo", "Type", "Amount", "Created"]
    ]


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralize_formula(text: str, written: str) -> None:
    assert listing.neutralize_formula(text) == written


# --- Bad input -----------------------------------------------------------------------------


def refusal(ledger: Ledger, query: ListQuery) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as refused:
        ledger.page(query)
    with db.read_session(ledger.engine) as session, pytest.raises(ValidationFailed):
        export_csv(session, ledger.listing, query)
    return refused.value.errors


def test_unknown_sort_is_refused_naming_the_sorts(ledger: Ledger) -> None:
    assert refusal(ledger, ListQuery(sort="colour")) == {
        "sort": "Ledger entries cannot be sorted by “colour”: sort by date created, amount or memo."
    }


@pytest.mark.parametrize("size", [0, 5, 25, 100])
def test_page_size_other_than_10_20_50_is_refused(ledger: Ledger, size: int) -> None:
    assert refusal(ledger, ListQuery(page_size=size)) == {
        "page_size": f"Show 10, 20 or 50 rows per page, not {size}."
    }


def test_a_query_may_allow_other_sizes_without_changing_what_pages_offer(ledger: Ledger) -> None:
    for number in range(120):
        ledger.add(f"entry {number:03d}", at=NOON + timedelta(seconds=number))
    api_sizes = (*listing.PAGE_SIZES, 100)
    page = ledger.page(ListQuery(page_size=100, page_sizes=api_sizes))
    assert (len(page.rows), page.total, page.page_count) == (100, 120, 2)
    assert refusal(ledger, ListQuery(page_size=25, page_sizes=api_sizes)) == {
        "page_size": "Show 10, 20, 50 or 100 rows per page, not 25."
    }
    assert listing.PAGE_SIZES == (10, 20, 50)


@pytest.mark.parametrize("number", [0, -1])
def test_page_below_one_is_refused(ledger: Ledger, number: int) -> None:
    assert refusal(ledger, ListQuery(page=number)) == {"page": "Pages are numbered from 1."}


def test_date_range_ending_before_it_starts_is_refused(ledger: Ledger) -> None:
    backwards = DateRange(date(2025, 3, 10), date(2025, 3, 9))

    assert refusal(ledger, ListQuery(filters={"created": backwards})) == {
        "created": "Created ends before it starts: choose an end date on or after 2025-03-10."
    }


def test_unknown_choice_and_unknown_filter_are_refused(ledger: Ledger) -> None:
    assert refusal(ledger, ListQuery(filters={"kind": "gift", "colour": "red"})) == {
        "kind": "“gift” is not a choice of Type: choose Payment or Invoice.",
        "colour": "Ledger entries have no filter called “colour”.",
    }


def test_over_long_search_is_refused(ledger: Ledger) -> None:
    assert refusal(ledger, ListQuery(filters={"memo": "x" * 201})) == {
        "memo": "Memo: search for at most 200 characters."
    }


def test_every_problem_is_reported_at_once(ledger: Ledger) -> None:
    assert set(refusal(ledger, ListQuery(sort="colour", page=0, page_size=7))) == {
        "sort",
        "page",
        "page_size",
    }


def test_a_listing_whose_default_sort_is_not_one_of_its_sorts_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="default sort"):
        Listing(
            noun="things",
            select=select(col(LedgerEntry.id)),
            key=col(LedgerEntry.id),
            columns=(),
            sorts=(created_sort(col(LedgerEntry.created_at)),),
            default_sort="updated",
        )
