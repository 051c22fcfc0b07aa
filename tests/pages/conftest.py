"""AppTest harness: each test gets its own SQLite file, and opens pages as a given user.

Pages live in Streamlit's pages directory, so a page is opened the way a deep link opens it:
``AppTest`` starts from ``Home.py`` and switches to the page's script before the first run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from portal_core import db
from portal_core.models.accounts import User
from portal_core.settings import ROOT, get_settings
from portal_core.ui import state
from tests.conftest import build_schema
from tests.factories import log_in


@dataclass
class Portal:
    engine: Engine

    def open(self, script: str = "Home.py", *, as_user: User | None = None) -> AppTest:
        """Run ``script`` (e.g. "pages/my_profile.py") once, signed in as ``as_user``."""
        app = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=30)
        if as_user is not None:
            app.session_state[state.SESSION_HANDLE] = log_in(self.engine, as_user)
        if script != "Home.py":
            app.switch_page(script)
        return app.run()


@pytest.fixture
def portal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Portal]:
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    engine = db.create_engine(url)
    build_schema(engine)
    st.cache_resource.clear()  # the pages' cached engine must be this test's
    yield Portal(engine)
    st.cache_resource.clear()
    engine.dispose()


def texts(app: AppTest) -> str:
    """Every piece of text the run drew, joined: for "shows …" / "shows nothing of …" checks."""
    parts: list[str] = []
    for kind in (
        "title",
        "header",
        "subheader",
        "markdown",
        "caption",
        "text",
        "error",
        "warning",
        "info",
        "success",
    ):
        parts.extend(str(element.value) for element in getattr(app, kind))
    parts.extend(str(metric.label) + " " + str(metric.value) for metric in app.metric)
    return "\n".join(parts)
