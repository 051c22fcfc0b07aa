"""A throw-away PostgreSQL server for the tests: initdb into a temporary folder, started as the
``postgres`` user (initdb refuses root) on a free loopback port, stopped at the end.

``TEST_DATABASE_URL`` skips all this and uses a server someone else started (``.ci/run``
does). Without PostgreSQL binaries the tests that need it skip with the reason, unless
``REQUIRE_POSTGRES=1`` makes that a failure.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.served import free_port


class PostgresUnavailable(RuntimeError):
    pass


def _binaries() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise PostgresUnavailable("no PostgreSQL server binaries (apt-get install postgresql)")


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable("running as root and there is no 'postgres' user") from None
    return ["runuser", "-u", "postgres", "--", *command]


@contextmanager
def temporary_server() -> Iterator[str]:
    """Start a server; yield the URL of an empty database ``portal_test`` on it."""
    binaries = _binaries()
    folder = Path(tempfile.mkdtemp(prefix="portal-pg-"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    data = folder / "data"
    port = free_port()

    def run(program: str, *args: str) -> None:
        command = _as_postgres([str(binaries / program), *args])
        subprocess.run(command, check=True, capture_output=True, text=True)

    try:
        run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = (
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        run("pg_ctl", "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
    except subprocess.CalledProcessError as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise PostgresUnavailable(f"PostgreSQL did not start: {error.stderr.strip()}") from error
    try:
        _create_database(port)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/portal_test"
    finally:
        subprocess.run(
            _as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


def _create_database(port: int) -> None:
    import psycopg

    deadline = time.monotonic() + 20
    while True:
        try:
            with psycopg.connect(
                f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True
            ) as connection:
                connection.execute("CREATE DATABASE portal_test")
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
