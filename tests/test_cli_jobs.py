"""``python -m portal_core jobs list|run``: the scheduler's jobs named and run by hand, with the
job's own report; an unknown name is refused with the names there are, and a job that did not
do all it had to exits 1."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, insert, select

from portal_core import db
from portal_core.__main__ import main
from portal_core.models.base import utcnow
from portal_core.models.rate_limits import RateLimitWindow
from portal_core.services import jobs
from portal_core.services.jobs import Every, Job, JobReport


def test_the_list_names_every_job_with_its_schedule(capsys) -> None:
    assert main(["jobs", "list"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == len(jobs.JOBS)
    for job, line in zip(jobs.JOBS, printed, strict=True):
        assert line.split()[0] == job.name
        assert job.schedule.describe() in line and line.endswith(job.title)


def test_a_job_runs_by_hand_and_says_what_it_did(database, capsys) -> None:
    ended = int((utcnow() - timedelta(hours=2)).timestamp())
    with db.write_connection(database) as connection:
        connection.execute(
            insert(RateLimitWindow.__table__),  # type: ignore[attr-defined]
            [{"bucket": "light:x", "window_start": ended, "count": 3}],
        )
    assert main(["jobs", "run", "rate_limits.prune"]) == 0
    assert capsys.readouterr().out.strip() == (
        "API rate-limit windows pruned: 1 ended rate-limit window deleted."
    )
    with database.connect() as connection:
        left = connection.execute(select(RateLimitWindow.__table__)).all()  # type: ignore[attr-defined]
    assert left == []


def test_an_unknown_job_is_refused_with_the_names_there_are(database, capsys) -> None:
    assert main(["jobs", "run", "invoices.rerun"]) == 2
    said = capsys.readouterr().err
    assert "No job is named 'invoices.rerun'" in said
    assert all(job.name in said for job in jobs.JOBS)


def test_a_job_that_did_not_do_all_it_had_to_exits_1(database, capsys, monkeypatch) -> None:
    def partly(_engine: Engine, _now: object) -> JobReport:
        return JobReport("2 done, 1 to try again.", succeeded=False)

    monkeypatch.setattr(jobs, "JOBS", (Job("test.partly", "Partly", Every(minutes=5), partly),))
    assert main(["jobs", "run", "test.partly"]) == 1
    assert capsys.readouterr().out.strip() == "Partly: 2 done, 1 to try again."
