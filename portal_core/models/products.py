"""The products' tables: Whois profiles (the numbers organizations register), community
reports, the product events that Logs lists, and the scores' daily history
(docs/product.md, Smart CNAM lookups and scores; Whois Profiles; Logs).

A number has at most one owning organization: one *active* profile per number (a partial
UNIQUE index). A profile registered while another organization holds the number waits as
*pending*, hidden from others and unscored, until its ownership is decided. A registered
number's score is stored (milli-points, 0–5000) so lists filter and sort by it in SQL; the
services recompute it whenever one of its inputs changes.

Product events are written in the unit of work that did the thing, lookups on the hot path
(SQLAlchemy Core); ``product_events_daily`` rolls them up per day as they arrive, so the
volume chart, the Dashboard's tiles and Explore never count the raw events, and pruning old
events (a retention setting) loses no history.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlmodel import Field, SQLModel

from portal_core.models.base import (
    UTCDateTime,
    created_at_field,
    optional_time_field,
    updated_at_field,
    uuid_pk,
)

E164_WIDTH = 16  # "+" and at most 15 digits
TYPED_NUMBER_WIDTH = 64  # what a partner typed, kept on a refused lookup's event


class ProfileStatus(StrEnum):
    ACTIVE = "active"  # the number's owner
    PENDING = "pending"  # registered while another organization holds the number


class CallPurpose(StrEnum):
    """Why a number calls: what the called party's screen may say about it."""

    CUSTOMER_SERVICE = "customer_service"
    SALES = "sales"
    APPOINTMENTS = "appointments"
    DELIVERIES = "deliveries"
    COLLECTIONS = "collections"
    HEALTHCARE = "healthcare"
    FINANCIAL = "financial"
    SURVEYS = "surveys"
    CHARITY = "charity"
    POLITICAL = "political"
    PERSONAL = "personal"
    OTHER = "other"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class WhoisProfile(SQLModel, table=True):
    __tablename__ = "whois_profiles"
    __table_args__ = (
        UniqueConstraint("organization_id", "number"),
        # One owner per number.
        Index(
            "ux_whois_profiles_active_number",
            "number",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        # Whois Profiles' sorts: newest first, by score, by name.
        Index("ix_whois_profiles_org_created", "organization_id", "created_at", "id"),
        Index("ix_whois_profiles_org_updated", "organization_id", "updated_at", "id"),
        Index("ix_whois_profiles_org_score", "organization_id", "score_millis", "id"),
        Index("ix_whois_profiles_org_name", "organization_id", "caller_name", "id"),
    )

    id: uuid.UUID = uuid_pk()
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    number: str = Field(max_length=E164_WIDTH)
    status: ProfileStatus = Field(default=ProfileStatus.ACTIVE, sa_type=String(10))
    private: bool = False
    # General
    caller_name: str = Field(max_length=15)
    business_name: str | None = Field(default=None, max_length=120)
    line_type: str = Field(max_length=20)  # rules.numbers.LineType
    call_purpose: str | None = Field(default=None, max_length=30)  # CallPurpose
    # Location
    address_line: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    province: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, max_length=2)
    # Additional
    website: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    description: str | None = Field(default=None, max_length=500)
    social_links: str | None = Field(default=None, max_length=1000)  # one address per line
    monthly_call_volume: int | None = Field(default=None, ge=0)
    # Ownership and score
    verified_at: datetime | None = optional_time_field()
    completeness_permille: int = 0
    score_millis: int | None = None  # None while pending: unscored
    score_updated_at: datetime | None = optional_time_field()
    created_by_user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class ReportKind(StrEnum):
    SPAM = "spam"
    SAFE = "safe"


class CommunityReport(SQLModel, table=True):
    """A partner's word about a number: spam or safe. One per organization per number per
    30 days; staff may remove one, with a reason, and it stops counting."""

    __tablename__ = "community_reports"
    __table_args__ = (
        # The score's report counts over the window, the live ones only.
        Index("ix_community_reports_number_created", "number", "created_at"),
        # The one-report-per-window rule and an organization's own list.
        Index("ix_community_reports_org_number", "organization_id", "number", "created_at"),
        # Staff › Reports, newest first.
        Index("ix_community_reports_created", "created_at", "id"),
    )

    id: uuid.UUID = uuid_pk()
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    number: str = Field(max_length=E164_WIDTH)
    kind: ReportKind = Field(sa_type=String(10))
    comment: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    removed_at: datetime | None = optional_time_field()
    removed_by_user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    removed_reason: str | None = Field(default=None, max_length=300)


class EventProduct(StrEnum):
    SMART_CNAM = "smart_cnam"
    WHOIS = "whois"
    REPORTS = "reports"
    API = "api"  # a call of the REST API that no product's own event records

    @property
    def label(self) -> str:
        return {
            "smart_cnam": "Smart CNAM",
            "whois": "Whois Profiles",
            "reports": "Reports",
            "api": "API",
        }[self.value]


class EventAction(StrEnum):
    LOOKUP = "lookup"
    REGISTRATION = "registration"
    EDIT = "edit"
    DELETION = "deletion"
    VERIFICATION = "verification"
    IMPORT = "import"
    DISPUTE = "dispute"
    REPORT = "report"
    CALL = "call"  # an API call: its method, route and answer

    @property
    def label(self) -> str:
        return self.value.capitalize()


class EventStatus(StrEnum):
    OK = "ok"
    REFUSED = "refused"
    FAILED = "failed"  # an API call the portal could not answer (a 5xx)

    @property
    def label(self) -> str:
        return {"ok": "OK", "refused": "Refused", "failed": "Failed"}[self.value]


class ProductEvent(SQLModel, table=True):
    """One line of Logs. ``result`` is what the acting organization may see: never another
    organization's private details."""

    __tablename__ = "product_events"
    __table_args__ = (
        Index("ix_product_events_org_created", "organization_id", "created_at", "id"),
        Index("ix_product_events_org_action", "organization_id", "action", "created_at", "id"),
        Index("ix_product_events_org_status", "organization_id", "status", "created_at", "id"),
        Index("ix_product_events_org_user", "organization_id", "user_id", "created_at", "id"),
        Index("ix_product_events_org_type", "organization_id", "lookup_type", "created_at", "id"),
        Index("ix_product_events_org_token", "organization_id", "api_token_id", "created_at", "id"),
        # The score's burst factor: which organizations looked a number up, and when last
        # (queries/score_inputs.py walks it one organization at a time).
        Index(
            "ix_product_events_number_lookups", "number", "action", "organization_id", "created_at"
        ),
        # Retention: the oldest events first, across organizations.
        Index("ix_product_events_created", "created_at"),
    )

    id: uuid.UUID = uuid_pk()
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    # Set when the organization acted through the API: the token that called.
    api_token_id: uuid.UUID | None = Field(default=None, foreign_key="api_tokens.id")
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    product: EventProduct = Field(sa_type=String(20))
    action: EventAction = Field(sa_type=String(20))
    lookup_type: str | None = Field(default=None, max_length=20)  # billing.LookupType
    number: str | None = Field(default=None, max_length=TYPED_NUMBER_WIDTH)
    destination: str | None = Field(default=None, max_length=TYPED_NUMBER_WIDTH)
    result: str | None = Field(default=None, max_length=200)
    score_millis: int | None = None
    cost_micros: int = Field(default=0, sa_type=BigInteger)
    latency_ms: int | None = None
    status: EventStatus = Field(default=EventStatus.OK, sa_type=String(10))


class ProductEventDaily(SQLModel, table=True):
    """Product events per day (billing time zone), by product, action, lookup type (``""``
    when none) and status: one UPSERT per event."""

    __tablename__ = "product_events_daily"

    organization_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("organizations.id"), primary_key=True)
    )
    day: date = Field(sa_column=Column(Date, primary_key=True))
    product: str = Field(sa_column=Column(String(20), primary_key=True))
    action: str = Field(sa_column=Column(String(20), primary_key=True))
    lookup_type: str = Field(sa_column=Column(String(20), primary_key=True))
    status: str = Field(sa_column=Column(String(10), primary_key=True))
    events: int = Field(default=0, sa_type=BigInteger)
    cost_micros: int = Field(default=0, sa_type=BigInteger)
    # Their sum: the mean is latency_ms ÷ events.
    latency_ms: int = Field(default=0, sa_type=BigInteger)


class NumberScore(SQLModel, table=True):
    """A registered number's score on a day (the last one computed that day): its history."""

    __tablename__ = "number_scores"

    organization_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("organizations.id"), primary_key=True)
    )
    number: str = Field(sa_column=Column(String(E164_WIDTH), primary_key=True))
    day: date = Field(sa_column=Column(Date, primary_key=True))
    score_millis: int = Field(sa_column=Column(Integer, nullable=False))


# --- Ownership and its proof ---------------------------------------------------------------


class DisputeStatus(StrEnum):
    OPEN = "open"
    DECIDED = "decided"
    WITHDRAWN = "withdrawn"


class DecidedBy(StrEnum):
    CODE = "code"  # one side proved the number is theirs with a one-time code
    STAFF = "staff"  # SIPSTACK staff decided, with a reason
    WITHDRAWAL = "withdrawal"  # the claimant took its registration back


class OwnershipDispute(SQLModel, table=True):
    """Two organizations' claims to one number: the holder's active profile and the
    claimant's pending one. Decided by a one-time code sent to the number, or by staff; the
    loser's profile is removed (the profiles' ids stay here, as the history)."""

    __tablename__ = "ownership_disputes"
    __table_args__ = (
        Index("ix_ownership_disputes_holder", "holder_organization_id", "opened_at", "id"),
        Index("ix_ownership_disputes_claimant", "claimant_organization_id", "opened_at", "id"),
        Index("ix_ownership_disputes_status", "status", "opened_at", "id"),
        Index("ix_ownership_disputes_opened", "opened_at", "id"),
        Index("ix_ownership_disputes_number", "number", "status"),
    )

    id: uuid.UUID = uuid_pk()
    number: str = Field(max_length=E164_WIDTH)
    holder_organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    holder_profile_id: uuid.UUID | None = None
    claimant_organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    claimant_profile_id: uuid.UUID | None = None
    status: DisputeStatus = Field(default=DisputeStatus.OPEN, sa_type=String(10))
    winner_organization_id: uuid.UUID | None = Field(default=None, foreign_key="organizations.id")
    decided_by: DecidedBy | None = Field(default=None, sa_type=String(12))
    reason: str | None = Field(default=None, max_length=300)
    opened_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    decided_at: datetime | None = optional_time_field()


class DisputeParty(SQLModel, table=True):
    """An organization's side in a dispute (``holder`` or ``claimant``): what its list of
    disputes reads, by its own index, whichever side it is on."""

    __tablename__ = "dispute_parties"
    __table_args__ = (
        Index("ix_dispute_parties_org_opened", "organization_id", "opened_at", "dispute_id"),
        Index(
            "ix_dispute_parties_org_status", "organization_id", "status", "opened_at", "dispute_id"
        ),
    )

    organization_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("organizations.id"), primary_key=True)
    )
    dispute_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("ownership_disputes.id"), primary_key=True)
    )
    side: str = Field(max_length=10)
    # The dispute's status, kept with it, so that the list's status filter reads this index.
    status: DisputeStatus = Field(default=DisputeStatus.OPEN, sa_type=String(10))
    opened_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class DisputeEvent(SQLModel, table=True):
    """One step of a dispute's history, in order: opened, a code sent, a wrong code, proven,
    decided, withdrawn."""

    __tablename__ = "dispute_events"
    # Steps in the order they happened: several may share an instant.
    __table_args__ = (UniqueConstraint("dispute_id", "position"),)

    id: uuid.UUID = uuid_pk()
    dispute_id: uuid.UUID = Field(foreign_key="ownership_disputes.id")
    position: int
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    organization_id: uuid.UUID | None = Field(default=None, foreign_key="organizations.id")
    user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    kind: str = Field(max_length=30)
    detail: str = Field(max_length=300)


class VerificationCode(SQLModel, table=True):
    """A one-time code sent to a number to prove a profile's ownership: kept only as a
    digest, valid for a few minutes and a few tries; one live code per profile."""

    __tablename__ = "verification_codes"

    profile_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("whois_profiles.id", ondelete="CASCADE"), primary_key=True
        )
    )
    code_digest: str = Field(max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    attempts_left: int
    sent_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    sends_today: int = 1  # codes sent since ``sends_day`` began
    sends_day: date = Field(sa_column=Column(Date, nullable=False))


__all__ = [
    "CallPurpose",
    "CommunityReport",
    "DecidedBy",
    "DisputeEvent",
    "DisputeParty",
    "DisputeStatus",
    "OwnershipDispute",
    "VerificationCode",
    "EventAction",
    "EventProduct",
    "EventStatus",
    "NumberScore",
    "ProductEvent",
    "ProductEventDaily",
    "ProfileStatus",
    "ReportKind",
    "WhoisProfile",
]
