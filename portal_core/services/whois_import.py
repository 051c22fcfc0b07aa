"""Whois Profiles imported from a CSV file, with a report of every row
(docs/product.md, Whois Profiles).

A partner fills the template (``TEMPLATE_COLUMNS``: the form's fields by their names) or edits
the table's own CSV export, whose column labels ("Caller name", "Line type", "Private"…) are
read as well; columns the import does not know (the export's score, status…) are ignored
and named in the report. Cells are read the way the export writes them: the apostrophe that
keeps a spreadsheet from reading ``+1416…`` as a formula is dropped, a line type or a call
purpose is its value or its label in any case, ``private`` is yes/no/true/false/1/0 (empty:
no), social links are separated by spaces, ``|`` or line breaks within their cell.

Each row is checked by ``whois.clean`` exactly as the form is, the number read with the
organization's country as the default region. A number the organization already has is
updated (a column the file does not have keeps the profile's value; an empty cell empties
it); a new one is registered, or waits as disputed when another organization holds it. A
number that appears twice is taken from its first row; the later rows are refused.

The whole import is one unit of work: a refused row is reported and the others go on, but
anything unexpected rolls every row back, so a file is never half-imported. A file that
cannot be read at all (not UTF-8, no ``number`` column, too large) is refused before
anything is written. The carrier score is refreshed once, after the last row: refreshed per
row, it would rescore every number of the organization for each row.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

import pycountry
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from portal_core import db
from portal_core.errors import PortalError, ValidationFailed
from portal_core.models.base import utcnow
from portal_core.models.products import (
    CallPurpose,
    EventAction,
    EventProduct,
    EventStatus,
    WhoisProfile,
)
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.queries import whois as whois_queries
from portal_core.queries.listing import neutralize_formula
from portal_core.rules import profiles
from portal_core.rules.numbers import PROFILE_LINE_TYPES, NotAPhoneNumber, parse_number, shown
from portal_core.services import audit, carrier_scores, product_events, whois
from portal_core.services.whois import ProfileForm

TEMPLATE_COLUMNS: tuple[str, ...] = (
    "number",
    "caller_name",
    "business_name",
    "line_type",
    "call_purpose",
    "address_line",
    "city",
    "province",
    "postal_code",
    "country",
    "website",
    "email",
    "description",
    "social_links",
    "monthly_call_volume",
    "private",
)
_TEMPLATE_EXAMPLE: tuple[str, ...] = (
    "+1 416 967 1111",
    "Acme Support",
    "Acme Widgets Ltd.",
    "Fixed line",
    "Customer service",
    "1 King Street West",
    "Toronto",
    "ON",
    "M5H 1A1",
    "CA",
    "https://acme.example.com",
    "calls@acme.example.com",
    "Our customer service line.",
    "https://social.example.com/acme | https://video.example.com/acme",
    "12000",
    "no",
)
# A file of at most this many rows and bytes is imported in one unit of work, which holds
# the database's write lock while it runs: larger files are split by the partner.
MAX_ROWS = 10_000
MAX_BYTES = 5 * 1024 * 1024
PROGRESS_EVERY = 100

_FORM_FIELDS: tuple[str, ...] = tuple(field.name for field in fields(ProfileForm))
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0", ""}
_LINK_SEPARATORS = re.compile(r"[\s|]+")
_BOMS = (b"\xff\xfe", b"\xfe\xff")  # UTF-16 (and UTF-32 LE, which starts the same way)

Progress = Callable[[int, int], None]


class Outcome(StrEnum):
    ADDED = "added"
    UPDATED = "updated"
    DISPUTED = "disputed"
    REFUSED = "refused"


class FileRefused(PortalError):
    """A file the import cannot read at all; nothing of it is written."""

    title = "File refused"


@dataclass(frozen=True)
class RowReport:
    # As a spreadsheet numbers it: the header is row 1, the first profile row 2.
    row_number: int
    number: str  # E.164 when the number could be read, else as typed
    outcome: Outcome
    message: str


@dataclass(frozen=True)
class ImportReport:
    rows: tuple[RowReport, ...]
    # The file's columns that say nothing the import reads (the export's score, status…).
    ignored_columns: tuple[str, ...] = ()

    def count(self, outcome: Outcome) -> int:
        return sum(1 for row in self.rows if row.outcome is outcome)

    @property
    def added(self) -> int:
        return self.count(Outcome.ADDED)

    @property
    def updated(self) -> int:
        return self.count(Outcome.UPDATED)

    @property
    def disputed(self) -> int:
        return self.count(Outcome.DISPUTED)

    @property
    def refused(self) -> int:
        return self.count(Outcome.REFUSED)

    @property
    def refused_rows(self) -> tuple[RowReport, ...]:
        return tuple(row for row in self.rows if row.outcome is Outcome.REFUSED)

    def summary(self) -> str:
        return (
            f"{self.added:,} added, {self.updated:,} updated, {self.disputed:,} disputed, "
            f"{self.refused:,} refused"
        )

    def report_csv(self) -> bytes:
        """Every row's outcome, for a spreadsheet (UTF-8 with a byte-order mark, formulas
        neutralised, numbers in international form, as the portal's exports are)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
        writer.writerow(["row", "number", "outcome", "message"])
        writer.writerows(
            [
                str(row.row_number),
                neutralize_formula(shown(row.number)),
                row.outcome.value,
                neutralize_formula(row.message),
            ]
            for row in self.rows
        )
        return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def template_csv() -> bytes:
    """The file a partner fills: the header and one example row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(TEMPLATE_COLUMNS)
    writer.writerow(_TEMPLATE_EXAMPLE)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def import_profiles(
    engine: Engine,
    actor: Actor,
    data: bytes,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import the CSV file ``data`` in one unit of work and say what became of each row.
    ``progress(done, total)`` is told every ``PROGRESS_EVERY`` rows and at the end."""
    require(actor, Capability.WHOIS_WRITE)
    organization_id = require_organization(actor)
    now = now or utcnow()
    table = _read(data, _headings(actor))
    total = len(table.rows)
    reports: list[RowReport] = []
    with db.write_session(engine) as session:
        region = whois.default_region(session, organization_id)
        existing = {
            profile.number: profile
            for profile in session.exec(
                select(WhoisProfile).where(col(WhoisProfile.organization_id) == organization_id)
            )
        }
        first_rows: dict[str, int] = {}
        for done, (row_number, cells) in enumerate(table.rows, start=1):
            reports.append(
                _import_row(
                    session,
                    actor,
                    row_number,
                    table.typed(cells),
                    region=region,
                    existing=existing,
                    first_rows=first_rows,
                    now=now,
                )
            )
            if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
                progress(done, total)
        report = ImportReport(rows=tuple(reports), ignored_columns=table.ignored)
        connection = session.connection()
        if report.added or report.updated or report.disputed:
            carrier_scores.refresh(connection, organization_id, now=now)
        product_events.record(
            connection,
            product_events.Event(
                organization_id=organization_id,
                user_id=actor.user_id,
                api_token_id=actor.api_token_id,
                product=EventProduct.WHOIS,
                action=EventAction.IMPORT,
                result=f"Import of {total:,} rows: {report.summary()}",
                status=EventStatus.REFUSED if report.refused == total else EventStatus.OK,
            ),
            now=now,
        )
        audit.record(
            session,
            "whois.imported",
            actor=actor,
            detail=f"{total:,} rows: {report.summary()}",
        )
    return report


def _import_row(
    session: Session,
    actor: Actor,
    row_number: int,
    typed: Mapping[str, str],
    *,
    region: str | None,
    existing: Mapping[str, WhoisProfile],
    first_rows: dict[str, int],
    now: datetime,
) -> RowReport:
    typed_number = typed.get("number", "").strip()
    values, problems = _checked({}, typed, region)
    # The number a row claims, even when the row is refused for another field: "first row
    # wins" holds whatever else is wrong with it. Read again only when ``clean`` refused it.
    number = values["number"] if values else _e164(typed_number, region)
    shown = number or typed_number
    if number is not None:
        first = first_rows.setdefault(number, row_number)
        if first != row_number:
            return RowReport(row_number, shown, Outcome.REFUSED, f"Duplicate of row {first}.")
    profile = existing.get(number) if number is not None else None
    if profile is not None and set(typed) != set(_FORM_FIELDS):
        # The columns the file leaves out keep the profile's values.
        values, problems = _checked(_form_values(ProfileForm.of(profile)), typed, region)
    if values is None:
        return RowReport(row_number, shown, Outcome.REFUSED, "; ".join(problems))
    try:
        # A refusal by the save itself takes back only this row's writes.
        with session.begin_nested():
            if profile is not None:
                whois.save_update(session, actor, profile, values, now=now, refresh_carrier=False)
                return RowReport(row_number, shown, Outcome.UPDATED, "Updated.")
            registered = whois.save_registration(
                session, actor, values, now=now, refresh_carrier=False
            )
    except PortalError as refused:
        return RowReport(row_number, shown, Outcome.REFUSED, refused.message)
    if registered.disputed:
        return RowReport(
            row_number,
            shown,
            Outcome.DISPUTED,
            "Another organization holds this number: the profile waits, pending, until its "
            "ownership is decided.",
        )
    return RowReport(row_number, shown, Outcome.ADDED, "Registered.")


def _checked(
    start: Mapping[str, Any], typed: Mapping[str, str], region: str | None
) -> tuple[dict[str, Any] | None, list[str]]:
    """The stored values of a row over ``start`` (None when refused), and its problems."""
    form, problems = _form(start, typed)
    try:
        values = whois.clean(form, default_region=region)
    except ValidationFailed as refused:
        return None, [*refused.errors.values(), *problems]
    return (None if problems else values), problems


def _e164(typed: str, region: str | None) -> str | None:
    try:
        return parse_number(typed, default_region=region).e164
    except NotAPhoneNumber:
        return None


def _form_values(form: ProfileForm) -> dict[str, Any]:
    return {name: getattr(form, name) for name in _FORM_FIELDS}


def _form(start: Mapping[str, Any], typed: Mapping[str, str]) -> tuple[ProfileForm, list[str]]:
    """The form a row fills (over ``start``, a stored profile's values) and the problems
    ``clean`` cannot see: a ``private`` cell that says neither yes nor no."""
    values: dict[str, Any] = dict(start)
    problems: list[str] = []
    for key, cell in typed.items():
        if key == "private":
            answer = cell.strip().lower()
            if answer in _YES | _NO:
                values[key] = answer in _YES
            else:
                problems.append(f"General › Private caller: write yes or no, not “{cell}”.")
        elif key == "line_type":
            values[key] = _LINE_TYPES.get(_word(cell), cell)
        elif key == "call_purpose":
            values[key] = _PURPOSES.get(_word(cell), cell)
        elif key == "country":
            values[key] = _country(cell)
        elif key == "social_links":
            values[key] = "\n".join(link for link in _LINK_SEPARATORS.split(cell) if link)
        else:
            values[key] = cell
    return ProfileForm(**values), problems


def _word(text: str) -> str:
    """A choice as a partner may write it: "Toll-free", "toll_free" and "TOLL FREE" alike."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


_LINE_TYPES = {
    _word(text): line_type.value
    for line_type in PROFILE_LINE_TYPES
    for text in (line_type.value, line_type.label)
}
_PURPOSES = {
    _word(text): purpose.value for purpose in CallPurpose for text in (purpose.value, purpose.label)
}


def _country(cell: str) -> str:
    """A country's two-letter code, also from its three-letter code or its English name;
    anything else is left for ``clean`` to refuse."""
    text = cell.strip()
    if len(text) <= 2:
        return text
    try:
        return str(pycountry.countries.lookup(text).alpha_2)
    except LookupError:
        return text


# --- Reading the file -------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    columns: Mapping[str, int]  # a form field → the index of its cell
    ignored: tuple[str, ...]
    rows: list[tuple[int, list[str]]]  # (row number, cells)

    def typed(self, cells: list[str]) -> dict[str, str]:
        return {
            key: _unneutralized(cells[index]) if index < len(cells) else ""
            for key, index in self.columns.items()
        }


def _headings(actor: Actor) -> dict[str, str]:
    """Every heading the import reads, simplified (``_word``), to its form field: the
    template's names, the form's labels, and the table's CSV labels."""
    headings = {_word(name): name for name in _FORM_FIELDS}
    headings.update({_word(field.label): field.key for field in profiles.FIELDS})
    headings[_word("Private caller")] = "private"
    for column in whois_queries.profiles_listing(actor).columns:
        if column.key in _FORM_FIELDS:
            headings[_word(column.label)] = column.key
    return headings


def _read(data: bytes, headings: Mapping[str, str]) -> _Table:
    if len(data) > MAX_BYTES:
        raise FileRefused(
            f"The file is {len(data) / 1024 / 1024:.1f} MB: import at most "
            f"{MAX_BYTES // 1024 // 1024} MB at a time (split it into smaller files)."
        )
    if data.startswith(_BOMS):
        raise FileRefused(_NOT_UTF8)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileRefused(_NOT_UTF8) from None
    if not text.strip():
        raise FileRefused("The file is empty: download the template to see what it holds.")
    first_line = text.lstrip().split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    index = 0  # records read: a spreadsheet's row number, one per record
    while True:
        starts_on = reader.line_num + 1  # a record may span lines (a cell's line breaks)
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise FileRefused(
                f"The file is not CSV that can be read (the row that starts on line "
                f"{starts_on:,}: {error}). Save it from your spreadsheet as CSV UTF-8."
            ) from None
        index += 1
        if not any(cell.strip() for cell in cells):
            continue  # the empty rows a spreadsheet leaves below its data
        if header is None:
            header = cells
            continue
        if len(rows) == MAX_ROWS:
            raise FileRefused(
                f"The file has more than {MAX_ROWS:,} profiles: import at most "
                f"{MAX_ROWS:,} at a time (split it into smaller files)."
            )
        rows.append((index, cells))
    if header is None:  # a file of separators alone
        raise FileRefused("The file is empty: download the template to see what it holds.")
    columns: dict[str, int] = {}
    ignored: list[str] = []
    for index, heading in enumerate(header):
        label = _unneutralized(heading).strip()
        key = headings.get(_word(label))
        if key is None:
            if label:
                ignored.append(label)
        elif key in columns:
            raise FileRefused(
                f"Two columns are {profiles.BY_KEY[key].label if key in profiles.BY_KEY else key}"
                f" (“{_unneutralized(header[columns[key]]).strip()}” and “{label}”): "
                "keep one of them."
            )
        else:
            columns[key] = index
    if "number" not in columns:
        raise FileRefused(
            "The file has no number column: its first row must name the columns, such as "
            "number, caller_name, line_type (download the template)."
        )
    if not rows:
        raise FileRefused("The file has no profiles below its header row.")
    return _Table(columns=columns, ignored=tuple(ignored), rows=rows)


_NOT_UTF8 = (
    "The file is not UTF-8 text: save it from your spreadsheet as CSV UTF-8 "
    "(Excel: File › Save As › CSV UTF-8) and import it again."
)


def _unneutralized(cell: str) -> str:
    """A cell without the apostrophe an export put before what a spreadsheet would read as a
    formula ("'+14165550123"); an apostrophe before anything else is the partner's."""
    if cell.startswith("'") and neutralize_formula(cell[1:]) == cell:
        return cell[1:]
    return cell
