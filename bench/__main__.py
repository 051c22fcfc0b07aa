"""``python -m bench``: seed a fresh database at scale, time the portal's paths, print medians.

``BENCH_DATABASE_URL`` points the run at another database (an empty PostgreSQL one, say);
by default a temporary SQLite file is used.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

from sqlalchemy import Engine

from bench import (
    accounts,
    api,
    dashboard,
    invoices,
    meter,
    products,
    scale,
    signin,
    staff_list,
    transactions,
)
from bench.harness import Result, report
from portal_core import db
from portal_core.services import auth, staff
from portal_core.services.sessions import SessionView
from portal_core.settings import get_settings

STAFF_EMAIL = "bench-staff@sipstack.test"


def _staff_session(engine: Engine) -> SessionView:
    with db.write_session(engine) as session:
        staff.create_staff(session, STAFF_EMAIL, "Bench Staff", scale.PASSWORD)
    with db.write_session(engine) as session:
        return auth.log_in(session, STAFF_EMAIL, scale.PASSWORD, ip_address="198.51.100.20").view


def main() -> None:
    url = os.environ.get("BENCH_DATABASE_URL") or accounts.temporary_sqlite_url()
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("PORTAL_ENV", "test")
    os.environ.setdefault("COOKIE_KEY", "benchmark-only-cookie-key-0123456789abcdef")
    os.environ.setdefault("TOKEN_KEYS", "benchmark-only-token-key-0123456789abcdef")
    os.environ.setdefault("SEALING_KEYS", "benchmark-only-sealing-key-0123456789abcdef")
    get_settings.cache_clear()
    db.migrate(url)
    engine = db.create_engine(url)
    owners = scale.seed(engine, organizations=accounts.ORGANIZATIONS, users=accounts.USERS)
    staff_view = _staff_session(engine)
    suites: dict[str, Callable[[], list[Result]]] = {
        "accounts": lambda: accounts.run(engine, owners),
        "staff": lambda: staff_list.run(engine, staff_view.actor, staff_view.handle),
        "meter": lambda: meter.run(engine),
        "invoices": lambda: invoices.run(engine),
        "transactions": lambda: transactions.run(engine),
        "dashboard": lambda: dashboard.run(engine),
        "products": lambda: products.run(engine),
        "signin": signin.run,
        "api": lambda: api.run(engine),
        # ``import`` is a keyword of Python's, so the module is imported by its name.
        "import": lambda: importlib.import_module("bench.import").run(engine),
    }
    chosen = sys.argv[1:] or list(suites)
    unknown = [name for name in chosen if name not in suites]
    if unknown:
        raise SystemExit(
            f"No benchmark named {', '.join(unknown)}: choose from {', '.join(suites)}."
        )
    results = [result for name in chosen for result in suites[name]()]
    report(
        results,
        title=f"SIPSTACK portal benchmarks on {url.split(':')[0]} "
        "(medians of 5 runs unless the row says otherwise)",
    )


if __name__ == "__main__":
    main()
