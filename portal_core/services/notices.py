"""Posting notices: the events behind the top bar's bell (SPEC.md, The shell).

Whatever happens to an organization that its members should see next time they look (a low
balance, a failed payment, a new invoice; disputes later) is posted here, inside the unit of
work of the event itself, so a notice exists exactly when its event committed. ``dedupe_key``
names the event (``invoice:<id>``, ``payment-failed:<id>``…): posting it again finds the
first notice and adds nothing.
"""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal_core.models.base import utcnow
from portal_core.models.notices import Notice, NoticeKind
from portal_core.permissions import Capability


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
) -> Notice:
    """Post a notice for one user (``user_id``) or for the members holding ``capability``."""
    if (capability is None) == (user_id is None):
        raise ValueError("a notice is for one user or for a capability, not both or neither")
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
        created_at=utcnow(),
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
