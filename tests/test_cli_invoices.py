"""``python -m portal_core invoices run``, in-process against a migrated SQLite file: refuses
a bad or unfinished period in one line, defaults to last month, shows progress and a summary,
and a second run creates nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import col, func, select

from portal_core import db
from portal_core.__main__ import main
from portal_core.models.accounts import Organization
from portal_core.models.billing import Invoice
from portal_core.services.invoices import last_month
from tests.factories import change_subscription, make_organization, record_usage

TORONTO = ZoneInfo("America/Toronto")


def _organization(engine: Engine, *, plan: str, province: str | None = "ON") -> Organization:
    with db.write_session(engine) as session:
        organization = make_organization(session, province=province)
        change_subscription(
            session, organization, plan_code=plan, term_started_at=datetime(2020, 1, 1, tzinfo=UTC)
        )
    return organization


def _use(engine: Engine, organization: Organization, period: str, requests: int) -> None:
    with db.write_session(engine) as session:
        record_usage(session, organization.id, period, requests, made_at=datetime.now(UTC))


def _invoiced_periods(engine: Engine) -> list[str]:
    with db.read_session(engine) as session:
        return list(session.exec(select(Invoice.period).order_by(col(Invoice.period))).all())


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("2026-13", "period: “2026-13” is not a month: use YYYY-MM, as in 2026-10."),
        ("26-10", "period: “26-10” is not a month"),
        ("2999-01", "period: 2999-01 has not ended yet in the billing time zone"),
    ],
    ids=["no-such-month", "malformed", "future"],
)
def test_a_bad_or_unfinished_period_is_refused_in_one_line_with_status_2(
    database, capsys, period, message
):
    _organization(database, plan="starter")

    assert main(["invoices", "run", "--period", period]) == 2

    printed = capsys.readouterr()
    assert printed.err.startswith(message)
    assert printed.err.count("\n") == 1
    assert _invoiced_periods(database) == []


def test_the_current_month_is_refused_because_it_has_not_ended(database, capsys):
    this_month = datetime.now(TORONTO).strftime("%Y-%m")

    assert main(["invoices", "run", "--period", this_month]) == 2

    assert "has not ended yet" in capsys.readouterr().err


def test_without_a_period_it_invoices_last_month(database, capsys):
    period = last_month(TORONTO, datetime.now(UTC)).code
    organization = _organization(database, plan="starter")
    _use(database, organization, period, 10)

    assert main(["invoices", "run"]) == 0

    assert _invoiced_periods(database) == [period]
    assert f"Invoicing {period}: 1 of 1 organizations" in capsys.readouterr().out


def test_it_shows_progress_and_a_summary_and_a_second_run_creates_nothing(database, capsys):
    for _ in range(2):
        _organization(database, plan="starter")
    _organization(database, plan="free")

    assert main(["invoices", "run", "--period", "2025-10"]) == 0

    out = capsys.readouterr().out
    assert out.splitlines() == [
        "Invoicing 2025-10: 0 of 3 organizations",
        "Invoicing 2025-10: 1 of 3 organizations",
        "Invoicing 2025-10: 2 of 3 organizations",
        "Invoicing 2025-10: 3 of 3 organizations",
        "Invoices for 2025-10: 2 created, 0 already invoiced, 1 with nothing to invoice, "
        "0 failed; total invoiced $67.80.",
    ]

    assert main(["invoices", "run", "--period", "2025-10"]) == 0

    assert (
        "Invoices for 2025-10: 0 created, 2 already invoiced, 1 with nothing to invoice, "
        "0 failed; total invoiced $0.00." in capsys.readouterr().out
    )
    with db.read_session(database) as session:
        assert session.exec(select(func.count()).select_from(Invoice)).one() == 2


def test_an_organization_that_cannot_be_invoiced_is_named_and_the_status_is_1(database, capsys):
    broken = _organization(database, plan="starter", province="ZZ")
    _organization(database, plan="starter")

    assert main(["invoices", "run", "--period", "2025-10"]) == 1

    printed = capsys.readouterr()
    assert "1 created, 0 already invoiced, 0 with nothing to invoice, 1 failed" in printed.out
    assert f"Not invoiced: {broken.name} ({broken.id}):" in printed.err
    assert "Run the same command again" in printed.err
