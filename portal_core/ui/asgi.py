"""The portal as one ASGI app: the Streamlit pages, and the REST API under ``/api``.

``uvicorn portal_core.ui.asgi:app`` serves both on one port (``make run``). The database is
migrated to the newest schema at start-up, then the scheduler of the recurring jobs starts
beside the server (unless ``SCHEDULER=off``) and stops with it, letting the job running at
that moment finish; last, the API tokens' last-used times noted in this process are
written. ``st.App`` is marked experimental in Streamlit 1.67, so the API stays runnable on
its own (``portal_core.api.app``), without the scheduler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import streamlit as st
from starlette.routing import Mount

from portal_core import db
from portal_core.api.app import app as api_app
from portal_core.services import api_tokens
from portal_core.services.scheduler import Scheduler
from portal_core.settings import ROOT, get_settings

log = logging.getLogger(__name__)


@asynccontextmanager
async def _lifespan(_app: st.App) -> AsyncIterator[None]:
    db.migrate()
    scheduler = Scheduler(db.engine()) if get_settings().scheduler else None
    if scheduler is not None:
        scheduler.start()
    try:
        yield
    finally:
        if scheduler is not None:
            # Off the event loop: a job may still be finishing.
            await asyncio.to_thread(scheduler.shutdown)
        # A Mount passes no lifespan on, so the API's own shutdown flush never runs here.
        try:
            await asyncio.to_thread(api_tokens.flush_last_used, db.engine())
        except Exception:
            log.exception("The API tokens' last-used times could not be written at shutdown")


app = st.App(str(ROOT / "Home.py"), routes=[Mount("/api", app=api_app)], lifespan=_lifespan)
