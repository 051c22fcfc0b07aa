"""The REST API served: metered Smart CNAM lookups per second and their latency under ``wrk``,
beside a bare route of the same server in the same run.

The API is served by uvicorn in a subprocess, as ``python -m portal_core api`` serves it (the
same application, ``--proxy-headers``, Nagle's algorithm off, access log on), through
``bench/api_app.py``, which adds ``GET /bench/bare``: a constant answered through the same
server, middleware and thread pool, touching no database. ``wrk`` drives it from another
process on loopback: 16 connections, 2 threads, ``BENCH_API_SECONDS`` (10) a run,
``BENCH_API_RUNS`` (3) runs of each route in turn (bare, lookup, bare, lookup, ...) after a
warm-up of both; medians. Each run's load average is kept beside its figure: the machine's
other work moves them more than anything.

The lookup is SIPSTACK's route (``/v1/b/partner/smart-cnam/phoneNumber/{source}?type=cnam``)
with a live token sent as HTTP Basic: the token checked, the lookups rate limit counted, the
lookup metered, scored and logged, the text answer. Each request draws its number from 1,000
(``bench/api_lookups.lua``): half registered by another organization (one in five private),
half nobody's, so a run looks each up hundreds of times, as a call flow does its callers.

Seeded through the services: a Carrier organization whose contract allows 5,000 lookups a
second (more than 16 connections ask), 1,000 included then a price, with funds for every
run; its owner's token with the ``lookups`` scope. Configurations: the bench's database
with one API process (SQLite by default, beside the thousand seeded organizations); then,
when PostgreSQL's binaries are there, a throw-away PostgreSQL server (the tests' own:
``fsync`` and ``synchronous_commit`` off) with one and with two API processes
(``--workers 2``). Targets on SQLite at 16 connections: 500 lookups a second or more, p99
under 50 ms; the ratio to the bare route is the figure to compare across machines.
"""

from __future__ import annotations

import base64
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, insert

from bench import seeding
from bench.harness import Result
from portal_core import db
from portal_core.models.accounts import Role
from portal_core.models.base import utcnow
from portal_core.models.billing import EntryKind
from portal_core.models.products import ProfileStatus, WhoisProfile
from portal_core.permissions import Actor
from portal_core.services import api_tokens, ledger, staff, staff_billing
from portal_core.settings import ROOT
from tests.support.postgres import PostgresUnavailable, temporary_server
from tests.support.served import answers, free_port, tail

WRK = Path("/usr/bin/wrk")
SCRIPT = Path(__file__).parent / "api_lookups.lua"
CONNECTIONS = 16
THREADS = 2
NUMBERS = 1_000
FUNDS_CENTS = 50_000_000  # $500,000: far more than every run's lookups cost
START_TIMEOUT_S = 90.0
WARM_UP_S = 3
_SUMMARY = re.compile(
    r"BENCH requests=(\d+) duration_us=(\d+) non2xx=(\d+) socket_errors=(\d+) "
    r"p50_us=(\d+) p99_us=(\d+)"
)


@dataclass(frozen=True)
class Caller:
    authorization: str  # the Authorization header's value
    numbers: list[str]


@dataclass(frozen=True)
class Run:
    requests_per_s: float
    p50_s: float
    p99_s: float
    load: float  # the one-minute load average when the run started


def seconds() -> int:
    return int(os.environ.get("BENCH_API_SECONDS", "10"))


def runs() -> int:
    return int(os.environ.get("BENCH_API_RUNS", "3"))


def seed(engine: Engine) -> Caller:
    """The Carrier organization, its contract, funds and token; 1,000 numbers to look up."""
    rng = random.Random(20261206)
    carrier = seeding.organization(engine, "API Carrier Telecom", active_since=timedelta(days=90))
    holder = seeding.organization(engine, "API Numbers Holder", active_since=timedelta(days=90))
    email = f"bench-api-staff-{uuid.uuid4().hex[:8]}@sipstack.test"
    with db.write_session(engine) as session:
        staff_id = staff.create_staff(session, email, "API Bench Staff", seeding.PASSWORD)
    with db.write_session(engine) as session:
        staff_billing.set_carrier_contract(
            session,
            Actor(staff_id, email, Role.STAFF, None),
            carrier,
            staff_billing.ContractForm(
                monthly_fee="5000",
                included_requests="1000",
                additional_request_price="0.0005",
                lookups_per_second="5000",
                credit_limit="10000",
            ),
            reason="API benchmark: a carrier's call flows at full rate",
        )
        ledger.post_entry(
            session,
            organization_id=carrier,
            kind=EntryKind.PAYMENT,
            amount_cents=FUNDS_CENTS,
            idempotency_key=f"bench-api-funds-{carrier}",
            memo="benchmark funds",
        )
    owner, _handle = seeding.signed_in_owner(
        engine, carrier, name="API Carrier Owner", ip_address="198.51.100.30"
    )
    with db.write_session(engine) as session:
        token = api_tokens.create(session, owner, name="Call flow", scopes=["lookups"])
    numbers = _numbers(rng, NUMBERS)
    _register(engine, holder, numbers[: NUMBERS // 2])
    basic = base64.b64encode(f"{token.key}:{token.secret}".encode()).decode()
    return Caller(authorization=f"Basic {basic}", numbers=numbers)


def _numbers(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct valid Toronto numbers (exchanges 200–999 but N11), in E.164."""
    found: set[str] = set()
    while len(found) < count:
        exchange = rng.randint(200, 999)
        if exchange % 100 != 11:
            found.add(f"+1416{exchange}{rng.randint(0, 9999):04d}")
    numbers = sorted(found)
    rng.shuffle(numbers)
    return numbers


def _register(engine: Engine, holder: uuid.UUID, numbers: list[str]) -> None:
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "organization_id": holder,
            "number": number,
            "status": ProfileStatus.ACTIVE.value,
            "private": index % 5 == 0,
            "caller_name": f"Line {index:04d}",
            "line_type": "fixed",
            "country": "CA",
            "verified_at": now if index % 3 == 0 else None,
            "completeness_permille": 300 + index % 700,
            "score_millis": 3_500,
            "score_updated_at": now - timedelta(days=1),
            "created_at": now - timedelta(days=30),
            "updated_at": now - timedelta(days=30),
        }
        for index, number in enumerate(numbers)
    ]
    with engine.begin() as connection:
        connection.execute(insert(WhoisProfile), rows)


@contextmanager
def serve(url: str, *, workers: int) -> Iterator[str]:
    """The API (and the bare route) over ``url`` with ``workers`` processes, until the block
    ends; yields where it answers."""
    port = free_port()
    address = f"http://127.0.0.1:{port}"
    folder = Path(tempfile.mkdtemp(prefix="bench-api-"))
    log = folder / "server.log"
    environment = {**os.environ, "DATABASE_URL": url, "OUTBOX_DIR": str(folder / "outbox")}
    command = [sys.executable, "-m", "uvicorn", "bench.api_app:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers), "--proxy-headers"]
    command += ["--http", "portal_core.api.serving:NoDelayH11Protocol"]
    with log.open("wb") as output:
        server = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not answers(f"{address}/bench/bare"):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"The API did not start:\n{tail(log)}")
            time.sleep(0.2)
        yield address
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)
        shutil.rmtree(folder, ignore_errors=True)


def drive(
    address: str,
    caller: Caller,
    numbers_file: Path,
    *,
    bare: bool,
    duration: int,
    strict: bool = True,
) -> Run:
    """One ``wrk`` run of the lookup (or of the bare route); refuses a ``strict`` run with
    any error (a warm-up's request may time out while the server's first connections and
    statements are set up on a busy machine)."""
    load = os.getloadavg()[0]
    environment = {
        **os.environ,
        "BENCH_API_AUTHORIZATION": caller.authorization,
        "BENCH_API_NUMBERS": str(numbers_file),
        "BENCH_API_PATH": "/bench/bare" if bare else "",
    }
    command = [str(WRK), f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency"]
    command += ["-s", str(SCRIPT), address]
    finished = subprocess.run(command, env=environment, capture_output=True, text=True)
    found = _SUMMARY.search(finished.stdout)
    if finished.returncode != 0 or found is None:
        raise RuntimeError(f"wrk failed ({finished.returncode}):\n{finished.stderr}")
    requests, duration_us, non2xx, socket_errors, p50_us, p99_us = map(int, found.groups())
    if non2xx or (socket_errors and strict):
        raise RuntimeError(
            f"{non2xx} answers were not 2xx and {socket_errors} sockets failed: "
            f"a benchmark counts only answered lookups.\n{finished.stdout}"
        )
    return Run(requests / (duration_us / 1e6), p50_us / 1e6, p99_us / 1e6, load)


def measure_served(label: str, url: str, caller: Caller, *, workers: int) -> list[Result]:
    """Lookups and the bare route on one server, alternately, after a warm-up of both."""
    folder = Path(tempfile.mkdtemp(prefix="bench-api-numbers-"))
    numbers_file = folder / "numbers.txt"
    numbers_file.write_text("\n".join(caller.numbers) + "\n")
    lookups: list[Run] = []
    bare: list[Run] = []
    try:
        with serve(url, workers=workers) as address:
            for warm_bare in (True, False):
                drive(
                    address, caller, numbers_file, bare=warm_bare, duration=WARM_UP_S, strict=False
                )
            for _ in range(runs()):
                bare.append(drive(address, caller, numbers_file, bare=True, duration=seconds()))
                lookups.append(drive(address, caller, numbers_file, bare=False, duration=seconds()))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    where = f"{label}, {workers} API process{'es' if workers > 1 else ''}"
    lookup_rate = statistics.median(run.requests_per_s for run in lookups)
    bare_rate = statistics.median(run.requests_per_s for run in bare)
    return [
        _result(
            f"API lookup (SIPSTACK text, Basic), {where}",
            lookups,
            f"{bare_rate / lookup_rate:.1f}× slower than bare",
        ),
        _result(f"API bare route, {where}", bare, ""),
    ]


def _result(name: str, measured: list[Run], extra: str) -> Result:
    rate = statistics.median(run.requests_per_s for run in measured)
    p99 = statistics.median(run.p99_s for run in measured)
    rates = ", ".join(f"{run.requests_per_s:,.0f}" for run in measured)
    loads = ", ".join(f"{run.load:.1f}" for run in measured)
    note = (
        f"p50 median; {rate:,.0f}/s ({rates}), p99 {p99 * 1000:.1f} ms, "
        f"load {loads}{'; ' + extra if extra else ''}"
    )
    return Result(
        name=name,
        median_s=statistics.median(run.p50_s for run in measured),
        runs_s=[run.p50_s for run in measured],
        note=note,
    )


def run(engine: Engine) -> list[Result]:
    if not WRK.exists():
        raise SystemExit(f"The API benchmark needs wrk ({WRK}): apt-get install wrk.")
    url = engine.url.render_as_string(hide_password=False)
    backend = "PostgreSQL" if engine.dialect.name == "postgresql" else "SQLite"
    caller = seed(engine)
    results = measure_served(backend, url, caller, workers=1)
    if backend == "PostgreSQL":
        return results + measure_served(backend, url, caller, workers=2)
    try:
        with temporary_server() as postgres_url:
            db.migrate(postgres_url)
            postgres = db.create_engine(postgres_url)
            try:
                caller = seed(postgres)
            finally:
                postgres.dispose()
            for workers in (1, 2):
                results += measure_served("PostgreSQL", postgres_url, caller, workers=workers)
    except PostgresUnavailable as error:
        print(f"The API on PostgreSQL was not measured: {error}")
    return results
