"""How the API alone is served (``python -m portal_core api``): uvicorn's HTTP/1.1 protocol
with Nagle's algorithm off on every connection, and a heap the garbage collector leaves alone.

With several worker processes uvicorn hands each one a listening socket that asyncio does
not recognise as TCP, so the connections it accepts keep Nagle's algorithm on. h11 writes an
answer's head and body apart, and the body then waits for the client's delayed ACK: about
40 ms on every answer of a call flow that keeps its connection open. Turning ``TCP_NODELAY``
on as each connection opens makes one process and several answer alike.
"""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        connection = transport.get_extra_info("socket")
        if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


@contextmanager
def settled_heap() -> Iterator[None]:
    """Keeps what the process holds once started out of the garbage collector's full passes
    while it serves (``gc.freeze``), and gives it back after.

    A full pass walks every object the process holds: the modules' (SQLAlchemy, pydantic, the
    numbering plan's) and the caches' alike, about 120 ms on this workload's heap, and every
    request waits behind it; it came about once a minute under load and made the slowest
    answers. What starts up lives as long as the process: frozen, a full pass walks only what
    the requests made since (1–2 ms)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
