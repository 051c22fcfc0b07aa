"""A portal served the way ``make run`` serves it, and Debian's Chromium to drive it.

Once per test run: a temporary folder holds the SQLite database and the e-mail outbox; the
portal is migrated and seeded with the demo organization by its own command line, then served
by uvicorn as one ASGI app (pages and ``/api``) on a free port of the loopback
(``tests/support/served.py``). Each test gets a
fresh browser context, so no cookie or stored theme leaks from one journey into the next.

Chromium is Debian's ``/usr/bin/chromium``: nothing here downloads a browser. Without it, or
when Playwright cannot launch it, the journeys skip with the reason, and fail instead when
``REQUIRE_E2E=1`` (CI sets it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from playwright.sync_api import Browser, BrowserContext, Error, Page, expect, sync_playwright

from portal_core.settings import Settings
from tests.e2e.steps import WATCH_DOCUMENTS
from tests.support.dns_server import DnsServer, running_dns_server
from tests.support.served import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ServeFailed,
    run_command,
    serve_portal,
    tail,
)

# Streamlit answers over a websocket and re-runs whole scripts: on two busy cores a page can
# take several seconds, so waits are generous (they end as soon as the page is there).
WAIT_MS = 30_000


@dataclass(frozen=True)
class ServedPortal:
    """The running portal: where it answers, where its e-mails land, its login cookie's name."""

    url: str
    outbox: Path
    cookie_name: str
    log: Path
    database_url: str
    environment: dict[str, str]

    def command(self, *args: str) -> None:
        """Run ``python -m portal_core …`` against this portal's database (a scheduler's job)."""
        try:
            run_command(self.environment, *args)
        except ServeFailed as error:
            pytest.fail(str(error))


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("REQUIRE_E2E") == "1":
        pytest.fail(f"the browser journeys are required (REQUIRE_E2E=1) but {reason}")
    pytest.skip(f"browser journeys skipped: {reason}")


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium under Playwright, launched once for the whole run."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    driver = sync_playwright().start()
    try:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    except Error as error:
        driver.stop()
        _unavailable(f"Playwright could not launch {CHROMIUM}: {error.message}")
    try:
        yield browser
    finally:
        browser.close()
        driver.stop()


@pytest.fixture(scope="session")
def dns_zone() -> Iterator[DnsServer]:
    """The DNS server on loopback that the served portal asks about brand domains: a journey
    publishes a domain's TXT record in its ``records``."""
    with running_dns_server() as server:
        yield server


@pytest.fixture(scope="session")
def served_portal(
    tmp_path_factory: pytest.TempPathFactory, dns_zone: DnsServer
) -> Iterator[ServedPortal]:
    """Migrate, seed and serve the portal like ``make run``, on a free loopback port."""
    cookie_name = os.environ.get("COOKIE_NAME") or str(Settings.model_fields["cookie_name"].default)
    settings = {
        "BCRYPT_ROUNDS": "4",
        "COOKIE_NAME": cookie_name,
        "COOKIE_KEY": "e2e-only-cookie-key-0123456789abcdefghijklmnop",
        # The journeys run the jobs themselves, when they need them (``command``).
        "SCHEDULER": "off",
        "DNS_NAMESERVERS": "127.0.0.1",
        "DNS_PORT": str(dns_zone.port),
        "DNS_TIMEOUT_SECONDS": "2",
    }
    try:
        with serve_portal(tmp_path_factory.mktemp("served-portal"), settings) as served:
            yield ServedPortal(
                url=served.url,
                outbox=served.outbox,
                cookie_name=cookie_name,
                log=served.log,
                database_url=served.environment["DATABASE_URL"],
                environment=served.environment,
            )
    except ServeFailed as error:
        pytest.fail(str(error))


@pytest.fixture
def browser(chromium: Browser, served_portal: ServedPortal) -> Browser:
    """The shared browser, once the portal is up (tests open more contexts on it)."""
    return chromium


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


def _keep_evidence(contexts: list[BrowserContext], folder: Path, test_name: str) -> None:
    """Screenshots of every page a failed journey left open, named after the test."""
    folder.mkdir(parents=True, exist_ok=True)
    safe = "".join(char if char.isalnum() else "-" for char in test_name)
    for number, opened in enumerate(contexts):
        for tab, open_page in enumerate(opened.pages):
            shot = folder / f"e2e-failed-{safe}-{number}-{tab}.png"
            try:
                open_page.screenshot(path=str(shot), full_page=True)
            except Error:
                continue
            print(f"screenshot of {open_page.url}: {shot}")


@pytest.fixture
def new_context(
    browser: Browser, served_portal: ServedPortal, request: pytest.FixtureRequest
) -> Iterator[Callable[[], BrowserContext]]:
    """Opens fresh browser contexts (no cookies, no stored theme), closed after the test.

    When the test fails, its pages are kept as screenshots (in ``$E2E_SCREENSHOTS``, or
    beside the server log) and the server log's last lines are printed.
    """
    expect.set_options(timeout=WAIT_MS)
    opened: list[BrowserContext] = []

    def open_context() -> BrowserContext:
        fresh = browser.new_context(
            base_url=served_portal.url, viewport={"width": 1280, "height": 900}
        )
        fresh.set_default_timeout(WAIT_MS)
        fresh.add_init_script(WATCH_DOCUMENTS)
        opened.append(fresh)
        return fresh

    try:
        yield open_context
        if request.node.stash.get(_CALL_FAILED, False):
            folder = Path(os.environ.get("E2E_SCREENSHOTS") or served_portal.log.parent)
            _keep_evidence(opened, folder, request.node.name)
            print(f"server log ({served_portal.log}), last lines:\n{tail(served_portal.log)}")
    finally:
        for fresh in opened:
            fresh.close()


@pytest.fixture
def context(new_context: Callable[[], BrowserContext]) -> BrowserContext:
    return new_context()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
