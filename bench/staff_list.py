"""Staff › Organizations at 1,000 organizations and 10,000 users: filtered, sorted, one page.

The portal's way (filter, sort, count and page in SQL through ``queries.listing``) is timed in
the same run as the naive way a page must never take: every organization and its user count
into pandas, then filter, sort and slice there (docs/architecture.md, rule 9).
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlmodel import col

from bench.harness import Result, measure, open_page
from portal_core import db
from portal_core.models.accounts import Organization, User
from portal_core.permissions import Actor
from portal_core.queries import staff
from portal_core.queries.listing import ListQuery, fetch_page

SEARCH = "voice"
PAGE, PAGE_SIZE = 3, 20


def _portal_way(engine: Engine, actor: Actor) -> list[object]:
    query = ListQuery(
        filters={"search": SEARCH}, sort="name", descending=False, page=PAGE, page_size=PAGE_SIZE
    )
    with db.read_session(engine) as session:
        page = fetch_page(session, staff.organizations(actor), query)
    assert len(page.rows) == PAGE_SIZE
    return list(page.rows)


def _naive_way(engine: Engine) -> pd.DataFrame:
    counts = (
        select(col(User.organization_id), func.count(col(User.id)).label("users"))
        .group_by(col(User.organization_id))
        .subquery()
    )
    statement = select(Organization.__table__, counts.c.users).outerjoin(  # type: ignore[attr-defined]
        counts, counts.c.organization_id == Organization.id
    )
    with engine.connect() as connection:
        frame = pd.read_sql(statement, connection)
    wanted = frame["name"].str.contains(SEARCH, case=False) | frame["legal_name"].str.contains(
        SEARCH, case=False
    )
    ordered = frame[wanted].sort_values(["name", "id"])
    page = ordered.iloc[(PAGE - 1) * PAGE_SIZE : PAGE * PAGE_SIZE]
    assert len(page) == PAGE_SIZE
    return page


def run(engine: Engine, actor: Actor, handle: str) -> list[Result]:
    def render() -> None:
        open_page(handle, "pages/staff_organizations.py")

    portal = measure(
        "staff organizations: search, sort, page 3 in SQL", lambda: _portal_way(engine, actor)
    )
    naive = measure("naive: all organizations into pandas, then filter", lambda: _naive_way(engine))
    naive.note = f"{naive.median_s / portal.median_s:.1f}× the SQL way"
    page = measure("staff organizations page render (AppTest)", render)
    return [portal, naive, page]
