"""Every list of the portal, described once and read in SQL: filter, sort, count, page, export.

A page's list is a ``Listing``: a base SELECT already scoped to what the actor may see (its
FROM, joins and WHERE; its selected columns are replaced), the columns to show, the ways to
sort it and the filters a partner may apply. A ``ListQuery`` is what the partner chose. The
database does the filtering, sorting, counting and paging (docs/architecture.md, rule 9): a
page reads at most ``page_size`` rows, and an export reads the filtered rows in chunks. A later list
(invoices, payments, transactions…) is one more ``Listing``, not more code.

Paging is deterministic: the primary key is always the last sort, so rows that tie on the
chosen sort keep one order from page to page, on SQLite and PostgreSQL alike. Empty values
sort as larger than any other (PostgreSQL's own rule, asked of SQLite explicitly).

CSV exports neutralise spreadsheet formulas the way OWASP's "CSV Injection" page advises: a
text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
leading apostrophe, and every cell is quoted.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Column as SAColumn
from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from portal_core.errors import ValidationFailed
from portal_core.money import format_cents
from portal_core.rules.scoring import format_score

PAGE_SIZES: tuple[int, ...] = (10, 20, 50)
DEFAULT_PAGE_SIZE = 20
TEXT_FILTER_MAX_LENGTH = 200
EXPORT_CHUNK_ROWS = 1_000
_ROW_KEY = "row_key"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ColumnKind(StrEnum):
    """How a column's values are shown (the table widget) and written (CSV)."""

    TEXT = "text"
    DATETIME = "datetime"
    MONEY_CENTS = "money_cents"
    NUMBER = "number"
    STATUS = "status"
    SCORE = "score"  # milli-points (0–5000), shown as "d.ddd"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    expression: Any  # a column or SQL expression of the base select
    kind: ColumnKind = ColumnKind.TEXT
    help: str | None = None
    # Words for stored values (a status's code → its label), in the table and the CSV alike.
    labels: Mapping[str, str] | None = None
    # How a stored figure reads (micro-dollars as "$0.0030"), in the table and the CSV alike:
    # the value itself still sorts and filters in SQL.
    formatter: Callable[[Any], str] | None = None
    # False: written to the CSV export only, so that the export carries a whole record (to
    # edit and import back) while the table keeps to what fits a screen.
    in_table: bool = True

    def shown(self, value: Any) -> Any:
        if self.formatter is not None and value is not None:
            return self.formatter(value)
        if self.labels is not None and isinstance(value, str):
            return self.labels.get(value, value)
        return value


@dataclass(frozen=True)
class Sort:
    """A way to order the list. Rows that tie on ``expression`` are ordered by ``then`` (the
    newest first within a type, say), then by the primary key, in the same direction, so that
    one index (``expression``, ``then``…, key) can serve the whole ORDER BY."""

    key: str
    label: str
    expression: Any
    then: tuple[Any, ...] = ()


def created_sort(expression: Any) -> Sort:
    """The gear's "Date created" sort (docs/product.md, Pages › Billing: every list has it)."""
    return Sort("created", "Date created", expression)


def updated_sort(expression: Any) -> Sort:
    """The gear's "Last updated" sort."""
    return Sort("updated", "Last updated", expression)


@dataclass(frozen=True)
class TextFilter:
    """Case-insensitive "contains", matching when any of ``expressions`` contains the text."""

    key: str
    label: str
    expressions: tuple[Any, ...]
    placeholder: str = ""


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    condition: ColumnElement[bool]


def equal_choices(expression: Any, labels: Mapping[str, str]) -> tuple[Choice, ...]:
    """One choice per value of ``expression``: the common case of a status filter."""
    return tuple(Choice(value, label, expression == value) for value, label in labels.items())


@dataclass(frozen=True)
class ChoiceFilter:
    """One of a fixed set of choices; each choice brings its own SQL condition."""

    key: str
    label: str
    choices: tuple[Choice, ...]

    def choice(self, value: str) -> Choice | None:
        return next((choice for choice in self.choices if choice.value == value), None)


@dataclass(frozen=True)
class DateRange:
    """Whole days, both ends included; an open end is ``None``."""

    start: date | None = None
    end: date | None = None


@dataclass(frozen=True)
class DateRangeFilter:
    key: str
    label: str
    expression: Any


Filter = TextFilter | ChoiceFilter | DateRangeFilter
FilterValue = str | DateRange | None


@dataclass(frozen=True)
class Listing:
    """A list of rows a page shows; see the module docstring."""

    noun: str  # plural, lower case: "organizations"; used in messages and file names
    select: Select[Any]
    key: Any  # the primary key: the last sort of every query, and each row's identity
    columns: tuple[Column, ...]
    sorts: tuple[Sort, ...]
    default_sort: str
    default_descending: bool = True
    filters: tuple[Filter, ...] = ()
    # What the table says when there are no rows at all (no filter applied); ``None``: "There
    # are no <noun> yet."
    empty_message: str | None = None

    def __post_init__(self) -> None:
        column_keys = [column.key for column in self.columns]
        if len(set(column_keys)) != len(column_keys) or _ROW_KEY in column_keys:
            raise ValueError(f"{self.noun}: column keys must be unique and not {_ROW_KEY!r}")
        if len({sort.key for sort in self.sorts}) != len(self.sorts):
            raise ValueError(f"{self.noun}: sort keys must be unique")
        if len({filter_.key for filter_ in self.filters}) != len(self.filters):
            raise ValueError(f"{self.noun}: filter keys must be unique")
        if self.sort(self.default_sort) is None:
            raise ValueError(f"{self.noun}: the default sort {self.default_sort!r} is not a sort")

    def sort(self, key: str) -> Sort | None:
        return next((sort for sort in self.sorts if sort.key == key), None)

    def filter(self, key: str) -> Filter | None:
        return next((filter_ for filter_ in self.filters if filter_.key == key), None)


@dataclass(frozen=True)
class ListQuery:
    """What the partner chose: filters by key, a sort (``None``: the list's default), a page.

    ``time_zone`` decides where a date range's days begin and end, and how CSV writes times.
    """

    filters: Mapping[str, FilterValue] = field(default_factory=dict)
    sort: str | None = None
    descending: bool | None = None
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    time_zone: tzinfo = UTC
    # The sizes a page may be asked for: the pages offer ``PAGE_SIZES``; the REST API passes
    # its own, larger set, and what the pages offer stays as it is.
    page_sizes: tuple[int, ...] = PAGE_SIZES

    def fingerprint(self) -> str:
        """A short digest of the whole query: it changes whenever the rows shown would."""
        described = repr(
            (
                sorted(self.filters.items()),
                self.sort,
                self.descending,
                self.page,
                self.page_size,
                str(self.time_zone),
            )
        )
        return hashlib.sha256(described.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Page:
    """One page of a list. ``rows`` map column keys to values; ``keys`` are their identities."""

    rows: list[dict[str, Any]]
    keys: list[Any]
    total: int
    page: int
    page_size: int
    page_count: int

    @property
    def first_number(self) -> int:
        """The position of the first row shown, from 1 (0 when there are none)."""
        return (self.page - 1) * self.page_size + 1 if self.rows else 0

    @property
    def last_number(self) -> int:
        return self.first_number + len(self.rows) - 1 if self.rows else 0


@dataclass(frozen=True)
class _Plan:
    conditions: list[ColumnElement[bool]]
    order_by: list[ColumnElement[Any]]


def check(listing: Listing, query: ListQuery) -> None:
    """Refuse a query this listing cannot answer, with every problem's message at once."""
    _plan(listing, query)


def fetch_page(session: Session, listing: Listing, query: ListQuery) -> Page:
    """The rows of the page asked for (the last page when asked past the end) and the count."""
    total = int(session.execute(count_statement(listing, query)).scalar_one())
    page_count = max(1, math.ceil(total / query.page_size))
    page = min(query.page, page_count)
    statement = page_statement(listing, query, page)
    rows: list[dict[str, Any]] = []
    keys: list[Any] = []
    for row in session.execute(statement).mappings():
        keys.append(row[_ROW_KEY])
        rows.append({column.key: row[column.key] for column in listing.columns})
    return Page(
        rows=rows,
        keys=keys,
        total=total,
        page=page,
        page_size=query.page_size,
        page_count=page_count,
    )


def count_statement(listing: Listing, query: ListQuery) -> Select[Any]:
    """How many rows the query's filters keep: the SELECT ``fetch_page`` counts with."""
    plan = _plan(listing, query)
    counted = (
        listing.select.where(*plan.conditions)
        .with_only_columns(listing.key, maintain_column_froms=True)
        .order_by(None)
        .subquery()
    )
    return select(func.count()).select_from(counted)


def page_statement(listing: Listing, query: ListQuery, page: int) -> Select[Any]:
    """The SELECT of page ``page`` (from 1) of the query: filtered, sorted, one page."""
    plan = _plan(listing, query)
    return (
        _with_columns(listing, listing.select.where(*plan.conditions))
        .order_by(*plan.order_by)
        .limit(query.page_size)
        .offset((page - 1) * query.page_size)
    )


def export_csv(session: Session, listing: Listing, query: ListQuery) -> bytes:
    """Every filtered row (not only the page) in the chosen order, as CSV for a spreadsheet.

    UTF-8 with a byte-order mark, so that Excel reads accented names (Québec) correctly.
    """
    return b"".join(csv_chunks(session, listing, query))


def csv_chunks(session: Session, listing: Listing, query: ListQuery) -> Iterator[bytes]:
    """``export_csv`` a chunk of rows at a time, for an answer that streams it: however many
    rows the filters keep, only ``EXPORT_CHUNK_ROWS`` of them are in memory at once. The
    query is checked before the first chunk."""
    plan = _plan(listing, query)
    return _csv_chunks(session, listing, query, plan)


def _csv_chunks(
    session: Session, listing: Listing, query: ListQuery, plan: _Plan
) -> Iterator[bytes]:
    statement = _with_columns(listing, listing.select.where(*plan.conditions)).order_by(
        *plan.order_by
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    buffer.write("\ufeff")
    writer.writerow([neutralize_formula(column.label) for column in listing.columns])
    result = session.execute(statement, execution_options={"yield_per": EXPORT_CHUNK_ROWS})
    for chunk in result.mappings().partitions():
        writer.writerows(
            [_csv_cell(column, row[column.key], query.time_zone) for column in listing.columns]
            for row in chunk
        )
        yield _drained(buffer)
    yield _drained(buffer)


def _drained(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode("utf-8")


def neutralize_formula(text: str) -> str:
    """Make a spreadsheet read ``text`` as text, never as a formula (OWASP, CSV Injection)."""
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def csv_file_name(listing: Listing, today: date) -> str:
    return f"{listing.noun.replace(' ', '-')}-{today.isoformat()}.csv"


# --- Validation and SQL ---------------------------------------------------------------------


def _plan(listing: Listing, query: ListQuery) -> _Plan:
    errors: dict[str, str] = {}
    if query.page_size not in query.page_sizes:
        errors["page_size"] = (
            f"Show {_listed(str(size) for size in query.page_sizes)} rows per page, "
            f"not {query.page_size}."
        )
    if query.page < 1:
        errors["page"] = "Pages are numbered from 1."
    sort = listing.sort(query.sort if query.sort is not None else listing.default_sort)
    if sort is None:
        errors["sort"] = (
            f"{listing.noun.capitalize()} cannot be sorted by “{query.sort}”: sort by "
            f"{_listed(sort.label.lower() for sort in listing.sorts)}."
        )
    conditions: list[ColumnElement[bool]] = []
    for key, value in query.filters.items():
        filter_ = listing.filter(key)
        if filter_ is None:
            errors[key] = f"{listing.noun.capitalize()} have no filter called “{key}”."
            continue
        try:
            condition = _condition(filter_, value, query.time_zone)
        except ValueError as problem:
            errors[key] = str(problem)
            continue
        if condition is not None:
            conditions.append(condition)
    if errors or sort is None:
        raise ValidationFailed(errors)
    descending = listing.default_descending if query.descending is None else query.descending
    keys = (sort.expression, *sort.then, listing.key)
    return _Plan(conditions=conditions, order_by=[_ordered(key, descending) for key in keys])


def _condition(filter_: Filter, value: FilterValue, zone: tzinfo) -> ColumnElement[bool] | None:
    """The filter's SQL condition for ``value``; ``None`` when the value asks for nothing."""
    if value is None:
        return None
    if isinstance(filter_, TextFilter):
        if not isinstance(value, str):
            raise ValueError(f"{filter_.label} takes text.")
        text = value.strip()
        if not text:
            return None
        if len(text) > TEXT_FILTER_MAX_LENGTH:
            raise ValueError(
                f"{filter_.label}: search for at most {TEXT_FILTER_MAX_LENGTH} characters."
            )
        # icontains is lower(x) LIKE lower(:text) on both databases; autoescape makes a typed
        # % or _ match itself instead of acting as a wildcard.
        return or_(
            *(expression.icontains(text, autoescape=True) for expression in filter_.expressions)
        )
    if isinstance(filter_, ChoiceFilter):
        if not isinstance(value, str):
            raise ValueError(f"{filter_.label} takes one of its choices.")
        if value == "":
            return None
        choice = filter_.choice(value)
        if choice is None:
            raise ValueError(
                f"“{value}” is not a choice of {filter_.label}: choose "
                f"{_listed(choice.label for choice in filter_.choices)}."
            )
        return choice.condition
    if not isinstance(value, DateRange):
        raise ValueError(f"{filter_.label} takes a range of dates.")
    if value.start is not None and value.end is not None and value.end < value.start:
        raise ValueError(
            f"{filter_.label} ends before it starts: choose an end date on or after "
            f"{value.start.isoformat()}."
        )
    bounds: list[ColumnElement[bool]] = []
    if value.start is not None:
        bounds.append(filter_.expression >= _start_of(value.start, zone))
    if value.end is not None:
        bounds.append(filter_.expression < _start_of(value.end + timedelta(days=1), zone))
    return and_(*bounds) if bounds else None


def _start_of(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def _ordered(expression: Any, descending: bool) -> ColumnElement[Any]:
    ordered = expression.desc() if descending else expression.asc()
    if not _may_be_null(expression):
        return ordered  # left bare so that an index on the column serves the ORDER BY
    return ordered.nulls_first() if descending else ordered.nulls_last()


def _may_be_null(expression: Any) -> bool:
    element = getattr(expression, "expression", expression)
    return not (isinstance(element, SAColumn) and not element.nullable)


def _with_columns(listing: Listing, statement: Select[Any]) -> Select[Any]:
    return statement.with_only_columns(
        *(column.expression.label(column.key) for column in listing.columns),
        listing.key.label(_ROW_KEY),
        maintain_column_froms=True,
    )


def _csv_cell(column: Column, value: Any, zone: tzinfo) -> str:
    if value is None:
        return ""
    if column.kind is ColumnKind.DATETIME and isinstance(value, datetime):
        return value.astimezone(zone).isoformat(sep=" ", timespec="seconds")
    if column.kind is ColumnKind.MONEY_CENTS and isinstance(value, int | Decimal):
        return format_cents(int(value))
    if column.kind is ColumnKind.SCORE and isinstance(value, int | Decimal):
        return format_score(int(value))
    if column.formatter is not None:
        return neutralize_formula(str(column.shown(value)))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | Decimal | float):
        return str(value)  # written by us from a number: a leading minus is a sign, not a formula
    return neutralize_formula(str(column.shown(value)))


def _listed(items: Sequence[str] | Any) -> str:
    words = list(items)
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} or {words[-1]}"
