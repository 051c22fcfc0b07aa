"""The portal served the way ``make run`` serves it, and Debian's Chromium to drive it: shared
by the browser journeys (``tests/e2e``), the scheduler's process tests and the sign-in
benchmark (``bench/signin.py``).

``serve_portal`` migrates and seeds a temporary SQLite database with the demo organization
by the portal's own command line, then serves uvicorn's one ASGI app (pages and ``/api``) on a
free loopback port until the block ends. Nothing here knows pytest: what goes wrong is a
``ServeFailed`` with the server's last lines, which a fixture turns into a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from portal_core.settings import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
START_TIMEOUT_S = 90.0  # generous on two busy cores; the wait ends as soon as both answer
COMMAND_TIMEOUT_S = 300.0


class ServeFailed(RuntimeError):
    """The portal or one of its commands did not do what serving it needs; says why."""


@dataclass(frozen=True)
class ServedPortal:
    """The running portal: where it answers, its folder (database, outbox, log), and the
    environment its processes run with (for ``python -m portal_core …`` against it)."""

    url: str
    folder: Path
    environment: dict[str, str]

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    @property
    def outbox(self) -> Path:
        return self.folder / "outbox"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(url: str) -> bool:
    """Whether ``url`` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def tail(log: Path, lines: int = 60) -> str:
    if not log.exists():
        return "(no server log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def run_command(environment: Mapping[str, str], *args: str) -> None:
    """``python -m portal_core …`` with ``environment``; ``ServeFailed`` with its output when
    it exits with an error."""
    done = subprocess.run(
        [sys.executable, "-m", "portal_core", *args],
        cwd=ROOT,
        env=dict(environment),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise ServeFailed(
            f"`python -m portal_core {' '.join(args)}` exited {done.returncode}:\n"
            f"{done.stdout}\n{done.stderr}"
        )


@contextmanager
def serve_portal(
    folder: Path, settings: Mapping[str, str], *, unset: tuple[str, ...] = ()
) -> Iterator[ServedPortal]:
    """The demo portal in ``folder``, with ``settings`` over the caller's environment (and
    without ``unset``, nor ``SMTP_HOST``: its mail lands in the outbox), served until the block
    ends."""
    url = f"http://127.0.0.1:{free_port()}"
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'portal.db'}",
        "OUTBOX_DIR": str(folder / "outbox"),
        "PUBLIC_URL": url,
        "PORTAL_ENV": "development",
        **settings,
    }
    for name in ("SMTP_HOST", *unset):
        environment.pop(name, None)
    run_command(environment, "migrate")
    run_command(environment, "seed")
    served = ServedPortal(url=url, folder=folder, environment=environment)
    with served.log.open("wb") as output:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "portal_core.ui.asgi:app",
                "--host",
                "127.0.0.1",
                "--port",
                url.rsplit(":", 1)[1],
            ],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    with _serving(server, served, "the portal", f"{url}/_stcore/health", f"{url}/api/healthz"):
        yield served


@contextmanager
def serve_api(folder: Path, settings: Mapping[str, str]) -> Iterator[ServedPortal]:
    """The REST API alone (``python -m portal_core api``, which migrates first) over a SQLite
    database in ``folder``, served until the block ends. Alone, the API answers at the root
    of ``url`` (mounted in the portal, under ``/api``)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'portal.db'}",
        "OUTBOX_DIR": str(folder / "outbox"),
        **settings,
    }
    environment.pop("SMTP_HOST", None)
    served = ServedPortal(url=url, folder=folder, environment=environment)
    with served.log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "portal_core", "api", "--port", str(port)],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    with _serving(server, served, "the API", f"{url}/healthz"):
        yield served


@contextmanager
def _serving(
    server: subprocess.Popen[bytes], served: ServedPortal, what: str, *health: str
) -> Iterator[None]:
    """Wait until every ``health`` address answers, then stop ``server`` when the block ends."""
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(answers(address) for address in health):
            if server.poll() is not None:
                raise ServeFailed(f"{what} exited with {server.returncode}:\n{tail(served.log)}")
            if time.monotonic() > deadline:
                raise ServeFailed(
                    f"{what} did not answer in {START_TIMEOUT_S:.0f} s:\n{tail(served.log)}"
                )
            time.sleep(0.2)
        yield
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)
