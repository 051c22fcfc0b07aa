"""How the API alone is served (``python -m portal_core api``): uvicorn's HTTP/1.1 protocol
with Nagle's algorithm off on every connection.

With several worker processes uvicorn hands each one a listening socket that asyncio does
not recognise as TCP, so the connections it accepts keep Nagle's algorithm on. h11 writes an
answer's head and body apart, and the body then waits for the client's delayed ACK: about
40 ms on every answer of a call flow that keeps its connection open. Turning ``TCP_NODELAY``
on as each connection opens makes one process and several answer alike.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        connection = transport.get_extra_info("socket")
        if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
