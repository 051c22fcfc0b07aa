"""The scheduler's record of each job: when it last ran and how, when it runs next, and who
holds it now.

One row per job of the registry (``portal_core.services.jobs``), keyed by the job's name. Several
portal copies may run the scheduler; the row is what makes a job run once among them: a copy
runs a job only after taking its lease, by one atomic UPDATE that succeeds only while the job
is due (``next_run_at`` has passed) and nobody holds a live lease (``lease_expires_at`` empty
or past). A copy that dies holding the lease stops renewing it, so the lease expires and
another copy (or the same one, restarted) runs the job again.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlmodel import Field, SQLModel

from portal_core.models.base import UTCDateTime, optional_time_field, utcnow


class JobOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # it raised, or it reported work it could not do (its summary says what)


class ScheduledJob(SQLModel, table=True):
    __tablename__ = "scheduled_jobs"

    name: str = Field(primary_key=True, max_length=60)
    # When the job was first scheduled: a job that never ran is due from its first due time
    # after this.
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # The due time this job waits for; at or before now, it is owed (missed, or its last run
    # was lost). Written when the job is scheduled and when a run finishes.
    next_run_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_started_at: datetime | None = optional_time_field()
    last_finished_at: datetime | None = optional_time_field()
    last_outcome: JobOutcome | None = Field(default=None, sa_type=String(20), nullable=True)
    last_summary: str | None = Field(default=None, max_length=500)
    # Which scheduler (host, process, instance) holds the job now, and until when.
    leased_by: str | None = Field(default=None, max_length=120)
    lease_expires_at: datetime | None = optional_time_field()
