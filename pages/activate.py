"""The activation wizard: company → brand → plan → payment method → done; it resumes where it
stopped. A paid plan needs a card to activate; Free may skip the card ("Skip for now").

The step is derived from what the organization has filled in (``accounts.wizard_step``),
so a reload, a new device or a return days later lands on the right step.
"""

import streamlit as st

from portal_core.queries import payments, pricing
from portal_core.services import accounts
from portal_core.ui import resources, shell, wizard_views

viewer = shell.open_page("account.activate")

with resources.reading() as session:
    step = accounts.wizard_step(session, viewer.actor)
    organization = accounts.organization_of(session, viewer.actor)

st.title("Activate your account")
if step is accounts.WizardStep.DONE:
    wizard_views.already_active()
    st.stop()

wizard_views.progress(step)
if step is accounts.WizardStep.COMPANY:
    wizard_views.company_step(viewer, organization)
elif step is accounts.WizardStep.BRAND:
    wizard_views.brand_step(viewer, organization)
elif step is accounts.WizardStep.PLAN:
    with resources.reading() as session:
        plans = pricing.plans(session)
    wizard_views.plan_step(viewer, plans)
elif step is accounts.WizardStep.PAYMENT_METHOD:
    with resources.reading() as session:
        plan = pricing.current_plan(session, viewer.actor)
        card_required = accounts.card_required(session, viewer.actor)
        saved = payments.payment_methods(session, viewer.actor)
    wizard_views.payment_method_step(viewer, plan, card_required=card_required, saved=saved)
else:
    with resources.reading() as session:
        plan = pricing.current_plan(session, viewer.actor)
        card = payments.default_card(session, viewer.actor)
    wizard_views.ready_step(viewer, organization, plan, card)
