"""Reading a name's DNS TXT records, for the verification of brand domains.

The resolver is the machine's own unless ``DNS_NAMESERVERS`` names others (with
``DNS_PORT``); ``DNS_TIMEOUT_SECONDS`` bounds a whole lookup, retries included, so a check
answers within it even when nobody does. Nothing here touches the database: a caller asks
before its unit of work, so a slow DNS server never holds a write open.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import dns.exception
import dns.name
import dns.resolver

from portal_core.settings import get_settings


class Outcome(StrEnum):
    RECORDS = "records"  # the name has TXT records (``values``)
    NO_SUCH_NAME = "no_such_name"  # NXDOMAIN: nothing is published at the name
    NO_TXT = "no_txt"  # the name exists, with no TXT record
    TIMEOUT = "timeout"  # no answer within the time allowed
    FAILED = "failed"  # the name servers refused or failed (SERVFAIL, REFUSED, …)


@dataclass(frozen=True)
class TxtLookup:
    outcome: Outcome
    values: tuple[str, ...] = ()  # each record's strings joined, as TXT records are read


def resolver() -> dns.resolver.Resolver:
    """A resolver as the settings say: the system's, or the named servers on their port."""
    settings = get_settings()
    servers = [server.strip() for server in settings.dns_nameservers.split(",") if server.strip()]
    made = dns.resolver.Resolver(configure=not servers)
    if servers:
        made.nameservers = servers
        made.port = settings.dns_port
    made.lifetime = settings.dns_timeout_seconds
    made.timeout = settings.dns_timeout_seconds
    return made


def txt_records(name: str) -> TxtLookup:
    """The TXT records at ``name`` (a host name, Unicode allowed), or why there are none."""
    try:
        answer = resolver().resolve(dns.name.from_unicode(name), "TXT", search=False)
    except dns.resolver.NXDOMAIN:
        return TxtLookup(Outcome.NO_SUCH_NAME)
    except dns.resolver.NoAnswer:
        return TxtLookup(Outcome.NO_TXT)
    except dns.exception.Timeout:
        return TxtLookup(Outcome.TIMEOUT)
    except dns.exception.DNSException:
        return TxtLookup(Outcome.FAILED)
    values = tuple(b"".join(record.strings).decode("utf-8", errors="replace") for record in answer)
    return TxtLookup(Outcome.RECORDS, values)
