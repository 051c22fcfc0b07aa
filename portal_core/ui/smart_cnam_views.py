"""Partner › Smart CNAM drawn: the lookup form with the price of the next lookup, the result
with its explanation and the community report buttons, and this user's last lookups
(docs/product.md, Smart CNAM lookups and scores), and that lookup as code for the API.

A lookup is charged once per press of **Look up**: its request key is a nonce kept in session
state and renewed only after a lookup went through, so a double click (or a rerun that
interrupts the first) replays the same request rather than paying twice. The last result is
kept in session state so that the report buttons and the explanation survive the reruns that
follow it.
"""

from __future__ import annotations

import uuid
from datetime import tzinfo

import streamlit as st

from portal_core.errors import LookupRefused, PortalError
from portal_core.models.billing import LookupType
from portal_core.models.products import ReportKind
from portal_core.money import format_unit_price
from portal_core.permissions import Capability
from portal_core.queries.whois import NextLookupPrice, RecentLookup
from portal_core.rules import code_samples, scoring
from portal_core.rules.numbers import NotAPhoneNumber, parse_number, shown
from portal_core.services import lookups, reports
from portal_core.services.lookups import LookupResult
from portal_core.services.sessions import SessionView
from portal_core.settings import get_settings
from portal_core.ui import confirm, forms, resources, score_views, state
from portal_core.ui.registry import BY_ID
from portal_core.ui.text import markdown_code, markdown_escape

SOURCE = "partner.smart_cnam.source"
DESTINATION = "partner.smart_cnam.destination"
TYPE = "partner.smart_cnam.type"
NONCE = "partner.smart_cnam.nonce"  # the request key of the next press of Look up
RESULT = "partner.smart_cnam.result"  # the last LookupResult shown
REFUSAL = "partner.smart_cnam.refusal"  # the last refusal (funds, cap), shown above the form
REPORT_ASKED = "partner.smart_cnam.report"  # the kind of report being confirmed
DESCRIPTIONS = {
    LookupType.SOURCE_RISK: "The score (0–5) of a call from the source to one of your numbers.",
    LookupType.CALLER_ID: "The caller's name (CNAM), or where the number is from.",
    LookupType.REGIONAL: "City, region, country and time zone.",
    LookupType.TELCO_CARRIER: "Carrier, line type and company.",
    LookupType.ONLINE_PROFILES: "Public address, website, e-mail and social accounts.",
}
API_TOKENS_PAGE = "access.api_tokens"


def price_line(price: NextLookupPrice) -> None:
    """What the next lookup costs, said before it runs."""
    if price.included_left > 0:
        st.caption(
            f"This lookup is included in your {markdown_escape(price.plan_name)} plan: "
            f"{price.included_left:,} included lookups left this month."
        )
    elif price.price_micros is None:
        st.warning(
            f"This month's included lookups on your {markdown_escape(price.plan_name)} plan are "
            "used: lookups are refused until the 1st. Upgrade in Billing › Pricing to keep going.",
            icon=":material/block:",
        )
    else:
        st.caption(
            f"This lookup costs {format_unit_price(price.price_micros)}: this month's included "
            "lookups are used."
        )


def lookup_form(viewer: SessionView, *, own_numbers: list[str]) -> None:
    """The form; a lookup that goes through replaces the shown result."""
    st.session_state.setdefault(NONCE, str(uuid.uuid4()))
    refusal = st.session_state.pop(REFUSAL, None)
    if refusal:
        st.error(refusal, icon=":material/money_off:")
    errors = forms.FieldErrors()
    with st.form("partner.smart_cnam.form", enter_to_submit=True):
        source = st.text_input(
            "Source caller number *",
            key=SOURCE,
            placeholder="+1 416 555 0123",
            help="Any common form: +1 (416) 555-0123, 416.555.0123, tel:+14165550123.",
        )
        errors.slot("source")
        destination = st.text_input(
            "Destination callee",
            key=DESTINATION,
            placeholder=own_numbers[0] if own_numbers else "+1 416 555 0199",
            help="Needed for Source/Risk: one of your numbers registered in Whois Profiles.",
        )
        errors.slot("destination")
        lookup_type = st.radio(
            "Lookup type",
            [kind.value for kind in LookupType],
            format_func=lambda value: (
                f"{LookupType(value).label} — {DESCRIPTIONS[LookupType(value)]}"
            ),
            key=TYPE,
            index=1,
        )
        errors.general()
        pressed = st.form_submit_button("Look up", type="primary", icon=":material/search:")
    if not pressed:
        return
    try:
        result = lookups.look_up(
            resources.engine(),
            viewer.actor,
            source=source,
            destination=destination,
            lookup_type=LookupType(lookup_type or LookupType.CALLER_ID),
            request_key=f"portal:{st.session_state[NONCE]}",
        )
    except LookupRefused as refused:
        st.session_state[REFUSAL] = (
            refused.message + " The refusal is in Logs; nothing was charged."
        )
        st.rerun()
    except PortalError as error:
        errors.show(error)
        return
    st.session_state[NONCE] = str(uuid.uuid4())
    st.session_state[RESULT] = result
    st.rerun()


def last_result(viewer: SessionView) -> LookupResult | None:
    found = st.session_state.get(RESULT)
    return found if isinstance(found, LookupResult) else None


def result_view(viewer: SessionView, result: LookupResult) -> None:
    """The result: the number, its score and remark, the lookup type's answer, the text
    answer, why, and the report buttons."""
    st.divider()
    number = result.source.international
    heading, cost = st.columns([3, 1], vertical_alignment="bottom")
    heading.subheader(f"{result.lookup_type.label} · {number}")
    cost.caption(
        "Included in your plan"
        if result.included
        else f"Charged {format_unit_price(result.cost_micros)}"
    )
    left, right = st.columns([1, 2])
    with left:
        score_views.score_metric("Score", result.score.millis)
        if result.caller_name and result.lookup_type != LookupType.SOURCE_RISK:
            st.metric("Caller name", markdown_escape(result.caller_name))
        st.caption("Text answer for call flows")
        st.markdown(markdown_code(result.text))
    with right:
        for detail in result.details:
            if detail.label == "Caller name" and result.caller_name:
                continue  # drawn large beside
            st.markdown(f"**{markdown_escape(detail.label)}:** {markdown_escape(detail.value)}")
        if result.withheld:
            st.caption(
                "Its owner keeps the number's details private: the answer uses what the "
                "number itself tells."
            )
    score_views.explanation(result.score, key="partner.smart_cnam.result")
    _report_buttons(viewer, result)


def _report_buttons(viewer: SessionView, result: LookupResult) -> None:
    if result.own:
        st.caption("This is one of your numbers: you can't report it.")
        return
    st.markdown("**Tell SIPSTACK what you know of this number**")
    spam, safe, _rest = st.columns([1, 1, 2])
    spam.button(
        "Report as spam",
        key="partner.smart_cnam.report_spam",
        icon=":material/report:",
        on_click=confirm.ask,
        args=(REPORT_ASKED, ReportKind.SPAM.value),
    )
    safe.button(
        "Report as safe",
        key="partner.smart_cnam.report_safe",
        icon=":material/verified_user:",
        on_click=confirm.ask,
        args=(REPORT_ASKED, ReportKind.SAFE.value),
    )
    asked = confirm.asked(REPORT_ASKED)
    if asked is None:
        return
    kind = ReportKind(str(asked))

    @st.dialog(
        f"Report {result.source.international} as {kind.value}",
        on_dismiss=lambda: confirm.ask(REPORT_ASKED, False),
    )
    def confirm_report() -> None:
        st.write(
            f"Your report counts in this number's score for {scoring.REPORT_WINDOW_DAYS} days, "
            "for every SIPSTACK partner. One report per number every 30 days."
        )
        comment = st.text_area(
            "Comment (optional)", key="partner.smart_cnam.report_comment", max_chars=300
        )
        send, cancel = st.columns(2)
        if send.button("Send report", type="primary", key="partner.smart_cnam.report_send"):
            try:
                with resources.writing() as session:
                    reports.report(
                        session,
                        viewer.actor,
                        number=result.source.e164,
                        kind=kind,
                        comment=comment,
                    )
            except PortalError as error:
                st.error(error.message, icon=":material/error:")
                return
            confirm.ask(REPORT_ASKED, False)
            state.flash(f"Thank you: {result.source.international} is reported as {kind.value}.")
            st.rerun()
        if cancel.button("Cancel", key="partner.smart_cnam.report_cancel"):
            confirm.ask(REPORT_ASKED, False)
            st.rerun()

    confirm_report()


def code_view(viewer: SessionView, result: LookupResult | None) -> None:
    """The lookup on screen (the one just made, else the one typed) as a program makes it
    through the API: curl, Python and a dialplan line, with placeholders for a token."""
    lookup = _lookup_on_screen(result)
    with st.expander("Make this lookup from your code", icon=":material/code:"):
        st.caption(
            "Your programs make the same lookup through the SIPSTACK API with an API token: "
            "put its key and secret in place of `YOUR_KEY` and `YOUR_SECRET`."
        )
        tokens_page = BY_ID[API_TOKENS_PAGE]
        if viewer.actor.can(Capability.API_TOKENS):
            st.page_link(tokens_page.script, label="Create a token", icon=tokens_page.icon)
        else:
            st.caption("Owners, admins and developers create tokens, in API Tokens.")
        samples = code_samples.lookup_samples(get_settings().public_url, lookup=lookup)
        for tab, sample in zip(st.tabs([sample.title for sample in samples]), samples, strict=True):
            tab.code(sample.code, language=sample.language)
        if not lookup.has_text_answer:
            st.caption(
                "No dialplan line for this type: a dialplan reads the short text answer, "
                "which only Source/Risk and Caller ID lookups have."
            )


def _lookup_on_screen(result: LookupResult | None) -> code_samples.Lookup:
    if result is not None:
        return code_samples.Lookup(
            result.source.e164,
            result.destination.e164 if result.destination else None,
            result.lookup_type,
        )
    lookup_type = LookupType(st.session_state.get(TYPE) or LookupType.CALLER_ID)
    return code_samples.Lookup(
        _typed_number(SOURCE) or code_samples.SAMPLE_NUMBER,
        _typed_number(DESTINATION),
        lookup_type,
    )


def _typed_number(key: str) -> str | None:
    """The number typed in box ``key``, when it reads as one without a country to assume."""
    typed = str(st.session_state.get(key) or "").strip()
    if not typed:
        return None
    try:
        return parse_number(typed, default_region=None).e164
    except NotAPhoneNumber:
        return None


def recent(lookups_made: list[RecentLookup], *, time_zone: tzinfo) -> None:
    st.markdown("**Your last lookups**")
    if not lookups_made:
        st.caption("Your lookups will be listed here.")
        return
    for made in lookups_made:
        kind = LookupType(made.lookup_type).label if made.lookup_type in set(LookupType) else ""
        when = made.at.astimezone(time_zone).strftime("%b %-d, %H:%M")
        outcome = made.result if made.status == "ok" else f"Refused: {made.result or ''}"
        st.markdown(
            f"{markdown_escape(when)} · {markdown_escape(kind)} · "
            f"{markdown_escape(shown(made.number) if made.number else '')}  \n"
            f":small[{markdown_escape(outcome or '')}]"
        )
