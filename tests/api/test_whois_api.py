"""Whois Profiles over the REST API: the page's rules and services, 404 for any id that is
not one of the organization's (malformed ones too), scopes, test tokens refused, and the CSV
import with its report, written whole or not at all."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import col, select

from portal_core import db
from portal_core.models.products import (
    EventAction,
    OwnershipDispute,
    ProductEvent,
    ProfileStatus,
    WhoisProfile,
)
from portal_core.services import whois
from tests.api.support import MANAGEMENT_SCOPES, mint, problem_of
from tests.services.products_support import member, register
from tests.services.support import count

PROFILES = "/v1/whois/profiles"
ACME = {"number": "+1 416 967 1111", "caller_name": "Acme Support", "line_type": "fixed"}


def _token(engine, **options):
    return mint(engine, scopes=MANAGEMENT_SCOPES, **options)


def _events(engine, action: EventAction) -> list[ProductEvent]:
    with db.read_session(engine) as session:
        return list(session.exec(select(ProductEvent).where(col(ProductEvent.action) == action)))


# --- Register -----------------------------------------------------------------------------


def test_registering_answers_the_profile_and_logs_it_with_the_token(engine, client) -> None:
    token = _token(engine)
    response = client.post(
        PROFILES,
        json={**ACME, "social_links": ["social.example.com/acme"], "monthly_call_volume": 1200},
        headers=token.bearer,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["number"] == {"e164": "+14169671111", "shown": "+1 416-967-1111"}
    assert (body["status"], body["disputed"]) == ("active", False)
    assert body["social_links"] == ["https://social.example.com/acme"]
    assert body["monthly_call_volume"] == 1200
    assert body["score"] == f"{body['score_millis'] / 1000:.3f}"
    assert body["created_at"].endswith("Z")
    [event] = _events(engine, EventAction.REGISTRATION)
    assert event.api_token_id == token.new.token.id and event.user_id is None
    assert response.headers["X-Rate-Limit-Policy"] == "medium"


def test_a_form_error_is_a_422_naming_each_field_and_writes_nothing(engine, client) -> None:
    token = _token(engine)
    response = client.post(
        PROFILES,
        json={"number": "12", "line_type": "fax", "email": "not-an-address"},
        headers=token.bearer,
    )
    errors = problem_of(response, 422)["errors"]
    assert set(errors) == {"number", "caller_name", "line_type", "email"}
    assert "Line type" in errors["line_type"]
    assert count(engine, WhoisProfile) == 0
    unknown = client.post(PROFILES, json={**ACME, "colour": "red"}, headers=token.bearer)
    assert "body.colour" in problem_of(unknown, 422)["errors"]


def test_a_number_already_registered_by_the_organization_is_refused(engine, client) -> None:
    token = _token(engine)
    register(engine, token.owner, "+14169671111")
    refused = client.post(PROFILES, json=ACME, headers=token.bearer)
    assert "already in your Whois Profiles" in problem_of(refused, 422)["errors"]["number"]


def test_a_number_another_organization_holds_waits_pending_with_a_dispute(engine, client):
    holder = member(engine)
    register(engine, holder, "+14169671111")
    token = _token(engine)
    response = client.post(PROFILES, json=ACME, headers=token.bearer)
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["disputed"], body["score"]) == ("pending", True, None)
    assert count(engine, OwnershipDispute) == 1


# --- Read, list ---------------------------------------------------------------------------


def test_the_list_filters_sorts_and_pages_with_the_total(engine, client) -> None:
    token = _token(engine)
    for index in range(12):
        register(engine, token.owner, f"+1416967{1100 + index}", caller_name=f"Line {index:02d}")
    register(engine, token.owner, "+14165550199", caller_name="Zed Private", private=True)
    register(engine, member(engine), "+14165550123", caller_name="Someone Else")
    first = client.get(
        f"{PROFILES}?page_size=10&sort=caller_name&order=asc", headers=token.bearer
    ).json()
    assert (first["total"], first["page"], first["page_size"]) == (13, 1, 10)
    assert [item["caller_name"] for item in first["items"][:2]] == ["Line 00", "Line 01"]
    second = client.get(
        f"{PROFILES}?page_size=10&page=2&sort=caller_name&order=asc", headers=token.bearer
    ).json()
    assert [item["caller_name"] for item in second["items"]] == [
        "Line 10",
        "Line 11",
        "Zed Private",
    ]
    everything = client.get(f"{PROFILES}?page_size=100", headers=token.bearer).json()
    assert len(everything["items"]) == 13 and everything["page_size"] == 100
    private = client.get(f"{PROFILES}?private=yes", headers=token.bearer).json()
    assert [item["caller_name"] for item in private["items"]] == ["Zed Private"]
    assert client.get(f"{PROFILES}?search=line 1", headers=token.bearer).json()["total"] == 2
    assert client.get(f"{PROFILES}?search=else", headers=token.bearer).json()["total"] == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page_size=25", "page_size"),
        ("line_type=fax", "line_type"),
        ("band=Great", "band"),
        ("sort=colour", "query.sort"),
        ("page=0", "query.page"),
    ],
)
def test_a_bad_list_parameter_is_a_422_naming_it(engine, client, query, field) -> None:
    token = _token(engine)
    refused = client.get(f"{PROFILES}?{query}", headers=token.bearer)
    assert field in problem_of(refused, 422)["errors"]


def test_a_profile_is_read_by_its_id(engine, client) -> None:
    token = _token(engine)
    profile = register(engine, token.owner, "+14169671111", caller_name="Acme")
    body = client.get(f"{PROFILES}/{profile.id}", headers=token.bearer).json()
    assert (body["id"], body["caller_name"], body["verified"]) == (str(profile.id), "Acme", False)


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("kind", ["another organization's", "unknown", "malformed", "numeric"])
def test_an_id_that_names_none_of_the_organizations_profiles_is_a_404(
    engine, client, method, kind
) -> None:
    token = _token(engine)
    theirs = register(engine, member(engine), "+14165550123", caller_name="Theirs")
    profile_id = {
        "another organization's": str(theirs.id),
        "unknown": str(uuid.uuid4()),
        "malformed": "not-a-uuid",
        "numeric": "12345",
    }[kind]
    response = client.request(
        method, f"{PROFILES}/{profile_id}", json={"city": "Nowhere"}, headers=token.bearer
    )
    assert "No such profile" in problem_of(response, 404)["detail"]
    with db.read_session(engine) as session:
        kept = session.get_one(WhoisProfile, theirs.id)
    assert (kept.city, kept.caller_name) == (None, "Theirs")


# --- Change, delete -----------------------------------------------------------------------


def test_patch_changes_only_the_fields_sent_and_logs_the_edit(engine, client) -> None:
    token = _token(engine)
    profile = register(engine, token.owner, "+14169671111", caller_name="Acme", city="Ottawa")
    response = client.patch(
        f"{PROFILES}/{profile.id}",
        json={"caller_name": "Acme Sales", "website": "acme.example.com", "private": True},
        headers=token.bearer,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["caller_name"], body["city"], body["private"]) == ("Acme Sales", "Ottawa", True)
    assert body["website"] == "https://acme.example.com"
    [event] = _events(engine, EventAction.EDIT)
    assert event.api_token_id == token.new.token.id


def test_patch_refuses_bad_fields_and_a_new_number_changing_nothing(engine, client) -> None:
    token = _token(engine)
    profile = register(engine, token.owner, "+14169671111", caller_name="Acme")
    bad = client.patch(
        f"{PROFILES}/{profile.id}",
        json={"email": "nope", "caller_name": ""},
        headers=token.bearer,
    )
    assert set(problem_of(bad, 422)["errors"]) == {"caller_name", "email"}
    moved = client.patch(
        f"{PROFILES}/{profile.id}", json={"number": "+14165550100"}, headers=token.bearer
    )
    assert "never changes" in problem_of(moved, 422)["errors"]["number"]
    with db.read_session(engine) as session:
        kept = session.get_one(WhoisProfile, profile.id)
    assert (kept.number, kept.caller_name, kept.email) == ("+14169671111", "Acme", None)


def test_delete_removes_the_profile_and_logs_it(engine, client) -> None:
    token = _token(engine)
    profile = register(engine, token.owner, "+14169671111")
    deleted = client.delete(f"{PROFILES}/{profile.id}", headers=token.bearer)
    assert (deleted.status_code, deleted.content) == (204, b"")
    problem_of(client.get(f"{PROFILES}/{profile.id}", headers=token.bearer), 404)
    assert [event.api_token_id for event in _events(engine, EventAction.DELETION)] == [
        token.new.token.id
    ]


# --- Who may ------------------------------------------------------------------------------


def test_each_route_needs_its_scope(engine, client) -> None:
    reader = mint(engine, scopes=("whois:read",))
    writer = mint(engine, scopes=("whois:write",), owner=reader.owner)
    lookups = mint(engine, scopes=("lookups",), owner=reader.owner)
    profile = register(engine, reader.owner, "+14169671111")
    one = f"{PROFILES}/{profile.id}"
    for refused in (
        client.post(PROFILES, json=ACME, headers=reader.bearer),
        client.patch(one, json={"city": "Ottawa"}, headers=reader.bearer),
        client.delete(one, headers=reader.bearer),
        client.post(f"{PROFILES}/import", content=b"number\n", headers=reader.bearer),
        client.get(PROFILES, headers=writer.bearer),
        client.get(one, headers=lookups.bearer),
    ):
        assert "scope" in problem_of(refused, 403)["detail"]
    # Changing a profile reads it first, as the page does: whois:write alone is not enough.
    blind = client.patch(one, json={"city": "Ottawa"}, headers=writer.bearer)
    assert "scopes do not allow" in problem_of(blind, 403)["detail"]
    assert client.get(one, headers=reader.bearer).json()["city"] is None
    assert count(engine, WhoisProfile) == 1


def test_no_token_is_a_401_on_every_route(engine, client) -> None:
    for method, path in (
        ("GET", PROFILES),
        ("POST", PROFILES),
        ("GET", f"{PROFILES}/{uuid.uuid4()}"),
        ("PATCH", f"{PROFILES}/x"),
        ("DELETE", f"{PROFILES}/x"),
        ("POST", f"{PROFILES}/import"),
    ):
        response = client.request(method, path)
        assert problem_of(response, 401)["title"] == "Unauthorized"
        assert response.headers["www-authenticate"] == 'Basic realm="SIPSTACK"'


def test_a_test_token_may_not_read_or_change_real_profiles(engine, client) -> None:
    token = _token(engine, test=True)
    register(engine, token.owner, "+14169671111")
    for refused in (
        client.get(PROFILES, headers=token.bearer),
        client.post(PROFILES, json={**ACME, "number": "+14165550100"}, headers=token.bearer),
    ):
        assert "test token" in problem_of(refused, 403)["detail"]
    assert count(engine, WhoisProfile) == 1


# --- Import -------------------------------------------------------------------------------

CSV = (
    "number,caller_name,line_type,city\n"
    "+1 416 967 1111,Acme Support,fixed,Toronto\n"
    "+1 416 967 1112,Acme Sales,mobile,Ottawa\n"
    "12,No Number,fixed,\n"
    "+1 416 967 1111,Twice,fixed,\n"
)


@pytest.mark.parametrize("sent_as", ["body", "multipart"])
def test_an_import_answers_each_rows_outcome(engine, client, sent_as) -> None:
    token = _token(engine)
    register(engine, member(engine), "+14169671112")  # held elsewhere: disputed
    if sent_as == "body":
        response = client.post(
            f"{PROFILES}/import",
            content=CSV.encode(),
            headers={**token.bearer, "Content-Type": "text/csv"},
        )
    else:
        response = client.post(
            f"{PROFILES}/import",
            files={"file": ("profiles.csv", CSV.encode(), "text/csv")},
            headers=token.bearer,
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["added"], body["disputed"], body["refused"]) == (1, 1, 2)
    assert body["summary"] == "1 added, 0 updated, 1 disputed, 2 refused"
    assert [(row["row"], row["outcome"]) for row in body["rows"]] == [
        (2, "added"),
        (3, "disputed"),
        (4, "refused"),
        (5, "refused"),
    ]
    assert body["rows"][3]["message"] == "Duplicate of row 2."
    assert body["rows"][0]["shown"] == "+1 416-967-1111"
    assert response.headers["X-Rate-Limit-Policy"] == "heavy"
    [event] = _events(engine, EventAction.IMPORT)
    assert event.api_token_id == token.new.token.id


def test_a_file_refused_whole_writes_nothing(engine, client) -> None:
    token = _token(engine)
    refused = client.post(
        f"{PROFILES}/import",
        content=b"caller_name,line_type\nAcme,fixed\n",
        headers={**token.bearer, "Content-Type": "text/csv"},
    )
    assert "number" in problem_of(refused, 400)["detail"]
    empty = client.post(f"{PROFILES}/import", content=b"", headers=token.bearer)
    assert "file" in problem_of(empty, 422)["errors"]
    assert count(engine, WhoisProfile) == 0


def test_an_import_that_fails_midway_writes_none_of_its_rows(engine, client, monkeypatch):
    token = _token(engine)
    saved = whois.save_registration
    calls: list[str] = []

    def failing_on_the_second(session, actor, values, **options):
        calls.append(values["number"])
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        return saved(session, actor, values, **options)

    monkeypatch.setattr(whois, "save_registration", failing_on_the_second)
    csv_rows = "number,caller_name,line_type\n+14169671111,One,fixed\n+14169671112,Two,fixed\n"
    response = client.post(
        f"{PROFILES}/import",
        content=csv_rows.encode(),
        headers={**token.bearer, "Content-Type": "text/csv"},
    )
    assert problem_of(response, 500)["detail"] == "Something went wrong on our side."
    assert len(calls) == 2
    assert count(engine, WhoisProfile) == 0
    # No import line: only the call's, failed.
    with db.read_session(engine) as session:
        events = session.exec(select(ProductEvent)).all()
    assert [(e.product, e.action, e.status) for e in events] == [("api", "call", "failed")]
    assert events[0].result == "POST /v1/whois/profiles/import → 500 Internal Server Error"


def test_a_body_larger_than_the_import_takes_is_a_413(engine, client, monkeypatch) -> None:
    from portal_core.services import whois_import

    monkeypatch.setattr(whois_import, "MAX_BYTES", 100)
    token = _token(engine)
    big = ("number,caller_name,line_type\n" + "+14169671111,Acme,fixed\n" * 20).encode()
    refused = client.post(
        f"{PROFILES}/import", content=big, headers={**token.bearer, "Content-Type": "text/csv"}
    )
    assert "at most" in problem_of(refused, 413)["detail"]
    assert count(engine, WhoisProfile) == 0


def test_profiles_the_api_registered_are_the_pages_own(engine, client) -> None:
    token = _token(engine)
    created = client.post(PROFILES, json=ACME, headers=token.bearer).json()
    with db.read_session(engine) as session:
        profile = whois.get(session, token.owner.actor, uuid.UUID(created["id"]))
    assert (profile.status, profile.caller_name) == (ProfileStatus.ACTIVE, "Acme Support")
