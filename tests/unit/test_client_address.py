"""The address the password throttle counts: the websocket's peer as uvicorn resolves it.

Each case runs a connection through uvicorn's own configuration (as ``make run`` builds it,
``FORWARDED_ALLOW_IPS`` included) into Streamlit's client context, then asks the portal's
``client_address``: a forwarded address counts only when a proxy uvicorn trusts sent it.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from streamlit.runtime import context as streamlit_context
from streamlit.web.server.starlette.starlette_websocket import StarletteClientContext

from portal_core.ui.auth import client_address

BROWSER = "198.51.100.7"


def _address_seen(
    monkeypatch: pytest.MonkeyPatch, *, peer: str, forwarded_for: str | None
) -> str | None:
    contexts: list[StarletteClientContext] = []

    async def portal(scope: Scope, receive: Receive, send: Send) -> None:
        contexts.append(StarletteClientContext(WebSocket(scope, receive, send)))

    config = uvicorn.Config(portal)
    config.load()
    headers = [(b"host", b"portal.example")]
    if forwarded_for is not None:
        headers.append((b"x-forwarded-for", forwarded_for.encode()))
    scope = {
        "type": "websocket",
        "path": "/_stcore/stream",
        "headers": headers,
        "client": (peer, 50000),
        "scheme": "ws",
        "query_string": b"",
    }

    async def nothing() -> dict[str, str]:
        return {"type": "websocket.disconnect"}

    async def ignore(_message: object) -> None:
        return None

    # On a thread of its own: the browser tests' Playwright keeps an event loop running here.
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, config.loaded_app(scope, nothing, ignore)).result()
    (context,) = contexts
    monkeypatch.setattr(streamlit_context, "_get_client_context", lambda: context)
    return client_address()


def test_a_direct_connection_counts_its_own_address(monkeypatch):
    assert _address_seen(monkeypatch, peer="203.0.113.9", forwarded_for=None) == "203.0.113.9"


def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(monkeypatch):
    seen = _address_seen(monkeypatch, peer="203.0.113.9", forwarded_for=BROWSER)

    assert seen == "203.0.113.9"


def test_a_local_proxy_is_trusted_by_default(monkeypatch):
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)

    assert _address_seen(monkeypatch, peer="127.0.0.1", forwarded_for=BROWSER) == BROWSER


def test_a_proxy_named_in_forwarded_allow_ips_is_trusted(monkeypatch):
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.2")

    assert _address_seen(monkeypatch, peer="10.0.0.2", forwarded_for=BROWSER) == BROWSER


def test_a_proxy_left_out_of_forwarded_allow_ips_is_not(monkeypatch):
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.2")

    assert _address_seen(monkeypatch, peer="10.0.0.3", forwarded_for=BROWSER) == "10.0.0.3"


def test_a_loopback_peer_that_forwards_nothing_has_no_address(monkeypatch):
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)

    assert _address_seen(monkeypatch, peer="127.0.0.1", forwarded_for=None) is None
