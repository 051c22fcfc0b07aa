"""Helpers for the service tests: signing up through the services, reading the outbox,
metering a request, and racing threads (one session each) against the ``concurrent_engine``.

Every test runs with ``OUTBOX_DIR`` pointed at its own temporary folder (tests/conftest.py),
so the outbox holds exactly the mail that the test caused.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, func
from sqlmodel import SQLModel, select

from portal_core import db
from portal_core.mail import outbox_messages
from portal_core.models.accounts import User
from portal_core.models.billing import LookupType, Product
from portal_core.services import accounts, auth
from portal_core.services.accounts import SignUp
from portal_core.services.meter import MeteredRequest, meter_request
from portal_core.services.validation import normalize_email

# Strong by zxcvbn's judgement and unrelated to any name a test uses.
STRONG_PASSWORD = "Quarry-Velvet-Comet-31"
OTHER_STRONG_PASSWORD = "Saffron-Trellis-Nimbus-58"

Row = TypeVar("Row", bound=SQLModel)
Result = TypeVar("Result")

_TOKEN = re.compile(r"\?token=([A-Za-z0-9_\-]+)")


def outbox(folder: Path) -> list[EmailMessage]:
    """Every message in the outbox, oldest first (none when nothing was ever sent)."""
    return outbox_messages(folder) if folder.exists() else []


def mail_to(folder: Path, address: str) -> list[EmailMessage]:
    return [message for message in outbox(folder) if message["To"] == address]


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def token_in(message: EmailMessage) -> str:
    """The secret of the one link in a message."""
    found = _TOKEN.findall(body_of(message))
    assert len(found) == 1, f"expected one link in: {body_of(message)!r}"
    return str(found[0])


def sign_up_form(**changes: Any) -> SignUp:
    values: dict[str, Any] = {
        "name": "Marguerite Okonkwo",
        "email": f"marguerite.{uuid.uuid4().hex[:8]}@example.com",
        "company": "Northwind Voice",
        "password": STRONG_PASSWORD,
        "accepted_terms": True,
    }
    values.update(changes)
    return SignUp(**values)


def sign_up(engine: Engine, form: SignUp | None = None, *, now: datetime | None = None) -> User:
    """Sign up through the service and return the new user, as stored."""
    form = form or sign_up_form()
    with db.write_session(engine) as session:
        accounts.sign_up(session, form, now=now)
    user = user_by_email(engine, form.email)
    assert user is not None
    return user


def verify(engine: Engine, secret: str, *, now: datetime | None = None) -> None:
    with db.write_session(engine) as session:
        accounts.verify_email(session, secret, now=now)


def user_by_email(engine: Engine, email: str) -> User | None:
    with db.read_session(engine) as session:
        return session.exec(select(User).where(User.email == normalize_email(email))).first()


def fetch(engine: Engine, model: type[Row], key: Any) -> Row:
    """The row of ``model`` under primary key ``key``, as stored now."""
    with db.read_session(engine) as session:
        row = session.get(model, key)
    assert row is not None, f"no {model.__name__} {key}"
    return row


def reload_user(engine: Engine, user_id: uuid.UUID) -> User:
    with db.read_session(engine) as session:
        user = session.get(User, user_id)
        assert user is not None
        return user


def count(engine: Engine, model: type[SQLModel], *conditions: Any) -> int:
    with db.read_session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*conditions)).one())


def log_in(
    engine: Engine,
    email: str,
    password: str,
    *,
    ip_address: str = "198.51.100.10",
    now: datetime | None = None,
) -> auth.LoggedIn:
    with db.write_session(engine) as session:
        return auth.log_in(session, email, password, ip_address=ip_address, now=now)


def race(jobs: list[Callable[[], Result]], *, threads: int) -> list[Result]:
    """Run ``jobs`` on ``threads`` threads, released together by a barrier."""
    start = threading.Barrier(min(threads, len(jobs)))

    def run(job: Callable[[], Result], index: int) -> Result:
        if index < threads:
            start.wait(timeout=30)
        return job()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(run, job, index) for index, job in enumerate(jobs)]
        return [future.result(timeout=120) for future in futures]


def meter_one(
    engine: Engine,
    organization_id: uuid.UUID,
    *,
    lookup_type: LookupType = LookupType.CALLER_ID,
    now: datetime | None = None,
) -> MeteredRequest:
    """One Smart CNAM lookup metered in its own unit of work, as the API meters it."""
    with db.write_connection(engine) as connection:
        return meter_request(
            connection,
            organization_id=organization_id,
            product=Product.SMART_CNAM,
            lookup_type=lookup_type,
            request_key=uuid.uuid4().hex,
            now=now,
        )
