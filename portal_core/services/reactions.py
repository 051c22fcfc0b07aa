"""What reacts to the facts the money path publishes, listed in one place.

The ledger, the meter and the invoice run publish facts to their unit of work
(``portal_core.facts``); before the unit of work commits, each fact goes to the reactions
below, in order, inside the same transaction. Importing ``portal_core.services`` installs
them.
"""

from __future__ import annotations

from portal_core import facts
from portal_core.facts import BalanceRose, FundsDropped, NumberScoreFell
from portal_core.services import auto_recharge, funds_watch, invoices, reputation

REACTIONS: dict[type, tuple[facts.Reaction, ...]] = {
    # Available funds went down: alert the members whose threshold it crossed, then recharge
    # the default card if it crossed auto-recharge's threshold.
    FundsDropped: (funds_watch.alert_low_balance, auto_recharge.on_funds_dropped),
    # The balance went up: due invoices it now covers become paid, oldest first.
    BalanceRose: (invoices.settle_due_invoices,),
    # A registered number's score fell into the spam bands: reputation watch.
    NumberScoreFell: (reputation.alert,),
}

facts.install(REACTIONS)
