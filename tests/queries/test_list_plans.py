"""Every list's plans: the filters, sorts and counts of the table widget come from indexes.

For each list of ``LISTS``, on the schema the migrations build (empty, where SQLite plans by
rule of thumb, and with a large portal's statistics), the page's SELECT and its
COUNT (``queries.listing.page_statement`` / ``count_statement``, what ``fetch_page`` runs)
are explained for every sort in both directions, every filter value alone under the default
sort and, for the lists that grow without bound, every value of their choice filters under
every sort. The rules, on SQLite (EXPLAIN QUERY PLAN) and PostgreSQL (EXPLAIN, with
sequential scans and sorts priced out so that an index that can serve is the plan; on its
empty tables every index costs the same, so which one a count picks is not checked there):

- no full scan of a table; a list of one organization searches its rows by organization
  rather than walking the platform's (a platform-wide list may read a table whole where its
  count must read rows anyway: a text search, "contains", has no index);
- no sort in memory: an index delivers the rows in the page's order and the read stops at
  the page's end;
- the count reads an index alone, unless a text filter must read the rows.

Where a list cannot follow a rule, its row says which sort or filter, and why. A new list is
one more row.
"""

from __future__ import annotations

import ast
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, Select, event, text

from portal_core import db
from portal_core.models.accounts import Role
from portal_core.permissions import Actor
from portal_core.queries import (
    api_tokens,
    billing,
    disputes,
    invoices,
    logs,
    members,
    notices,
    payments,
    staff,
    staff_billing,
    whois,
)
from portal_core.queries.listing import (
    ChoiceFilter,
    DateRange,
    DateRangeFilter,
    FilterValue,
    Listing,
    ListQuery,
    TextFilter,
    count_statement,
    page_statement,
)
from tests.conftest import reset_database

ORGANIZATION = uuid.UUID("6f1b2c3d-0000-4000-8000-000000000001")
OWNER = Actor(uuid.uuid4(), "owner@example.com", Role.OWNER, ORGANIZATION)
STAFF = Actor(uuid.uuid4(), "staff@sipstack.test", Role.STAFF, None)
MEMBER = uuid.UUID("6f1b2c3d-0000-4000-8000-000000000002")
TOKEN = uuid.UUID("6f1b2c3d-0000-4000-8000-000000000003")
# Reference data of a handful of rows, read whole by design.
REFERENCE_TABLES = {"plans"}


@dataclass(frozen=True)
class Case:
    name: str
    function: str  # the query's module and function: "billing.transactions"
    build: Callable[[], Listing]
    # The column a list of one organization is searched by; None for platform-wide lists.
    scope: str | None
    # Grows without bound: each choice of its choice filters is checked under every sort too.
    grows: bool = False
    # Sort or filter keys whose variants may sort in memory, and why no index serves them.
    sorts_in_memory: Mapping[str, str] = field(default_factory=dict)
    # Filter keys ("*": every variant) whose count reads rows, and why.
    counts_read_rows: Mapping[str, str] = field(default_factory=dict)


LISTS = [
    Case(
        "transactions",
        "billing.transactions",
        lambda: billing.transactions(OWNER),
        "organization_id",
        grows=True,
    ),
    Case(
        "staff ledger",
        "staff_billing.ledger_entries",
        lambda: staff_billing.ledger_entries(STAFF, ORGANIZATION),
        "organization_id",
        grows=True,
    ),
    Case(
        "payments",
        "payments.payments",
        lambda: payments.payments(OWNER),
        "organization_id",
        grows=True,
    ),
    Case(
        "logs",
        "logs.events",
        lambda: logs.events(
            OWNER,
            users=[logs.EventUser(MEMBER, "Ann Lee")],
            tokens=[logs.EventToken(TOKEN, "Asterisk PBX")],
        ),
        "organization_id",
        grows=True,
        sorts_in_memory={
            sort: "score, cost and latency have no index of their own (each would be one more "
            "index written by every lookup, on the hot path): the organization's events, or "
            "the date range of them, are sorted in memory, keeping only the page's rows"
            for sort in ("score", "cost", "latency")
        },
        counts_read_rows={
            "product": "the product has no index of its own (one more index written by every "
            "lookup): its count reads the organization's events",
        },
    ),
    Case(
        "whois profiles",
        "whois.profiles_listing",
        lambda: whois.profiles_listing(OWNER),
        "organization_id",
        sorts_in_memory={
            "band": "a band is a range of scores: the score index finds the band's numbers, "
            "which are sorted by date in memory (a band holds part of one organization's)",
        },
        counts_read_rows={
            key: "line type, private, verified and status are a few values each: an index "
            "apiece would be written by every save for little; the count reads the "
            "organization's own profiles, which its index finds"
            for key in ("line_type", "private", "verified", "status")
        },
    ),
    Case(
        "ownership disputes",
        "disputes.disputes_listing",
        lambda: disputes.disputes_listing(OWNER),
        "organization_id",
    ),
    Case(
        "staff disputes",
        "disputes.staff_disputes_listing",
        lambda: disputes.staff_disputes_listing(STAFF),
        None,
        sorts_in_memory={
            "search": "a text search reads every dispute with its two organizations' names; the "
            "matches are sorted in memory",
        },
        counts_read_rows={
            "*": "a dispute counts with its two organizations' rows (their names are columns): "
            "the count reads the disputes, as a platform-wide count must",
        },
    ),
    Case(
        "staff reports",
        "disputes.staff_reports_listing",
        lambda: disputes.staff_reports_listing(STAFF),
        None,
        counts_read_rows={
            "*": "a report counts with its organization's row (its name is a column): the "
            "count reads the reports, as a platform-wide count must",
        },
    ),
    Case("invoices", "invoices.invoices", lambda: invoices.invoices(OWNER), "organization_id"),
    Case(
        "api tokens",
        "api_tokens.tokens_listing",
        lambda: api_tokens.tokens_listing(OWNER, now=datetime(2026, 1, 15, tzinfo=UTC)),
        "organization_id",
    ),
    Case(
        "credit notes",
        "invoices.credit_notes",
        lambda: invoices.credit_notes(OWNER),
        "organization_id",
    ),
    Case(
        "payment methods",
        "payments.payment_methods_listing",
        lambda: payments.payment_methods_listing(OWNER, today=date(2026, 1, 15)),
        "organization_id",
        sorts_in_memory={
            "expiry": "the expiry is a month computed from two columns; an organization keeps "
            "a handful of cards",
            "status": "expired or not is computed from the expiry; a handful of cards",
        },
        counts_read_rows={"*": "a removed card stays on its row (removed_at) for its payments"},
    ),
    Case(
        "notices",
        "notices.notices",
        lambda: notices.notices(OWNER),
        "organization_id",
        sorts_in_memory={
            "type": "the member's notices since they joined: that range bounds the read, and "
            "the few it finds are sorted by type in memory",
        },
        counts_read_rows={"*": "whether a member may see a notice (its user, its capability) "},
    ),
    Case(
        "audit log",
        "staff.audit_log",
        lambda: staff.audit_log(STAFF),
        None,
        grows=True,
        sorts_in_memory={
            "kind": "a kind is several actions, or a family of them: their events come from the "
            "action index in several runs, merged by date in memory",
        },
    ),
    Case(
        "organization's audit log",
        "staff.audit_log",
        lambda: staff.audit_log(STAFF, organization_id=ORGANIZATION),
        "organization_id",
        grows=True,
        sorts_in_memory={
            "kind": "a kind is several actions, or a family of them (see the audit log)",
        },
    ),
    Case("organizations", "staff.organizations", lambda: staff.organizations(STAFF), None),
    Case(
        "members",
        "members.members_listing",
        lambda: members.members_listing(OWNER),
        "organization_id",
        sorts_in_memory={
            "last_sign_in": "the last sign-in is each member's newest session, computed: the "
            "organization's members (a few dozen) are sorted by it in memory",
            **{
                key: "the organization's members of one role or status are found by its "
                "index and the few of them sorted in memory"
                for key in ("role", "status")
            },
        },
    ),
    Case(
        "billing accounts",
        "staff_billing.billing_accounts",
        lambda: staff_billing.billing_accounts(STAFF),
        None,
        sorts_in_memory={
            "plan": "the plans' order is a joined table's: one row per organization, sorted "
            "in memory",
            "balance": "the balance moves with every metered request: left unindexed so that "
            "the meter stays fast; one row per organization",
            "account": "each account filter is on a joined table's column (balance, plan, "
            "limit, closing refund); one row per organization",
        },
        counts_read_rows={
            "*": "an organization counts with its subscription's and account's rows, one "
            "each: the count reads every organization's, as a platform-wide count must",
        },
    ),
]


@dataclass(frozen=True)
class Variant:
    filters: dict[str, FilterValue]
    sort: str
    descending: bool

    @property
    def keys(self) -> set[str]:
        return {self.sort, *self.filters}

    def __str__(self) -> str:
        shown = ", ".join(f"{key}={value}" for key, value in self.filters.items())
        return f"[{shown or 'no filter'}] by {self.sort} {'desc' if self.descending else 'asc'}"


def _samples(listing: Listing) -> Iterator[tuple[str, FilterValue]]:
    for filter_ in listing.filters:
        if isinstance(filter_, ChoiceFilter):
            for choice in filter_.choices:
                yield filter_.key, choice.value
        elif isinstance(filter_, TextFilter):
            yield filter_.key, "harbor"
        elif isinstance(filter_, DateRangeFilter):
            yield filter_.key, DateRange(date(2026, 1, 1), date(2026, 1, 31))


def variants(case: Case) -> list[Variant]:
    listing = case.build()
    found = [
        Variant({}, sort.key, descending) for sort in listing.sorts for descending in (True, False)
    ]
    found += [Variant({key: value}, listing.default_sort, True) for key, value in _samples(listing)]
    if case.grows:
        choices = [
            (key, value)
            for key, value in _samples(listing)
            if isinstance(listing.filter(key), ChoiceFilter)
        ]
        found += [
            Variant({key: value}, sort.key, True)
            for key, value in choices
            for sort in listing.sorts
            if sort.key != listing.default_sort
        ]
    return found


# --- Plans -------------------------------------------------------------------------------------


def explain(connection: Connection, statement: Select[Any], prefix: str) -> list[str]:
    """The plan of ``statement`` as the portal would run it (its own parameters and types),
    one line per step."""

    def explained(
        _conn: Any, _cursor: Any, sql: str, params: Any, _context: Any, _many: Any
    ) -> Any:
        return prefix + sql, params

    engine = connection.engine
    event.listen(engine, "before_cursor_execute", explained, retval=True)
    try:
        result = connection.execute(statement)
        rows = result.cursor.fetchall() if result.cursor is not None else []
        result.close()
    finally:
        event.remove(engine, "before_cursor_execute", explained)
    return [str(row[-1] if prefix.startswith("EXPLAIN QUERY PLAN") else row[0]) for row in rows]


def _reads_rows(case: Case, variant: Variant) -> bool:
    """The variant's count must read rows: a text filter, or a reason in the row."""
    listing = case.build()
    text_filtered = any(isinstance(listing.filter(key), TextFilter) for key in variant.filters)
    return text_filtered or bool((variant.keys | {"*"}) & set(case.counts_read_rows))


def sqlite_problems(case: Case, variant: Variant, page: list[str], count: list[str]) -> list[str]:
    problems = []
    reads_rows = _reads_rows(case, variant)
    for what, plan in (("page", page), ("count", count)):
        for line in plan:
            scanned = re.fullmatch(r"SCAN (\w+)", line)
            if (
                scanned
                and scanned[1] not in REFERENCE_TABLES
                and not (reads_rows and case.scope is None)
            ):
                problems.append(f"{what} reads the whole table: {line}")
        if case.scope is not None:
            main = plan[0]
            if f"{case.scope}=?" not in main:
                problems.append(f"{what} does not search by {case.scope}: {main}")
    if not (variant.keys & set(case.sorts_in_memory)):
        problems += [f"page sorts in memory: {line}" for line in page if "TEMP B-TREE" in line]
    if not reads_rows:
        first = count[0]
        if "COVERING INDEX" not in first:
            problems.append(f"count reads rows: {first}")
    return problems


def postgres_problems(case: Case, variant: Variant, page: list[str], count: list[str]) -> list[str]:
    problems = []
    reads_rows = _reads_rows(case, variant)
    for what, plan in (("page", page), ("count", count)):
        for line in plan:
            scanned = re.search(r"Seq Scan on (\w+)", line)
            if (
                scanned
                and scanned[1] not in REFERENCE_TABLES
                and not (reads_rows and case.scope is None)
            ):
                problems.append(f"{what} reads the whole table: {line.strip()}")
        if case.scope is not None and not any(f"{case.scope} = " in line for line in plan):
            problems.append(f"{what} does not search by {case.scope}")
    if not (variant.keys & set(case.sorts_in_memory)):
        problems += [
            f"page sorts in memory: {line.strip()}"
            for line in page
            if re.search(r"\bSort\b", line) and "Sort Key" not in line
        ]
    return problems


# A large portal's shape, as ANALYZE would record it: rows per table and distinct values per
# column (a column not named is unique). Written into sqlite_stat1, so that the plans are
# checked as SQLite chooses them with statistics, not only by its rules of thumb.
LARGE_PORTAL_ROWS = {
    "organizations": 10_000,
    "users": 100_000,
    "sessions": 2_000_000,
    "subscriptions": 10_000,
    "billing_accounts": 10_000,
    "plans": 5,
    "ledger_entries": 2_000_000,
    "payments": 600_000,
    "payment_methods": 30_000,
    "invoices": 240_000,
    "notices": 500_000,
    "notice_reads": 1_000_000,
    "audit_events": 3_000_000,
    "whois_profiles": 1_000_000,
    "community_reports": 200_000,
    "product_events": 50_000_000,
    "ownership_disputes": 5_000,
    "dispute_parties": 10_000,
    "api_tokens": 30_000,
    "closing_refunds": 300,
}
LARGE_PORTAL_DISTINCT = {
    "organization_id": 10_000,
    "kind": 7,
    "status": 4,
    "action": 40,
    "plan_code": 5,
    "role": 6,
    "capability": 4,
    "user_id": 100_000,
    "api_token_id": 30_000,
    "notice_id": 500_000,
    "gateway": 2,
    "period": 24,
    "activated_at": 9_000,
    "lookup_type": 5,
    "line_type": 5,
    "number": 900_000,
}


def _write_large_portal_statistics(connection: Connection) -> None:
    """sqlite_stat1 as ANALYZE leaves it on a large portal: per index, its rows, then the
    average rows per distinct value of each leading prefix of its columns."""
    connection.exec_driver_sql("DELETE FROM sqlite_stat1")
    for table, rows in LARGE_PORTAL_ROWS.items():
        indexes = connection.exec_driver_sql(f"PRAGMA index_list('{table}')").all()
        for index in indexes:
            columns = [
                str(info[2])
                for info in connection.exec_driver_sql(f"PRAGMA index_info('{index[1]}')").all()
            ]
            averages, distinct = [], 1
            for column in columns:
                distinct *= LARGE_PORTAL_DISTINCT.get(column, rows)
                averages.append(max(1, rows // min(distinct, rows)))
            stat = " ".join(str(value) for value in (rows, *averages))
            connection.exec_driver_sql(
                "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)",
                (table, str(index[1]), stat),
            )


@pytest.fixture(scope="module", params=["no statistics", "a large portal's statistics"])
def migrated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """An SQLite database built by the migrations, as every portal's is: still empty (the
    planner's rules of thumb), or with the statistics of a large portal."""
    url = f"sqlite:///{tmp_path_factory.mktemp('plans') / 'plans.db'}"
    db.migrate(url)
    engine = db.create_engine(url)
    if request.param != "no statistics":
        with engine.begin() as connection:
            _write_large_portal_statistics(connection)
        engine.dispose()  # new connections read the statistics afresh
    yield engine
    engine.dispose()


def _query(variant: Variant) -> ListQuery:
    return ListQuery(filters=variant.filters, sort=variant.sort, descending=variant.descending)


@pytest.mark.parametrize("case", LISTS, ids=lambda case: case.name)
def test_every_filter_sort_and_count_of_the_list_is_served_by_an_index_on_sqlite(
    case: Case, migrated: Engine
) -> None:
    problems = []
    with migrated.connect() as connection:
        for variant in variants(case):
            query = _query(variant)
            page = explain(
                connection, page_statement(case.build(), query, 20), "EXPLAIN QUERY PLAN "
            )
            count = explain(connection, count_statement(case.build(), query), "EXPLAIN QUERY PLAN ")
            problems += [
                f"{variant}: {problem}" for problem in sqlite_problems(case, variant, page, count)
            ]
    assert not problems, "\n".join(problems)


@pytest.mark.postgres
@pytest.mark.parametrize("case", LISTS, ids=lambda case: case.name)
def test_every_filter_sort_and_count_of_the_list_is_served_by_an_index_on_postgresql(
    case: Case, postgres_engine: Engine
) -> None:
    # Emptied (the other tests leave it in no particular state) and analyzed; sequential
    # scans and sorts, whole or incremental, are priced out: whatever statistics the tables
    # kept, an index that can serve the order is then the plan.
    reset_database(postgres_engine)
    db.analyze(postgres_engine)
    problems = []
    with postgres_engine.connect() as connection:
        with connection.begin():
            connection.execute(text("SET LOCAL enable_seqscan = off"))
            connection.execute(text("SET LOCAL enable_sort = off"))
            connection.execute(text("SET LOCAL enable_incremental_sort = off"))
            for variant in variants(case):
                query = _query(variant)
                page = explain(connection, page_statement(case.build(), query, 20), "EXPLAIN ")
                count = explain(connection, count_statement(case.build(), query), "EXPLAIN ")
                problems += [
                    f"{variant}: {problem}"
                    for problem in postgres_problems(case, variant, page, count)
                ]
    assert not problems, "\n".join(problems)


def test_a_list_that_scans_or_sorts_in_memory_is_caught(migrated: Engine) -> None:
    """The rules can fail: a list sorted by an unindexed column of the ledger is flagged."""
    from sqlmodel import col

    from portal_core.models.billing import LedgerEntry
    from portal_core.queries.listing import Sort

    listing = billing.transactions(OWNER)
    unindexed = Listing(
        noun=listing.noun,
        select=listing.select,
        key=listing.key,
        columns=listing.columns,
        sorts=(*listing.sorts, Sort("memo", "Description", col(LedgerEntry.memo))),
        default_sort=listing.default_sort,
        filters=listing.filters,
    )
    case = Case("unindexed", "billing.transactions", lambda: unindexed, "organization_id")
    variant = Variant({}, "memo", True)
    with migrated.connect() as connection:
        page = explain(
            connection, page_statement(unindexed, _query(variant), 1), "EXPLAIN QUERY PLAN "
        )
        count = explain(
            connection, count_statement(unindexed, _query(variant)), "EXPLAIN QUERY PLAN "
        )
    assert any(
        "sorts in memory" in problem for problem in sqlite_problems(case, variant, page, count)
    )


def test_every_list_of_the_queries_has_a_row() -> None:
    """A function of portal_core/queries that returns a new ``Listing`` needs a row above."""
    source = Path(__file__).parents[2] / "portal_core" / "queries"
    defined = set()
    for path in source.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any(
                isinstance(inner, ast.Return)
                and isinstance(inner.value, ast.Call)
                and getattr(inner.value.func, "id", None) == "Listing"
                for inner in ast.walk(node)
            ):
                defined.add(f"{path.stem}.{node.name}")
    assert defined == {case.function for case in LISTS}
