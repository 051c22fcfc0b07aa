"""An API process served alone writes its tokens' last use on its own timer: it runs no
scheduler, and a call flow's token would otherwise show "never used" until the process
stops."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from portal_core.api import app as api_module
from portal_core.models.api_tokens import ApiToken
from tests.api.support import NOW, Clock, api_over, mint
from tests.services.support import fetch


def test_an_api_served_alone_writes_last_use_while_it_runs(engine, monkeypatch) -> None:
    monkeypatch.setattr(api_module, "LAST_USED_WRITE_SECONDS", 0.05, raising=False)
    token = mint(engine)
    with TestClient(api_over(engine, Clock()), raise_server_exceptions=False) as client:
        answer = client.get("/v1/smart-cnam/+14165550123", headers=token.bearer)
        assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 30
        while fetch(engine, ApiToken, token.new.token.id).last_used_at is None:
            assert time.monotonic() < deadline, "the last use was never written while serving"
            time.sleep(0.05)
    assert fetch(engine, ApiToken, token.new.token.id).last_used_at == NOW
