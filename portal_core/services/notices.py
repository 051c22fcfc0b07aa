"""Posting notices: the events behind the top bar's bell (docs/product.md, The shell).

Whatever happens to an organization that its members should see next time they look (a low
balance, a failed payment, a new invoice; disputes later) is posted here, inside the unit of
work of the event itself, so a notice exists exactly when its event committed. ``dedupe_key``
names the event (``invoice:<id>``, ``payment-failed:<id>``…): posting it again finds the
first notice and adds nothing. ``post_for_user`` does the same with a Core statement, for
the funds watcher on the meter's path (docs/architecture.md, The hot path). ``post_for_staff``
posts what SIPSTACK staff should see (an e-mail that could not be sent): it belongs to no
organization, and no partner ever sees it.

Reading is per member (and per staff user): ``mark_read`` and ``mark_all_read`` record that
the acting user read notices they may see (``queries.notices`` decides which); another
organization's notice is not found.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Connection, Insert, Table, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal_core.models.base import utcnow
from portal_core.models.notices import Notice, NoticeKind, NoticeRead
from portal_core.permissions import Actor, Capability
from portal_core.queries import notices as notice_queries

_notices = cast(Table, Notice.__table__)  # type: ignore[attr-defined]
_reads = cast(Table, NoticeRead.__table__)  # type: ignore[attr-defined]


def post(
    session: Session,
    *,
    organization_id: uuid.UUID,
    kind: NoticeKind,
    title: str,
    body: str,
    dedupe_key: str,
    capability: Capability | None = None,
    user_id: uuid.UUID | None = None,
    link_page_id: str | None = None,
    now: datetime | None = None,
) -> Notice:
    """Post a notice for one user (``user_id``) or for the members holding ``capability``."""
    if (capability is None) == (user_id is None):
        raise ValueError("a notice is for one user or for a capability, not both or neither")
    if capability is Capability.STAFF:
        raise ValueError("a staff notice belongs to no organization: post it with post_for_staff")
    return _post(
        session,
        organization_id=organization_id,
        kind=kind,
        title=title,
        body=body,
        dedupe_key=dedupe_key,
        capability=capability,
        user_id=user_id,
        link_page_id=link_page_id,
        now=now,
    )


def post_for_staff(
    session: Session,
    *,
    kind: NoticeKind,
    title: str,
    body: str,
    dedupe_key: str,
    link_page_id: str | None = None,
    now: datetime | None = None,
) -> Notice:
    """Post a notice with no organization that every SIPSTACK staff user sees."""
    return _post(
        session,
        organization_id=None,
        kind=kind,
        title=title,
        body=body,
        dedupe_key=dedupe_key,
        capability=Capability.STAFF,
        user_id=None,
        link_page_id=link_page_id,
        now=now,
    )


def _post(
    session: Session,
    *,
    organization_id: uuid.UUID | None,
    kind: NoticeKind,
    title: str,
    body: str,
    dedupe_key: str,
    capability: Capability | None,
    user_id: uuid.UUID | None,
    link_page_id: str | None,
    now: datetime | None,
) -> Notice:
    existing = _by_key(session, dedupe_key)
    if existing is not None:
        return existing
    notice = Notice(
        organization_id=organization_id,
        user_id=user_id,
        capability=capability.value if capability else None,
        kind=kind,
        title=title[:120],
        body=body[:500],
        link_page_id=link_page_id,
        dedupe_key=dedupe_key[:160],
        created_at=now or utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(notice)
            session.flush()
    except IntegrityError:
        # The same event, posted by a concurrent transaction between the look-up and here.
        existing = _by_key(session, dedupe_key)
        if existing is None:
            raise
        return existing
    return notice


def _by_key(session: Session, dedupe_key: str) -> Notice | None:
    return session.exec(select(Notice).where(Notice.dedupe_key == dedupe_key[:160])).first()


def post_for_user(
    connection: Connection,
    *,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    kind: NoticeKind,
    title: str,
    body: str,
    dedupe_key: str,
    link_page_id: str | None = None,
    now: datetime | None = None,
) -> None:
    """Post a personal notice with one Core INSERT that a repeated ``dedupe_key`` skips."""
    connection.execute(
        _insert_notice(connection.dialect.name),
        {
            "id": uuid.uuid4(),
            "organization_id": organization_id,
            "user_id": user_id,
            "capability": None,
            "kind": kind.value,
            "title": title[:120],
            "body": body[:500],
            "link_page_id": link_page_id,
            "dedupe_key": dedupe_key[:160],
            "created_at": now or utcnow(),
        },
    )


def post_for_members(
    connection: Connection,
    *,
    organization_id: uuid.UUID,
    capability: Capability,
    kind: NoticeKind,
    title: str,
    body: str,
    dedupe_key: str,
    link_page_id: str | None = None,
    now: datetime | None = None,
) -> None:
    """``post`` for the members holding ``capability``, as one Core INSERT that a repeated
    ``dedupe_key`` skips: for reactions, which hold a connection rather than a session."""
    connection.execute(
        _insert_notice(connection.dialect.name),
        {
            "id": uuid.uuid4(),
            "organization_id": organization_id,
            "user_id": None,
            "capability": capability.value,
            "kind": kind.value,
            "title": title[:120],
            "body": body[:500],
            "link_page_id": link_page_id,
            "dedupe_key": dedupe_key[:160],
            "created_at": now or utcnow(),
        },
    )


def mark_read(
    session: Session, actor: Actor, notice_id: uuid.UUID, *, now: datetime | None = None
) -> None:
    """Record that the actor read ``notice_id`` (again: nothing changes). A notice the actor
    may not see, another organization's for one, is not found."""
    notice_queries.require_reader(actor)
    notice_queries.notice(session, actor, notice_id)  # raises NotFound
    session.execute(
        _insert_read(session.get_bind().dialect.name),
        {"notice_id": notice_id, "user_id": actor.user_id, "read_at": now or utcnow()},
    )


def mark_all_read(session: Session, actor: Actor, *, now: datetime | None = None) -> int:
    """Mark every notice the actor may see as read, in one INSERT … SELECT; returns how many
    were unread."""
    notice_queries.require_reader(actor)
    already = (
        select(NoticeRead.notice_id)
        .where(
            col(NoticeRead.notice_id) == col(Notice.id),
            col(NoticeRead.user_id) == actor.user_id,
        )
        .exists()
    )
    unread = select(
        col(Notice.id),
        literal(actor.user_id, type_=_reads.c.user_id.type),
        literal(now or utcnow(), type_=_reads.c.read_at.type),
    ).where(notice_queries.visible_to(actor), ~already)
    dialect = session.get_bind().dialect.name
    inserted = session.execute(
        _upsert(dialect, _reads)
        .from_select(["notice_id", "user_id", "read_at"], unread)
        .on_conflict_do_nothing(index_elements=["notice_id", "user_id"])
        .execution_options(preserve_rowcount=True)
    )
    return max(int(getattr(inserted, "rowcount", 0) or 0), 0)


def _upsert(dialect: str, table: Table) -> Any:
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


@cache
def _insert_notice(dialect: str) -> Insert:
    return _upsert(dialect, _notices).on_conflict_do_nothing(index_elements=["dedupe_key"])


@cache
def _insert_read(dialect: str) -> Insert:
    # Two clicks (or two tabs) reading one notice at once: the second finds the row there.
    return _upsert(dialect, _reads).on_conflict_do_nothing(index_elements=["notice_id", "user_id"])
