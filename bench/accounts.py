"""Login at 10,000 users, and the Dashboard rendered by AppTest, at 1,000 organizations.

Login is compared, in the same run, with what streamlit-authenticator would have us do on
every rerun: load every user into its credentials dict. Both include the work the attempt
needs; the login figure is dominated by bcrypt (cost 12, by design ≈ 0.25 s).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import select

from bench import harness, scale
from bench.harness import Result, measure
from portal_core import db
from portal_core.models.accounts import User
from portal_core.services import auth, sessions

ORGANIZATIONS = 1_000
USERS = 10_000


def _naive_credentials(engine: Engine) -> dict[str, dict[str, dict[str, str]]]:
    with db.read_session(engine) as session:
        users = session.exec(select(User)).all()
        return {
            "usernames": {
                user.email: {"email": user.email, "name": user.name, "password": user.password_hash}
                for user in users
            }
        }


def run(engine: Engine, owners: list[str]) -> list[Result]:
    email = owners[len(owners) // 2]

    def log_in() -> None:
        with db.write_session(engine) as session:
            auth.log_in(session, email.upper(), scale.PASSWORD, ip_address="198.51.100.9")

    with db.write_session(engine) as session:
        handle = auth.log_in(session, email, scale.PASSWORD, ip_address="198.51.100.10").handle
    results = [
        measure(
            f"login, {USERS:,} users (one user read + bcrypt)",
            log_in,
            note=f"bcrypt cost {os.environ.get('BCRYPT_ROUNDS', '12')}",
        ),
        measure(
            f"per page run: server-side session check, {USERS:,} users",
            lambda: _resolve(engine, handle),
        ),
        measure(
            f"naive per page run: all {USERS:,} users into a credentials dict",
            lambda: _naive_credentials(engine),
        ),
        _dashboard(handle),
    ]
    return results


def _resolve(engine: Engine, handle: str) -> None:
    with db.read_session(engine) as session:
        if sessions.resolve(session, handle) is None:
            raise RuntimeError("the benchmark's session should be alive")


def _dashboard(handle: str) -> Result:
    return measure(
        f"dashboard render (AppTest), {ORGANIZATIONS:,} orgs", lambda: harness.open_page(handle)
    )


def temporary_sqlite_url() -> str:
    folder = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    return f"sqlite:///{folder / 'bench.db'}"
