"""The REST API's rate-limit counters (docs/product.md, The REST API's contract).

One row per bucket (a policy and what it counts: an organization, a token, a client address)
and fixed window. Every API process counts in the same row with one UPSERT, so several
copies behind a load balancer agree on what is left; windows that have ended are deleted by
the ``api.rate_limits_prune`` job.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String
from sqlmodel import Field, SQLModel


class RateLimitWindow(SQLModel, table=True):
    __tablename__ = "rate_limit_windows"
    # The prune deletes by the window's start across every bucket.
    __table_args__ = (Index("ix_rate_limit_windows_start", "window_start"),)

    # "lookups:<organization id>", "light:<token id>", "auth:<address>": the policy first.
    bucket: str = Field(sa_column=Column(String(120), primary_key=True))
    # The window's first second, in seconds since the epoch (a multiple of its length).
    window_start: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    count: int = Field(sa_column=Column(Integer, nullable=False))
