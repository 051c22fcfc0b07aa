"""Card payments, one job per module:

- ``cards``: saving cards, the default card, removing one, the gateway's customer;
- ``top_ups``: the fee quote and adding funds;
- ``settlement``: the only module that posts card payments, refunds and disputes to the
  ledger;
- ``webhook``: Stripe's signed events, applied once;
- ``reconciliation``: asking the gateway about payments its webhook never settled.

Auto-recharge (``services.auto_recharge``) charges through ``top_ups`` and settles through
``settlement``.
"""
