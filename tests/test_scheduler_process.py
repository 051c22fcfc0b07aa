"""Where the scheduler runs: the portal's ASGI app starts it in its lifespan (unless
``SCHEDULER=off``) and stops it with the server; the API app alone never starts it, nor does
any page; ``python -m portal_core scheduler`` runs it in the foreground. Served for real, the
portal and the command both run a job owed at their start and stop cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from portal_core import db
from portal_core.models.api_tokens import ApiToken
from portal_core.models.base import utcnow
from portal_core.models.jobs import JobOutcome, ScheduledJob
from portal_core.services import api_tokens
from portal_core.services.jobs import JOBS
from portal_core.services.scheduler import Scheduler
from portal_core.settings import ROOT, get_settings
from tests.factories import actor_of, make_user
from tests.support.served import free_port

WAIT_S = 90.0  # generous on two busy cores; each wait ends as soon as its condition holds


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Engine]]:
    """A migrated SQLite file that the portal reads through DATABASE_URL."""
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    db.migrate(url)
    engine = db.create_engine(url)
    yield url, engine
    engine.dispose()


def scheduled(engine: Engine) -> dict[str, ScheduledJob]:
    with db.read_session(engine) as session:
        return {job.name: job for job in session.exec(select(ScheduledJob)).all()}


def scheduler_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name == "APScheduler"]


def run_lifespan(inside: Callable[[], None]) -> None:
    """The portal's lifespan (migrate, start the scheduler … stop it) around ``inside``. The
    served app is tested in a process of its own below: Streamlit's runtime starts once per
    process."""
    from portal_core.ui import asgi

    async def serve() -> None:
        async with asgi._lifespan(asgi.app):
            inside()

    # On a thread of its own: a browser test before this one may leave an event loop running
    # on the main thread (Playwright's synchronous API).
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(lambda: asyncio.run(serve())).result(timeout=WAIT_S)


def test_the_portals_lifespan_starts_the_scheduler_and_stops_it(database, monkeypatch):
    _url, engine = database
    monkeypatch.setenv("SCHEDULER", "on")
    get_settings.cache_clear()
    seen: dict[str, object] = {}

    run_lifespan(lambda: seen.update(threads=scheduler_threads(), rows=scheduled(engine)))

    assert seen["threads"] == ["APScheduler"]
    assert set(seen["rows"]) == {job.name for job in JOBS}  # type: ignore[call-overload]
    assert scheduler_threads() == []  # stopped with the server


def test_the_portals_lifespan_with_scheduler_off_starts_none(database, monkeypatch):
    _url, engine = database
    monkeypatch.setenv("SCHEDULER", "off")
    get_settings.cache_clear()
    seen: dict[str, object] = {}

    run_lifespan(lambda: seen.update(threads=scheduler_threads()))

    assert seen["threads"] == []
    assert scheduled(engine) == {}


def test_the_portals_lifespan_writes_the_tokens_last_use_at_shutdown(database, monkeypatch):
    """Mounted, the API's own lifespan never runs (a Mount passes none on): the portal's
    writes what the API noted in this process when the server stops."""
    _url, engine = database
    monkeypatch.setenv("SCHEDULER", "off")
    get_settings.cache_clear()
    with db.write_session(engine) as session:
        owner = make_user(session)
        token_id = api_tokens.create(
            session, actor_of(owner), name="PBX", scopes=("lookups",)
        ).token.id
    api_tokens.flush_last_used(engine)  # what earlier tests left in this process
    called = utcnow().replace(microsecond=0)

    run_lifespan(lambda: api_tokens.note_used(token_id, called))

    with db.read_session(engine) as session:
        written = session.get_one(ApiToken, token_id).last_used_at
    assert written is not None and written.replace(tzinfo=UTC) == called


def test_the_served_portal_runs_an_owed_job_and_stops_cleanly(database, tmp_path):
    """``make run``'s server: a job whose due time passed while the portal was down runs at
    its start; SIGTERM stops the server and the scheduler without an error."""
    url, engine = database
    owe_the_sweep(engine)
    port = free_port()
    with running(
        [sys.executable, "-m", "uvicorn", "portal_core.ui.asgi:app", "--port", str(port)],
        environment(url, tmp_path, SCHEDULER="on"),
        tmp_path / "server.log",
    ) as (process, log):
        wait_for(lambda: swept(engine), process, log)
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=WAIT_S)

    printed = log.read_text()
    # uvicorn shuts down, then ends itself with the signal it caught.
    assert returncode in (0, -signal.SIGTERM), printed
    assert "Application shutdown complete." in printed
    assert "Traceback" not in printed, printed
    rows = scheduled(engine)
    assert set(rows) == {job.name for job in JOBS}
    assert rows["billing.recharge"].last_outcome == JobOutcome.SUCCEEDED


def test_the_api_app_alone_never_starts_the_scheduler(database, monkeypatch):
    _url, engine = database
    monkeypatch.setenv("SCHEDULER", "on")
    get_settings.cache_clear()
    from portal_core.api.app import app

    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        threads = scheduler_threads()

    assert threads == []
    assert scheduled(engine) == {}


def test_only_the_asgi_app_and_the_command_line_make_a_scheduler() -> None:
    makers = sorted(
        str(path.relative_to(ROOT))
        for path in [ROOT / "Home.py", *(ROOT / "pages").glob("*.py")]
        + list((ROOT / "portal_core").rglob("*.py"))
        if "Scheduler(" in path.read_text() and path.name != "scheduler.py"
    )

    assert makers == ["portal_core/__main__.py", "portal_core/ui/asgi.py"]


def test_the_scheduler_command_runs_an_owed_job_then_stops_on_sigterm(database, tmp_path):
    url, engine = database
    owe_the_sweep(engine)
    with running(
        [sys.executable, "-m", "portal_core", "scheduler"],
        # The command runs the scheduler whatever the portal's setting says.
        environment(url, tmp_path, SCHEDULER="off"),
        tmp_path / "scheduler.log",
    ) as (process, log):
        wait_for(lambda: swept(engine), process, log)
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=WAIT_S)

    printed = log.read_text()
    assert returncode == 0, printed
    assert "billing.recharge: Every 5 minutes (Auto-recharge sweep)" in printed
    assert printed.rstrip().endswith("The scheduler stopped.")
    rows = scheduled(engine)
    assert set(rows) == {job.name for job in JOBS}
    assert rows["billing.recharge"].last_outcome == JobOutcome.SUCCEEDED
    assert rows["billing.recharge"].leased_by is None


# --- Helpers for the processes ---------------------------------------------------------------


def owe_the_sweep(engine: Engine) -> None:
    """The sweep scheduled an hour ago and never run since: its due time passed while no
    scheduler ran."""
    [sweep] = [job for job in JOBS if job.name == "billing.recharge"]
    Scheduler(engine, [sweep]).schedule(now=utcnow() - timedelta(hours=1))


def swept(engine: Engine) -> bool:
    return scheduled(engine)["billing.recharge"].last_finished_at is not None


def environment(url: str, folder: Path, **settings: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url, "OUTBOX_DIR": str(folder / "outbox"), **settings}


@contextmanager
def running(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield process, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
