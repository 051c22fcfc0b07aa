"""The portal as one ASGI app: the Streamlit pages, and the REST API under ``/api``.

``uvicorn portal_core.ui.asgi:app`` serves both on one port (``make run``). The database is
migrated to the newest schema at start-up. ``st.App`` is marked experimental in Streamlit
1.67, so the API stays runnable on its own (``portal_core.api.app``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import streamlit as st
from starlette.routing import Mount

from portal_core import db
from portal_core.api.app import app as api_app
from portal_core.settings import ROOT


@asynccontextmanager
async def _lifespan(_app: st.App) -> AsyncIterator[None]:
    db.migrate()
    yield


app = st.App(str(ROOT / "Home.py"), routes=[Mount("/api", app=api_app)], lifespan=_lifespan)
