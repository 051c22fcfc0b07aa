"""API Tokens' read side: the organization's tokens with their status at a moment, another
organization's never; and Logs naming the token a program called with, filtered by it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from portal_core import db
from portal_core.errors import NotFound, PermissionDenied
from portal_core.models.accounts import Role, User
from portal_core.models.products import EventAction, EventProduct
from portal_core.queries import api_tokens as queries
from portal_core.queries import logs
from portal_core.queries.listing import ListQuery, fetch_page
from portal_core.services import api_tokens, product_events
from tests.services.products_support import Member, member

NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)


def _mint(engine: Engine, who: Member, name: str, **options: object):
    with db.write_session(engine) as session:
        return api_tokens.create(
            session,
            who.actor,
            name=name,
            scopes=options.pop("scopes", ("lookups",)),  # type: ignore[arg-type]
            now=options.pop("now", NOW),  # type: ignore[arg-type]
            **options,  # type: ignore[arg-type]
        ).token


def _name(engine: Engine, who: Member) -> str:
    with db.read_session(engine) as session:
        user = session.get(User, who.actor.user_id)
        assert user is not None
        return user.name


def test_the_list_reads_each_tokens_status_at_the_moment_given(engine) -> None:
    owner = member(engine)
    live = _mint(engine, owner, "Live", scopes=("whois:read", "lookups"))
    soon = _mint(engine, owner, "Soon", expires_days=1, test=True)
    gone = _mint(engine, owner, "Gone")
    with db.write_session(engine) as session:
        api_tokens.revoke(session, owner.actor, gone.id, now=NOW)
    _mint(engine, member(engine), "Theirs")

    listing = queries.tokens_listing(owner.actor, now=NOW + timedelta(days=2))
    with db.read_session(engine) as session:
        page = fetch_page(session, listing, ListQuery(sort="created", descending=False))
    columns = {column.key: column for column in listing.columns}
    rows = {
        row["name"]: {
            key: columns[key].shown(value) for key, value in row.items() if key in columns
        }
        for row in page.rows
    }
    assert set(rows) == {"Live", "Soon", "Gone"}
    assert {name: row["status"] for name, row in rows.items()} == {
        "Live": "Active",
        "Soon": "Expired",
        "Gone": "Revoked",
    }
    assert rows["Live"]["scopes"] == "lookups, whois:read"
    assert rows["Soon"]["kind"] == "Test" and rows["Live"]["kind"] == "Live"
    assert rows["Live"]["key"] == live.key
    assert {row["creator"] for row in rows.values()} == {_name(engine, owner)}

    with db.read_session(engine) as session:
        opened = queries.token(session, owner.actor, soon.id, now=NOW)
        assert opened.status == queries.ACTIVE  # not expired yet at NOW
        assert queries.has_tokens(session, owner.actor)


def test_another_organizations_token_is_not_found_and_viewers_read_none(engine) -> None:
    owner = member(engine)
    token = _mint(engine, owner, "PBX")
    stranger = member(engine)
    viewer = member(engine, role=Role.VIEWER, organization_id=owner.organization_id)
    with db.read_session(engine) as session:
        with pytest.raises(NotFound):
            queries.token(session, stranger.actor, token.id, now=NOW)
        assert not queries.has_tokens(session, stranger.actor)
        with pytest.raises(PermissionDenied):
            queries.token(session, viewer.actor, token.id, now=NOW)
    with pytest.raises(PermissionDenied):
        queries.tokens_listing(viewer.actor, now=NOW)


def test_logs_name_the_token_and_filter_by_it(engine) -> None:
    owner = member(engine)
    first = _mint(engine, owner, "PBX")
    with db.write_session(engine) as session:
        api_tokens.revoke(session, owner.actor, first.id, now=NOW)
    second = _mint(
        engine, owner, "PBX", now=NOW + timedelta(hours=1)
    )  # the name again, once the first is revoked
    with db.write_connection(engine) as connection:
        for token_id, number in (
            (first.id, "+16135550191"),
            (second.id, "+16135550192"),
            (None, "+16135550193"),
        ):
            product_events.record(
                connection,
                product_events.Event(
                    organization_id=owner.organization_id,
                    product=EventProduct.REPORTS,
                    action=EventAction.REPORT,
                    user_id=owner.actor.user_id,
                    api_token_id=token_id,
                    number=number,
                ),
                now=NOW,
            )
    with db.read_session(engine) as session:
        choices = logs.event_tokens(session, owner.actor)
        assert [choice.label for choice in choices] == [
            f"PBX ({first.key})",
            f"PBX ({second.key})",
        ]
        listing = logs.events(owner.actor, tokens=choices)
        every = fetch_page(session, listing, ListQuery())
        by_second = fetch_page(session, listing, ListQuery(filters={"token": str(second.id)}))
        opened = logs.event(session, owner.actor, by_second.keys[0])
    who = {row["numbers"]: row["user"] for row in every.rows}
    assert who["+16135550191"] == who["+16135550192"] == "PBX (API token)"
    assert who["+16135550193"] == _name(engine, owner)
    assert [row["numbers"] for row in by_second.rows] == ["+16135550192"]
    assert (opened.token_name, opened.user_name) == ("PBX", None)
