"""The REST API in Chromium, as a partner's developer meets it on the demo: the owner of Demo
Telecom creates a token in Organization › Access › API Tokens, copies the key and secret the
page shows once, and a program (this test, with httpx against the served portal's ``/api``)
looks numbers up with it — SIPSTACK's own route with HTTP Basic, the JSON route with Bearer.
Logs lists the calls with the token's name, API Tokens shows when it was last used (the
portal serves the API in its own process, so at once), and once the token is revoked, after
a confirmation, the next call is refused."""

from __future__ import annotations

import csv
import io
import re
import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text

from portal_core import db
from tests.e2e.conftest import ServedPortal
from tests.e2e.steps import goto, log_in, settled, shown

pytestmark = pytest.mark.e2e

OWNER_EMAIL = "owner@demo.sipstack.test"
OWNER_PASSWORD = "Demo-owner-Harbor-2026"
TOKEN_NAME = "Journey PBX"

# Numbers nobody registered in the demo (services/seed.py): 555-01xx is fiction's.
BASIC_CALLER = "+14165550188"
BEARER_CALLER = "+16475550166"
BEARER_CALLER_SHOWN = "+1 647-555-0166"
BASIC_CALLER_SHOWN = "+1 416-555-0188"
TEXT_ANSWER = re.compile(r"\d\.\d{3}[ -~]{0,15}")  # the score, then ≤ 15 ASCII of the name


def _csv_rows(page: Page) -> list[dict[str, str]]:
    """The rows of the list the page shows, as its CSV export gives them."""
    with page.expect_download() as download:
        shown(page).get_by_role("button", name="CSV").click()
    # utf-8-sig: the export leads with a byte-order mark, for spreadsheets.
    exported = download.value.path().read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(exported)))


def _token_id(served_portal: ServedPortal, key: str) -> str:
    """The id that opens the token (``?token=``), as a selected row of the list does."""
    engine = db.create_engine(served_portal.database_url)
    try:
        with engine.connect() as connection:
            found = connection.execute(
                text("SELECT id FROM api_tokens WHERE key = :key"), {"key": key}
            ).scalar_one()
    finally:
        engine.dispose()
    return str(uuid.UUID(str(found)))  # SQLite keeps it as 32 hex digits


def _create_token(page: Page) -> tuple[str, str]:
    """Create the token with ``lookups`` and ``logs:read``; its key and secret, as shown."""
    shown(page).get_by_role("button", name="Create a token").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Create an API token")).to_be_visible()
    dialog.get_by_role("textbox", name="Name *", exact=True).fill(TOKEN_NAME)
    scopes = dialog.get_by_role("combobox", name="Scopes *")
    for scope in ("lookups", "logs:read"):
        scopes.click()
        page.get_by_role("option", name=re.compile(rf"^{re.escape(scope)} — ")).click()
    # The list of scopes stays open over the form's button until the focus leaves it (and
    # hides the rest from the accessibility tree meanwhile: the title is found by its text).
    page.get_by_test_id("stDialog").get_by_text("Create an API token", exact=True).click()
    dialog.get_by_role("button", name="Create", exact=True).click()
    settled(page)
    expect(page.get_by_role("dialog")).to_have_count(0)
    created = shown(page)
    expect(created.get_by_text(f"The token “{TOKEN_NAME}” is created.")).to_be_visible()
    expect(created.get_by_text("This is the only time the secret is shown")).to_be_visible()
    # A code block draws its text once its highlighter has loaded.
    blocks = created.get_by_test_id("stCode")
    pair = blocks.filter(has_text=re.compile(r"ssk_live_\w+\s"))
    expect(pair).to_be_visible()
    key, secret = pair.inner_text().split()
    assert re.fullmatch(r"ssk_live_\w{16}", key) and re.fullmatch(r"\w{38}", secret)
    expect(blocks.first).to_contain_text(f"{key}.{secret}")  # the Bearer form, first
    return key, secret


def test_a_partner_creates_a_token_calls_the_api_sees_it_used_and_revokes_it(
    page: Page, served_portal: ServedPortal
) -> None:
    goto(page, "/")
    log_in(page, OWNER_EMAIL, OWNER_PASSWORD)
    page.get_by_role("link", name="API Tokens").click()
    settled(page)
    expect(shown(page).get_by_role("heading", name="API Tokens")).to_be_visible()
    key, secret = _create_token(page)

    # A program calls with it: SIPSTACK's route with Basic, the JSON route with Bearer.
    api = httpx.Client(base_url=f"{served_portal.url}/api", timeout=30)
    by_basic = api.get(
        f"/v1/b/partner/smart-cnam/phoneNumber/{BASIC_CALLER}",
        params={"type": "cnam"},
        auth=(key, secret),
    )
    assert by_basic.status_code == 200, by_basic.text
    assert by_basic.headers["content-type"].startswith("text/plain")
    assert TEXT_ANSWER.fullmatch(by_basic.text), by_basic.text
    by_bearer = api.get(
        f"/v1/smart-cnam/{BEARER_CALLER}",
        params={"type": "regional"},
        headers={"Authorization": f"Bearer {key}.{secret}"},
    )
    assert by_bearer.status_code == 200, by_bearer.text
    answer = by_bearer.json()
    assert (answer["type"], answer["source"]["e164"]) == ("regional", BEARER_CALLER)
    assert (answer["test"], answer["currency"]) == (False, "USD")
    assert answer["included"] is True and answer["cost_micros"] == 0  # within the allowance

    # A route the token has no scope for: refused, and a line of Logs too.
    balance = api.get("/v1/billing/balance", headers={"Authorization": f"Bearer {key}.{secret}"})
    assert balance.status_code == 403, balance.text

    # Logs: the three calls, newest first, each with the token's name.
    goto(page, "/logs")
    expect(shown(page).get_by_test_id("stDataFrame")).to_contain_text(TOKEN_NAME)
    rows = _csv_rows(page)
    newest = [
        (
            row["User or API token"],
            row["Action"],
            row["Lookup type"],
            row["Numbers"].removeprefix("'"),
            row["Status"],
        )
        for row in rows[:3]
    ]
    assert newest == [
        (f"{TOKEN_NAME} (API token)", "Call", "", "", "Refused"),
        (f"{TOKEN_NAME} (API token)", "Lookup", "Regional", BEARER_CALLER_SHOWN, "OK"),
        (f"{TOKEN_NAME} (API token)", "Lookup", "Caller ID", BASIC_CALLER_SHOWN, "OK"),
    ]
    assert rows[0]["Result"].startswith("GET /api/v1/billing/balance → 403 Forbidden")

    # API Tokens: "last used" is filled, without waiting for the scheduler's flush.
    goto(page, "/access_api_tokens")
    [listed] = [row for row in _csv_rows(page) if row["Name"] == TOKEN_NAME]
    assert (listed["Key"], listed["Status"]) == (key, "Active")
    assert re.match(r"\d{4}-\d{2}-\d{2}", listed["Last used"]), listed

    # Revoked after a confirmation: the next call is refused.
    goto(page, f"/access_api_tokens?token={_token_id(served_portal, key)}")
    opened = shown(page)
    expect(opened.get_by_role("heading", name=TOKEN_NAME)).to_be_visible()
    expect(opened.get_by_text(f"Key: {key}")).to_be_visible()
    opened.get_by_role("button", name="Revoke").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Revoke this token?")).to_be_visible()
    dialog.get_by_role("button", name="Revoke", exact=True).click()
    settled(page)
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(shown(page).get_by_text("Status: Revoked")).to_be_visible()

    refused = api.get(
        f"/v1/smart-cnam/{BEARER_CALLER}", headers={"Authorization": f"Bearer {key}.{secret}"}
    )
    assert refused.status_code == 401
    assert refused.json()["detail"] == "This API token was revoked."
    refused_text = api.get(
        f"/v1/b/partner/smart-cnam/phoneNumber/{BASIC_CALLER}", auth=(key, secret)
    )
    assert refused_text.status_code == 401
    api.close()
