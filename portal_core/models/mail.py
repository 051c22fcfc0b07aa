"""The mail queue: every e-mail the portal sends, from the moment it is decided (in the unit
of work that decides it) until it is sent or given up.

``next_attempt_at`` alone says what is due: a new mail is due at once; a sender claims a mail
by moving it a lease ahead (so another sender skips it while it is being sent), and a failure
moves it a back-off ahead; a sent or given-up mail has none, and is never due again. Each
claim adds one to ``attempts``, which therefore names the claim: whoever finishes an attempt
changes the row only if nobody claimed it since.

The body, which may carry a single-use link, is erased once the mail is sent; the address
and the subject stay, so staff can tell what was sent to whom and when.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from portal_core.models.base import created_at_field, optional_time_field, uuid_pk


class QueuedMail(SQLModel, table=True):
    __tablename__ = "mail_queue"

    id: uuid.UUID = uuid_pk()
    to_address: str = Field(max_length=254)
    subject: str = Field(sa_type=Text)
    # None once sent.
    body: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = created_at_field()
    # When a sender may take it next; None once sent or given up.
    next_attempt_at: datetime | None = optional_time_field(index=True)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = optional_time_field()
    # When it was given up, after the last attempt failed.
    failed_at: datetime | None = optional_time_field()
