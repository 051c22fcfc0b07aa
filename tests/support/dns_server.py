"""A tiny authoritative DNS server on loopback, for the checks of brand domains.

It answers TXT questions from ``records`` (a name → its TXT values), says NXDOMAIN for a name
in ``missing`` or unknown, answers with no record for a name in ``empty``, fails a name in
``failing`` (SERVFAIL, as a broken zone does) and never answers a name in ``silent`` (so the
resolver times out). The ``dns_server`` fixture
(tests/conftest.py) starts one and points the portal's settings at it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


@dataclass
class DnsServer:
    port: int
    records: dict[str, list[str]] = field(default_factory=dict)
    empty: set[str] = field(default_factory=set)
    silent: set[str] = field(default_factory=set)
    failing: set[str] = field(default_factory=set)
    questions: list[str] = field(default_factory=list)

    def answer(self, wire: bytes) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        self.questions.append(name)
        if name in self.silent:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name in self.failing:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name in self.records and question.rdtype == dns.rdatatype.TXT:
            response.answer.append(
                dns.rrset.from_text_list(
                    question.name,
                    60,
                    dns.rdataclass.IN,
                    dns.rdatatype.TXT,
                    [f'"{value}"' for value in self.records[name]],
                )
            )
        elif name not in self.empty and name not in self.records:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()


def _serve(server: DnsServer, sock: socket.socket, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            wire, client = sock.recvfrom(4096)
        except TimeoutError:
            continue
        except OSError:
            return
        answer = server.answer(wire)
        if answer is not None:
            sock.sendto(answer, client)


@contextmanager
def running_dns_server() -> Iterator[DnsServer]:
    """A DNS server on a free UDP port of 127.0.0.1, answering until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)
    server = DnsServer(port=sock.getsockname()[1])
    stop = threading.Event()
    thread = threading.Thread(target=_serve, args=(server, sock, stop), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()
