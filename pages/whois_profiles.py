"""Partner › Whois Profiles: the organization's registered numbers in the portal's table
(search, filters, sorts, page size, CSV), the carrier score with what would raise it, the
green + that registers a number in a form of three tabs, a number's profile with its
completeness, score, history, verification by a code, Edit and Delete, and the organization's
ownership disputes (docs/product.md, Whois Profiles)."""

import streamlit as st

from portal_core.models.base import utcnow
from portal_core.permissions import Capability
from portal_core.queries import disputes, whois
from portal_core.services import platform
from portal_core.ui import (
    list_detail,
    ownership_views,
    resources,
    score_views,
    shell,
    whois_import_views,
    whois_views,
)

viewer = shell.open_page("partner.whois_profiles")
can_write = viewer.actor.can(Capability.WHOIS_WRITE)
now = utcnow()

with resources.reading() as session:
    carrier = whois.carrier_score_explained(session, viewer.actor, now=now)
    time_zone = platform.billing_time_zone(session)

whois_views.heading(can_write=can_write)
score_views.carrier_score_card(carrier, key="partner.whois_profiles")
whois_views.profile_table(viewer, time_zone=time_zone)

opened_id = st.query_params.get(whois_views.PARAM)
if opened_id:
    with resources.reading() as session:
        opened = list_detail.read_opened(
            opened_id,
            lambda profile_id: whois.profile_detail(session, viewer.actor, profile_id, now=now),
            noun="profile",
        )
        proof = (
            whois_views.OwnershipState(
                code_expires=disputes.code_waiting(
                    session, viewer.actor, opened.profile.id, now=now
                ),
                open_dispute=disputes.open_dispute_of(session, viewer.actor, opened.profile.id),
            )
            if opened is not None
            else None
        )
    if opened is not None and proof is not None:
        whois_views.detail(
            viewer, opened, ownership=proof, can_write=can_write, time_zone=time_zone
        )

ownership_views.disputes_section(viewer, time_zone=time_zone)

if can_write:
    whois_views.form_dialog(viewer)
    whois_views.delete_dialog(viewer)
    whois_import_views.dialog(viewer)
