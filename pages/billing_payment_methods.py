"""Billing › Payment Methods: the organization's saved cards in the portal's table (card,
brand, last four, expiry, default, Active or Expired; the filter, the gear and CSV, as every
Billing list has them); the green + above it adds one; selecting a card offers its actions:
make it the default (not an expired card) or remove it, with a confirmation
(docs/product.md, Pages › Billing › Payment Methods; docs/architecture.md, rule 6).

Card numbers never reach the portal: in the sandbox the partner picks one of Stripe's test
cards by name; with Stripe, the + sends the partner to Stripe's hosted page, which returns
here with ``?card_setup=done`` (or ``cancelled``) and the card appears once Stripe's webhook
reports it.
"""

from portal_core.permissions import Capability
from portal_core.queries import payments
from portal_core.services import platform
from portal_core.ui import payment_method_views, resources, shell

viewer = shell.open_page("billing.payment_methods")
can_manage = viewer.actor.can(Capability.BILLING_MANAGE)

with resources.reading() as session:
    recharge = payments.auto_recharge_settings(session, viewer.actor)
    time_zone = platform.billing_time_zone(session)
sandbox = payments.uses_sandbox()

payment_method_views.heading(viewer, can_manage=can_manage, sandbox=sandbox)
payment_method_views.stripe_setup(can_manage=can_manage, sandbox=sandbox)
selected = payment_method_views.selected_card(viewer, time_zone=time_zone)
if selected is not None:
    payment_method_views.card_actions(viewer, selected, recharge=recharge, can_manage=can_manage)
if recharge.enabled and can_manage:
    payment_method_views.auto_recharge_note()

if can_manage:
    if sandbox:
        payment_method_views.add_test_card_dialog(viewer)
    payment_method_views.remove_card_dialog(viewer)
