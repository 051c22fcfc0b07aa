"""Group commit: on SQLite, the work waiting for the write lock is done by one thread, in one
transaction, committed once (docs/architecture.md, The hot path).

SQLite writes one transaction at a time, and each of the API's lookups writes: its rate
limit's count, its charge, its usage record and its line of Logs. Run side by side, lookups
would only contend for the interpreter lock. So a process's lookups on SQLite go through
``GroupCommit.run``: the first to come *leads*, and does the work of every caller waiting
behind it (up to ``MOST``) in its own thread, inside one ``db.write_batch``, then commits
once. A commit is SQLite writing each changed page of the tables and their indexes: lookups
committed together share most of those pages, and the begin and commit themselves.

Each caller's answer is given only once its group committed (and after what its work
deferred until the commit ran), so nothing is answered that could still be rolled back. A
group is never undone piecemeal: work that raises without having written anything leaves
the group as it was; work that raises after writing, and would have rolled back alone,
spoils the group (``db.WriteBatch``), which then rolls back and does each caller's work
again alone, one transaction each, exactly as without a group. At rest a group is of one.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy import Engine

from portal_core import db

log = logging.getLogger(__name__)

# The most callers whose work one group does: enough for every connection of a busy client
# (bench/README.md), few enough that the first of them is not kept waiting long.
MOST = 16

T = TypeVar("T")


class _Job(Generic[T]):
    """One caller's work, its outcome, and the caller's turn."""

    __slots__ = ("deferred", "done", "error", "leads", "turn", "value", "work")

    def __init__(self, work: Callable[[], T]) -> None:
        self.work = work
        self.turn = threading.Event()  # set when answered, or when it is to lead
        self.leads = False
        self.done = False
        self.value: T | None = None
        self.error: BaseException | None = None
        self.deferred: db.Deferred = []

    def run(self) -> None:
        self.deferred = []
        try:
            self.value, self.error = self.work(), None
        except BaseException as error:
            self.value, self.error = None, error
        self.done = True

    def outcome(self) -> T:
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        return self.value  # type: ignore[return-value]


class GroupCommit:
    """Does callers' work in groups, one group at a time, each in one write transaction of
    ``engine`` (see the module's docstring)."""

    def __init__(self, engine: Engine, most: int = MOST) -> None:
        self._engine = engine
        self._most = most
        self._guard = threading.Lock()
        self._waiting: deque[_Job[object]] = deque()
        self._led = False  # someone leads: newcomers wait for their turn

    def run(self, work: Callable[[], T]) -> T:
        """Do ``work`` (which may open units of work on the engine: they join the group's
        transaction) and return what it returns or raise what it raised, once its group has
        committed."""
        job = _Job(work)
        with self._guard:
            self._waiting.append(job)  # type: ignore[arg-type]
            leads = not self._led
            self._led = True
        if not leads:
            job.turn.wait()
            if not job.leads:
                return job.outcome()
        # Whoever leads is first in line: the group is its caller's work and those behind it.
        with self._guard:
            group = [self._waiting.popleft() for _ in range(min(self._most, len(self._waiting)))]
        try:
            self._commit(group)
        finally:
            self._pass_the_lead()
            for done in group:
                if not done.done:
                    done.error = RuntimeError("the group's work stopped before this caller's")
                db.run_deferred(done.deferred)
                if done is not job:
                    done.turn.set()
        return job.outcome()

    def waiting(self) -> int:
        """How many callers wait for their group (the one being done excluded)."""
        with self._guard:
            return len(self._waiting)

    def _commit(self, group: list[_Job[object]]) -> None:
        committed = False
        try:
            with db.write_batch(self._engine) as batch:
                for job in group:
                    start = len(batch.deferred)
                    job.run()
                    job.deferred = batch.deferred[start:]
                    if batch.spoiled:
                        break
            committed = batch.committed
        except Exception:
            log.exception("A write batch failed; its callers' work is done again alone")
        if committed:
            return
        for job in group:
            job.run()  # alone: its units of work commit (and run what they defer) on their own

    def _pass_the_lead(self) -> None:
        with self._guard:
            if self._waiting:
                successor = self._waiting[0]
                successor.leads = True
                successor.turn.set()
            else:
                self._led = False


_groups: weakref.WeakKeyDictionary[Engine, GroupCommit] = weakref.WeakKeyDictionary()
_groups_guard = threading.Lock()


def of(engine: Engine) -> GroupCommit:
    """The engine's group commit (one per engine: its groups share the engine's write lock)."""
    with _groups_guard:
        found = _groups.get(engine)
        if found is None:
            found = _groups[engine] = GroupCommit(engine)
        return found
