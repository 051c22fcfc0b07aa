"""The login cookie: written in the page by a script that reports nothing, so a login or a
logout is one run of the page (a component would post back, and each post is another run).

The browser side (the cookie stored, one run, no reload) is walked in Chromium by
``tests/e2e/test_sign_in.py``; here, what the run draws.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from types import SimpleNamespace

import jwt
import pytest
from streamlit.runtime import context as streamlit_context
from streamlit.testing.v1 import AppTest

from portal_core import db
from portal_core.models.accounts import Role
from portal_core.settings import get_settings
from portal_core.ui import preload
from tests.factories import PASSWORD, make_user
from tests.pages.conftest import Portal

_WRITE = re.compile(r"document\.cookie = (\"(?:[^\"\\]|\\.)*\")")


@pytest.fixture(autouse=True)
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A browser's connection for ``st.context``, with no cookie yet."""
    client = SimpleNamespace(
        headers=[("User-Agent", "AppTest")], cookies={}, remote_ip="203.0.113.9"
    )
    monkeypatch.setattr(streamlit_context, "_get_client_context", lambda: client)
    yield


def make_owner(portal: Portal, email: str, name: str = "Ada Owner") -> None:
    with db.write_session(portal.engine) as session:
        make_user(session, role=Role.OWNER, email=email, name=name)


def log_in(app: AppTest, email: str) -> AppTest:
    fields = {field.label: field for field in app.text_input if field.form_id == "portal.login"}
    fields["E-mail"].input(email)
    fields["Password"].input(PASSWORD)
    next(button for button in app.button if button.label == "Log in").click()
    return app.run()


def cookie_writes(app: AppTest) -> list[dict[str, str]]:
    """Each ``document.cookie`` assignment the run draws, as its attributes (the first is
    ``name=value``; the ``Secure`` added on https is the script's, not in the string)."""
    writes = []
    for html in app.get("html"):
        for literal in _WRITE.findall(str(getattr(html, "value", ""))):
            parts = [part.strip() for part in json.loads(literal).split(";")]
            name, value = parts[0].split("=", 1)
            attributes = dict(part.split("=", 1) for part in parts[1:])
            writes.append({"name": name, "value": value, **attributes})
    return writes


def test_a_login_writes_the_cookie_of_its_session_with_no_component(portal: Portal) -> None:
    make_owner(portal, "owner@sipstack.test")
    app = log_in(portal.open(), "owner@sipstack.test")

    assert not app.exception
    assert [title.value for title in app.title] == ["Welcome, Ada Owner"]
    # A component would post a value back, and the post would run the page again.
    assert app.get("component_instance") == []
    [write] = cookie_writes(app)
    settings = get_settings()
    assert write["name"] == settings.cookie_name
    token = jwt.decode(write["value"], settings.cookie_key, algorithms=["HS256"])
    assert token["username"] == app.session_state["portal.session_handle"]
    days = (token["exp_date"] - time.time()) / 86_400
    assert settings.cookie_expiry_days - 0.01 < days <= settings.cookie_expiry_days
    assert write["path"] == "/"
    assert write["SameSite"] == "Strict"
    assert write["expires"].endswith(" GMT")


def test_the_cookie_is_written_again_on_the_tabs_later_runs(portal: Portal) -> None:
    """The request that opened the tab still has no cookie, so the server cannot know the
    browser has it: every run of the tab writes the same one again."""
    make_owner(portal, "owner@sipstack.test")
    app = log_in(portal.open(), "owner@sipstack.test")
    [first] = cookie_writes(app)
    app.run()
    assert cookie_writes(app) == [first]
    assert app.get("component_instance") == []


def test_a_logout_expires_the_cookie_with_no_component(portal: Portal) -> None:
    make_owner(portal, "owner@sipstack.test")
    app = log_in(portal.open(), "owner@sipstack.test")
    next(button for button in app.button if button.label == "Log out").click()
    app.run()

    assert not app.exception
    assert [field.label for field in app.text_input if field.form_id == "portal.login"] == [
        "E-mail",
        "Password",
    ]
    assert app.get("component_instance") == []
    [write] = cookie_writes(app)
    assert write["name"] == get_settings().cookie_name
    assert write["value"] == ""
    assert write["expires"] == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert write["path"] == "/"


def test_a_page_opened_without_logging_in_writes_no_cookie(portal: Portal) -> None:
    app = portal.open()
    assert not app.exception
    assert cookie_writes(app) == []


# --- The login page fetches the Dashboard's element code -----------------------------------


def test_every_element_the_dashboard_draws_has_its_code_file_in_this_streamlit() -> None:
    """An upgrade of Streamlit that renames them fails here, not silently in the browser."""
    files = preload.element_files()
    for name in preload.DASHBOARD_ELEMENTS:
        assert [file for file in files if file.startswith(f"{name}.")], name


def test_the_login_form_has_the_browser_import_the_dashboards_element_code(
    portal: Portal,
) -> None:
    app = portal.open()
    scripts = [str(getattr(html, "value", "")) for html in app.get("html")]
    [importing] = [script for script in scripts if "import(" in script]
    listed = json.loads(re.search(r"for \(const file of (\[.*?\])\)", importing)[1])  # type: ignore[index]
    assert listed == list(preload.element_files())


def test_a_signed_in_page_imports_nothing_ahead(portal: Portal) -> None:
    make_owner(portal, "owner@sipstack.test")
    app = log_in(portal.open(), "owner@sipstack.test")
    app.run()  # the tab's next run, signed in
    assert [title.value for title in app.title] == ["Welcome, Ada Owner"]
    assert not [html for html in app.get("html") if "import(" in str(getattr(html, "value", ""))]
