"""API tokens under real concurrency: one name created from several tabs at once makes one
token and a clear refusal for the others; last-used noted from many threads loses no token's
latest time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from portal_core import db
from portal_core.errors import ValidationFailed
from portal_core.models.api_tokens import ApiToken
from portal_core.services import api_tokens
from tests.services.products_support import member
from tests.services.support import count, fetch, race

NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)


def test_one_name_created_five_times_at_once_makes_one_token(concurrent_engine) -> None:
    owner = member(concurrent_engine)

    def create() -> str:
        try:
            with db.write_session(concurrent_engine) as session:
                api_tokens.create(session, owner.actor, name="PBX", scopes=("lookups",), now=NOW)
        except ValidationFailed as refused:
            return refused.errors["name"]
        return "created"

    outcomes = race([create] * 5, threads=5)

    assert sorted(outcomes) == ["A token named “PBX” already exists. Choose another name."] * 4 + [
        "created"
    ]
    assert count(concurrent_engine, ApiToken) == 1


def test_last_used_noted_from_many_threads_keeps_each_tokens_latest_time(
    concurrent_engine,
) -> None:
    api_tokens._last_used.clear()
    owner = member(concurrent_engine)
    with db.write_session(concurrent_engine) as session:
        ids = [
            api_tokens.create(
                session, owner.actor, name=name, scopes=("lookups",), now=NOW
            ).token.id
            for name in ("A", "B", "C")
        ]
    start = threading.Barrier(6)

    def note(offset: int) -> None:
        start.wait(timeout=30)
        for second in range(offset, 600, 6):
            for token_id in ids:
                api_tokens.note_used(token_id, NOW + timedelta(seconds=second))

    threads = [threading.Thread(target=note, args=(offset,)) for offset in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert api_tokens.flush_last_used(concurrent_engine) == 3
    assert [fetch(concurrent_engine, ApiToken, token_id).last_used_at for token_id in ids] == [
        NOW + timedelta(seconds=599)
    ] * 3
