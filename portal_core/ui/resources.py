"""Process-wide resources: the engine, and read/write sessions on it.

Only the engine is cached (``st.cache_resource``); an organization's data is read fresh on
every run, because the API, webhooks and jobs write from other processes (DESIGN.md, rule 9).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from sqlalchemy import Engine
from sqlmodel import Session

from portal_core import db
from portal_core.settings import get_settings


@st.cache_resource(show_spinner=False)
def engine() -> Engine:
    return db.create_engine(get_settings().database_url)


@contextmanager
def reading() -> Iterator[Session]:
    with db.read_session(engine()) as session:
        yield session


@contextmanager
def writing() -> Iterator[Session]:
    with db.write_session(engine()) as session:
        yield session
