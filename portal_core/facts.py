"""Facts: what a unit of work tells the rest of the portal happened to money (and to a
number's reputation).

The ledger, the meter and the invoice run move an organization's figures; other parts of the
portal react (the low-balance alert, auto-recharge, due invoices becoming paid). The movers
do not call the reactors — that made an import circle (ledger → alert → auto-recharge →
payments → ledger) — they **publish a fact** to their unit of work (``db.publish``). Before
the unit of work commits, it hands each fact to the reactions installed for its type, inside
the same transaction, so a reaction's writes (a notice, a queued e-mail, a paid invoice)
commit exactly when the fact's cause commits, and never after a rollback. A reaction may
publish facts of its own; they are handled in the same way before the commit.

The reactions are listed in one place, ``portal_core.services.reactions``, which installs
them when the services package is imported: a process that can move money has imported it.
Publishing a fact that has no reaction installed is an error, never a silent loss.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection


@dataclass(frozen=True)
class FundsDropped:
    """An organization's available funds (balance − unbilled usage, µ$) went from ``before``
    to ``after``. ``cause`` names the event (``usage:<request key>``, ``ledger:<key>``): it
    makes what reacts to it idempotent."""

    organization_id: uuid.UUID
    before_available_micros: int
    after_available_micros: int
    cause: str
    at: datetime | None = None


@dataclass(frozen=True)
class BalanceRose:
    """An organization's balance went up (a payment, a credit, a dispute won back) to
    ``balance_after_cents``."""

    organization_id: uuid.UUID
    balance_after_cents: int
    cause: str
    at: datetime | None = None


@dataclass(frozen=True)
class NumberScoreFell:
    """A registered number's stored score fell into the spam bands: from ``before_millis``
    (None: never scored) to ``after_millis``, under the reputation alert's threshold."""

    organization_id: uuid.UUID
    profile_id: uuid.UUID
    number: str
    before_millis: int | None
    after_millis: int
    at: datetime | None = None


Fact = FundsDropped | BalanceRose | NumberScoreFell
Reaction = Callable[[Connection, Any], None]

_reactions: dict[type, tuple[Reaction, ...]] = {}


def install(reactions: Mapping[type, Sequence[Reaction]]) -> None:
    """Install the reactions of each fact type (``services.reactions`` does, once)."""
    _reactions.clear()
    _reactions.update({kind: tuple(handlers) for kind, handlers in reactions.items()})


def react(connection: Connection, fact: object) -> None:
    """Hand ``fact`` to each reaction installed for its type, in the order listed."""
    handlers = _reactions.get(type(fact))
    if handlers is None:
        raise RuntimeError(
            f"No reactions are installed for {type(fact).__name__}: import "
            "portal_core.services before writing."
        )
    for handler in handlers:
        handler(connection, fact)
