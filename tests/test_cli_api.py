"""The REST API's commands: ``api`` refuses bad options before serving (the served API has
its own test, tests/api/test_examples.py) and serves every connection with Nagle's algorithm
off, ``rate-limits prune`` deletes ended windows."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import pytest
import uvicorn
from uvicorn.importer import import_from_string
from uvicorn.protocols.http.h11_impl import H11Protocol

from portal_core import db
from portal_core.__main__ import main
from portal_core.api.serving import NoDelayH11Protocol
from portal_core.models.base import utcnow
from portal_core.models.rate_limits import RateLimitWindow
from portal_core.services import rate_limits
from tests.services.support import count


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


def test_api_serves_with_the_protocol_that_turns_nagle_off(monkeypatch) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr(db, "migrate", lambda: None)
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(options, app=app))
    assert main(["api", "--port", "8123", "--workers", "2"]) == 0
    assert served["workers"] == 2 and served["port"] == 8123
    assert import_from_string(served["http"]) is NoDelayH11Protocol


class _Transport:
    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection

    def get_extra_info(self, name: str) -> socket.socket | None:
        return self.connection if name == "socket" else None


def test_each_accepted_connection_has_nagle_off(monkeypatch) -> None:
    # With several workers, asyncio leaves an accepted connection as the kernel made it:
    # Nagle's algorithm on, so an answer's body waits for the client's delayed ACK.
    opened: list[object] = []
    monkeypatch.setattr(
        H11Protocol, "connection_made", lambda self, transport: opened.append(transport)
    )
    with socket.create_server(("127.0.0.1", 0)) as listener:
        with socket.create_connection(listener.getsockname()):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
                transport = _Transport(accepted)
                protocol = NoDelayH11Protocol.__new__(NoDelayH11Protocol)
                protocol.connection_made(transport)  # type: ignore[arg-type]
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    assert opened == [transport]  # uvicorn's own set-up still runs
