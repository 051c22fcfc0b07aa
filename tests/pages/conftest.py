"""AppTest harness: each test gets its own SQLite file, and opens pages as a given user.

Pages live in Streamlit's pages directory, so a page is opened the way a deep link opens it:
``AppTest`` starts from ``Home.py`` and switches to the page's script before the first run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from portal_core import db
from portal_core.errors import PaymentGatewayUnavailable
from portal_core.models.accounts import Role, User
from portal_core.models.payments import PaymentMethod
from portal_core.payments.gateway import RefundInfo, RefundRequest
from portal_core.payments.sandbox import SandboxGateway
from portal_core.settings import ROOT, get_settings
from portal_core.ui import state
from portal_core.ui.text import WORD_JOINER
from tests.conftest import build_schema
from tests.factories import log_in, make_card, make_user, organization_of

# The roles that see Billing (Capability.BILLING_READ), and the partner roles that do not.
BILLING_ROLES = [Role.OWNER, Role.ADMIN, Role.BILLING]
OTHER_ROLES = [Role.DEVELOPER, Role.VIEWER]
NOT_YOUR_ROLE = "Your role does not give you access to this page."  # the shell's refusal


@dataclass
class Portal:
    engine: Engine

    def open(
        self,
        script: str = "Home.py",
        *,
        as_user: User | None = None,
        query_params: Mapping[str, object] | None = None,
    ) -> AppTest:
        """Run ``script`` (e.g. "pages/my_profile.py") once, signed in as ``as_user``, as a
        link with ``query_params`` opens it (``{"invoice": invoice.id}``)."""
        app = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=30)
        if as_user is not None:
            app.session_state[state.SESSION_HANDLE] = log_in(self.engine, as_user)
        if script != "Home.py":
            app.switch_page(script)
        for name, value in (query_params or {}).items():
            app.query_params[name] = str(value)
        return app.run()


@pytest.fixture
def portal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Portal]:
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    engine = db.engine(url)  # the pages' own: one engine, one write lock per process
    build_schema(engine)
    yield Portal(engine)


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


def plain(app: AppTest) -> str:
    """The text drawn, markdown escapes removed ("\\$30\\.00" reads "$30.00")."""
    return unescaped(texts(app))


def unescaped(markdown: str) -> str:
    """``markdown`` as it reads: escapes removed, and the invisible word joiners that keep an
    address from becoming a link (``ui.text.markdown_escape``) dropped."""
    return re.sub(r"\\(.)", r"\1", markdown).replace(WORD_JOINER, "")


def refused(app: AppTest) -> bool:
    """Whether the shell refused the page to the signed-in role."""
    return [str(title.value) for title in app.title] == ["No access"]


Downloads = dict[str, Callable[[], bytes]]


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> Downloads:
    """The files offered by download buttons, by file name: Streamlit builds a deferred
    download only when it is clicked, so the test keeps the builder and calls it."""
    offered: Downloads = {}
    original = MediaFileManager.add_deferred

    def add_deferred(
        manager: MediaFileManager,
        data_callable: Callable[[], bytes],
        mimetype: str | None,
        coordinates: str,
        file_name: str | None = None,
        **options: str,
    ) -> str:
        assert file_name is not None
        offered[file_name] = data_callable
        return original(manager, data_callable, mimetype, coordinates, file_name, **options)

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    return offered


def make_member(portal: Portal, role: Role = Role.OWNER) -> User:
    """A member of ``role`` in a new active organization."""
    with db.write_session(portal.engine) as session:
        return make_user(session, role=role)


class RefundsUnanswered(SandboxGateway):
    """The sandbox, but the card processor never answers a refund (it stays pending)."""

    def refund(self, request: RefundRequest) -> RefundInfo:
        raise PaymentGatewayUnavailable("The card payment service could not be reached.")


def add_card(
    portal: Portal,
    user: User,
    test_card: str = "pm_card_visa",
    *,
    default: bool | None = None,
    exp_month: int | None = None,
    exp_year: int | None = None,
) -> PaymentMethod:
    """Save one of the sandbox's test cards for ``user``'s organization."""
    with db.write_session(portal.engine) as session:
        return make_card(
            session,
            organization_of(session, user),
            test_card=test_card,
            default=default,
            exp_month=exp_month,
            exp_year=exp_year,
        )
