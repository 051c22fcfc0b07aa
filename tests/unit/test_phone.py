"""The channel of one-time codes: the outbox in development; a signed JSON POST to the
deployment's webhook; refusals that say why (no webhook address, a webhook that fails, the
outbox in production)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from portal_core.mail import outbox_messages
from portal_core.phone import PhoneChannelUnavailable, send_code_message
from portal_core.settings import Settings

SECRET = "webhook-signing-secret"


class _Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200


@pytest.fixture
def receiver() -> Iterator[tuple[_Receiver, str]]:
    state = _Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append((dict(self.headers), body))
            self.send_response(state.status)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_port}/codes"
    finally:
        server.shutdown()


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(outbox_dir=tmp_path / "outbox", **values)  # type: ignore[arg-type]


def test_in_development_the_code_lands_in_the_outbox(tmp_path: Path) -> None:
    send_code_message("+14169671111", "Your code is 123456.", _settings(tmp_path))
    [message] = outbox_messages(tmp_path / "outbox")
    assert message["X-Phone-Number"] == "+14169671111"
    assert message["To"] == "phone-14169671111@phone.sipstack.test"
    assert message.get_content().strip() == "Your code is 123456."


def test_the_webhook_receives_the_number_and_message_signed(
    tmp_path: Path, receiver: tuple[_Receiver, str]
) -> None:
    state, url = receiver
    settings = _settings(
        tmp_path,
        verification_channel="webhook",
        verification_webhook_url=url,
        verification_webhook_secret=SECRET,
    )
    send_code_message("+14169671111", "Your code is 123456.", settings)
    [(headers, body)] = state.received
    assert json.loads(body) == {"number": "+14169671111", "message": "Your code is 123456."}
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Portal-Signature"] == f"sha256={expected}"
    assert not (tmp_path / "outbox").exists()


def test_a_failing_webhook_is_said_and_raised(
    tmp_path: Path, receiver: tuple[_Receiver, str]
) -> None:
    state, url = receiver
    state.status = 500
    settings = _settings(tmp_path, verification_channel="webhook", verification_webhook_url=url)
    with pytest.raises(PhoneChannelUnavailable) as failed:
        send_code_message("+14169671111", "Your code is 123456.", settings)
    assert "could not be sent" in failed.value.message


def test_a_webhook_without_an_address_or_a_server_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PhoneChannelUnavailable) as no_address:
        send_code_message("+1", "x", _settings(tmp_path, verification_channel="webhook"))
    assert "VERIFICATION_WEBHOOK_URL" in no_address.value.message
    closed = _settings(
        tmp_path,
        verification_channel="webhook",
        verification_webhook_url="http://127.0.0.1:9/codes",
    )
    with pytest.raises(PhoneChannelUnavailable) as unreachable:
        send_code_message("+1", "x", closed)
    assert "did not answer" in unreachable.value.message


def test_the_outbox_is_refused_in_production(tmp_path: Path) -> None:
    production = _settings(tmp_path, portal_env="production", cookie_key="k" * 40)
    with pytest.raises(PhoneChannelUnavailable):
        send_code_message("+14169671111", "Your code is 123456.", production)
    assert not (tmp_path / "outbox").exists()
