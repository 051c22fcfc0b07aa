"""Read side of notices: the top bar's bell (its unread count and latest notices) and the
Notices page's list (docs/product.md, The shell).

A member sees the notices of their own organization that are meant for them: their own
(``user_id``: a low-balance alert) and those for a capability their role holds (failed
payments and new invoices go to whoever may read Billing), posted since they joined, so a
new member does not start with last year's invoices unread. Each notice is unread for a
member until a ``notice_reads`` row says otherwise. Staff belong to no organization: they see
the staff notices (no organization, for ``Capability.STAFF``: an e-mail that could not be
sent) posted since they joined, and only those; no partner ever sees one. Another
organization's notice is simply not found (docs/architecture.md, rule 3).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, or_
from sqlmodel import Session, col, select

from portal_core.errors import NotFound, PermissionDenied
from portal_core.models.accounts import User
from portal_core.models.notices import Notice, NoticeKind, NoticeRead
from portal_core.permissions import GRANTS, Actor, Capability, require_organization
from portal_core.queries.listing import (
    Choice,
    ChoiceFilter,
    Column,
    ColumnKind,
    DateRangeFilter,
    Listing,
    Sort,
    created_sort,
    equal_choices,
)

# The kinds in a partner's words.
NOTICE_KINDS: dict[str, str] = {
    NoticeKind.LOW_BALANCE.value: "Low balance",
    NoticeKind.PAYMENT_FAILED.value: "Payment failed",
    NoticeKind.PAYMENT_NEEDS_AUTHENTICATION.value: "Payment needs authentication",
    NoticeKind.AUTO_RECHARGE_FAILED.value: "Auto-recharge failed",
    NoticeKind.INVOICE_ISSUED.value: "New invoice",
    NoticeKind.MAIL_UNDELIVERABLE.value: "E-mail not sent",
    NoticeKind.ORGANIZATION_CLOSED.value: "Organization closed",
    NoticeKind.BRAND_DOMAIN_UNVERIFIED.value: "Domain no longer verified",
}
UNREAD, READ = "unread", "read"
READ_STATES: dict[str, str] = {UNREAD: "Unread", READ: "Read"}
BELL_SIZE = 5  # the latest notices the bell lists


@dataclass(frozen=True)
class NoticeItem:
    """One notice as a member sees it, with whether they read it."""

    id: uuid.UUID
    kind: str
    title: str
    body: str
    link_page_id: str | None
    created_at: datetime
    read_at: datetime | None

    @property
    def unread(self) -> bool:
        return self.read_at is None

    @property
    def kind_label(self) -> str:
        return NOTICE_KINDS.get(self.kind, self.kind)


def require_reader(actor: Actor) -> None:
    """Refuse whoever has no notices to read: every partner role and staff have."""
    if not (actor.is_staff or actor.can(Capability.USE_PORTAL)):
        raise PermissionDenied("Your role does not allow this. Ask an owner of your organization.")


def visible_to(actor: Actor) -> ColumnElement[bool]:
    """The condition on ``notices`` for those ``actor`` may see (see the module docstring)."""
    joined = select(User.created_at).where(User.id == actor.user_id).scalar_subquery()
    if actor.is_staff:
        return and_(
            col(Notice.organization_id).is_(None),
            col(Notice.created_at) >= joined,
            col(Notice.capability) == Capability.STAFF.value,
        )
    organization_id = require_organization(actor)
    capabilities = sorted(capability.value for capability in GRANTS[actor.role])
    return and_(
        col(Notice.organization_id) == organization_id,
        col(Notice.created_at) >= joined,
        or_(
            col(Notice.user_id) == actor.user_id,
            and_(col(Notice.user_id).is_(None), col(Notice.capability).in_(capabilities)),
        ),
    )


def _read_by(actor: Actor) -> ColumnElement[bool]:
    return and_(
        col(NoticeRead.notice_id) == col(Notice.id), col(NoticeRead.user_id) == actor.user_id
    )


def _sees_notices(actor: Actor) -> bool:
    return actor.is_staff or (
        actor.organization_id is not None and actor.can(Capability.USE_PORTAL)
    )


def unread_count(session: Session, actor: Actor) -> int:
    """How many notices the bell counts: one COUNT over the organization's notices (staff: the
    staff notices) since the member joined (``ix_notices_org_created``), each checked against
    ``notice_reads``'s primary key."""
    if not _sees_notices(actor):
        return 0
    read = select(NoticeRead.notice_id).where(_read_by(actor)).exists()
    return int(
        session.exec(select(func.count()).select_from(Notice).where(visible_to(actor), ~read)).one()
    )


def latest(session: Session, actor: Actor, *, limit: int = BELL_SIZE) -> list[NoticeItem]:
    """The member's newest notices, read or not, for the bell."""
    if not _sees_notices(actor):
        return []
    rows = session.exec(
        select(Notice, NoticeRead.read_at)
        .outerjoin(NoticeRead, _read_by(actor))
        .where(visible_to(actor))
        .order_by(col(Notice.created_at).desc(), col(Notice.id).desc())
        .limit(limit)
    ).all()
    return [_item(notice, read_at) for notice, read_at in rows]


def notice(session: Session, actor: Actor, notice_id: uuid.UUID) -> NoticeItem:
    """One notice the member may see; any other id is not found."""
    require_reader(actor)
    row = session.exec(
        select(Notice, NoticeRead.read_at)
        .outerjoin(NoticeRead, _read_by(actor))
        .where(col(Notice.id) == notice_id, visible_to(actor))
    ).first()
    if row is None:
        raise NotFound("That notice was not found.")
    return _item(*row)


def notices(actor: Actor) -> Listing:
    """Every notice the member may see, newest first, for the Notices page."""
    require_reader(actor)
    kind = col(Notice.kind)
    unread = col(NoticeRead.notice_id).is_(None)
    return Listing(
        noun="notices",
        select=select(col(Notice.id))
        .select_from(Notice)
        .outerjoin(NoticeRead, _read_by(actor))
        .where(visible_to(actor)),
        key=col(Notice.id),
        columns=(
            Column("created_at", "Date", col(Notice.created_at), ColumnKind.DATETIME),
            Column("kind", "Type", kind, ColumnKind.STATUS, labels=NOTICE_KINDS),
            Column("title", "Notice", col(Notice.title)),
            Column(
                "state",
                "Read",
                case((unread, UNREAD), else_=READ),
                ColumnKind.STATUS,
                labels=READ_STATES,
                help="Select a notice to open it: opening it marks it read.",
            ),
        ),
        sorts=(
            created_sort(col(Notice.created_at)),
            Sort("type", "Type", kind, then=(col(Notice.created_at),)),
        ),
        default_sort="created",
        default_descending=True,
        filters=(
            ChoiceFilter("type", "Type", equal_choices(kind, NOTICE_KINDS)),
            ChoiceFilter(
                "state",
                "Read or unread",
                (Choice(UNREAD, "Unread", unread), Choice(READ, "Read", ~unread)),
            ),
            DateRangeFilter("created", "Date", col(Notice.created_at)),
        ),
        empty_message=empty_message(actor),
    )


def empty_message(actor: Actor) -> str:
    """What the Notices page and the bell say when there is nothing to list."""
    if actor.is_staff:
        return "No notices yet: e-mails that could not be sent will appear here."
    return "No notices yet: low balances, failed payments and new invoices will appear here."


def _item(notice: Notice, read_at: datetime | None) -> NoticeItem:
    return NoticeItem(
        id=notice.id,
        kind=str(notice.kind),
        title=notice.title,
        body=notice.body,
        link_page_id=notice.link_page_id,
        created_at=notice.created_at,
        read_at=read_at,
    )
