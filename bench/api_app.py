"""The REST API as ``python -m portal_core api`` serves it, plus one bare route the API
benchmark times beside the lookup: ``GET /bench/bare`` answers a constant, touching no
database, through the same server, middleware and thread pool as the lookup's sync route.
The route lives here, not in the product: no deployment answers it.
"""

from __future__ import annotations

from portal_core.api.app import create_app

app = create_app(settle_heap=True)


@app.get("/bench/bare", include_in_schema=False)
def bare() -> dict[str, str]:
    return {"status": "ok"}
