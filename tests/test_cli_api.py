"""The REST API's commands: ``api`` refuses bad options before serving (the served API has
its own test, tests/api/test_examples.py), ``rate-limits prune`` deletes ended windows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal_core.__main__ import main
from portal_core.models.base import utcnow
from portal_core.models.rate_limits import RateLimitWindow
from portal_core.services import rate_limits
from tests.services.support import count
from tests.test_cli import database  # noqa: F401  (the migrated SQLite file the commands use)


@pytest.mark.parametrize(
    ("options", "message"),
    [(["--port", "0"], "--port: a port from 1 to 65535."), (["--workers", "0"], "at least 1")],
)
def test_api_refuses_bad_options_and_serves_nothing(options, message, capsys) -> None:
    assert main(["api", *options]) == 2
    assert message in capsys.readouterr().err


def test_rate_limits_prune_deletes_the_ended_windows(database, capsys) -> None:  # noqa: F811
    now = utcnow()
    rate_limits.count_failure(database, address="203.0.113.9", now=now - timedelta(hours=3))
    rate_limits.count_failure(database, address="203.0.113.9", now=now)
    assert main(["rate-limits", "prune"]) == 0
    assert "Rate limits: 1 ended window(s) deleted." in capsys.readouterr().out
    assert count(database, RateLimitWindow) == 1
