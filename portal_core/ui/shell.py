"""The shell every page opens through first: config, login, the gate, top bar and left pane.

With a ``pages/`` folder, Streamlit runs a deep-linked page's script alone, never ``Home.py``,
so each page's first statement is ``shell.open_page(<id>)`` (or ``open_public_page`` for the
few pages anyone may open). It decides, from the database, who is signed in and what the
account's stage and role allow (docs/product.md, Account life cycle), refuses with
``st.stop()`` what they may not see, and draws the chrome from the one page registry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import streamlit as st
from sqlmodel import Session

from portal_core.errors import PortalError
from portal_core.models.accounts import Role
from portal_core.models.base import utcnow
from portal_core.money import format_cents
from portal_core.permissions import Actor, Capability
from portal_core.queries import billing
from portal_core.queries import notices as notice_queries
from portal_core.services import accounts, sessions
from portal_core.services import notices as notice_services
from portal_core.services.sessions import SessionView
from portal_core.ui import preload, resources, state, theme
from portal_core.ui.auth import LoginCookie, current_view, log_out, login_form
from portal_core.ui.registry import BY_ID, HOME, PAGES, Audience, PageSpec, Section, page
from portal_core.ui.text import markdown_code, markdown_escape

LOGO = str(Path(__file__).parent / "assets" / "sipstack_logo.svg")
MARK = str(Path(__file__).parent / "assets" / "sipstack_mark.png")  # the favicon, served by us
_SECTION_ORDER = list(Section)
BELL = "portal.notices_bell"  # the bell's popover: open or closed
NOTICE_PARAM = "notice"  # the Notices page opens (and marks read) the notice it names
BEFORE_THE_PAGE = "portal-before-the-page"  # the login form's container (``open_page``)


def open_page(page_id: str) -> SessionView:
    """Open a page that needs an active account; refuses (and stops) everyone else."""
    spec = page(page_id)
    if spec.audience is Audience.PUBLIC:
        raise ValueError(f"{page_id} is public: open it with open_public_page")
    cookie = _start(spec)
    view = current_view(cookie)
    # What only the login's run draws before the page (the form, the code fetched meanwhile)
    # sits in a container that every run draws, and the signed-in layout hides without its
    # form: the page's elements keep their places from the login's run to the next, so a tab
    # chosen or an expander opened then stays as it is (an element whose place moves is
    # drawn anew), and the page stands where a reload draws it.
    with st.container(key=BEFORE_THE_PAGE):
        if view is None:
            st.logo(LOGO, size="large")
            preload.dashboard_code()
            view = login_form(cookie)
    cookie.settle()
    if view is None:
        st.stop()
    refusal = _refusal(spec, view)
    _draw_chrome(spec, view)
    if refusal is not None:
        refusal(view)
        st.stop()
    return view


def open_public_page(page_id: str) -> SessionView | None:
    """Open a page anyone may see (Get Started, verify e-mail, reset password, Terms)."""
    spec = page(page_id)
    if spec.audience is not Audience.PUBLIC:
        raise ValueError(f"{page_id} is not public: open it with open_page")
    cookie = _start(spec)
    view = current_view(cookie)
    cookie.settle()
    if view is None:
        st.logo(LOGO, size="large")
        _show_flash()
    else:
        _draw_chrome(spec, view)
    return view


def _start(spec: PageSpec) -> LoginCookie:
    st.set_page_config(
        page_title=f"{spec.title} · SIPSTACK Partner Portal",
        page_icon=MARK,
        layout="wide",
    )
    state.init()
    return LoginCookie()


# --- The gate ----------------------------------------------------------------------------


Refusal = Callable[[SessionView], None]


def _refusal(spec: PageSpec, view: SessionView) -> Refusal | None:
    """What to show instead of the page, or None when the viewer may open it."""
    if view.is_staff:
        if spec.audience is Audience.ACTIVATION:
            return _not_for_staff
    elif not view.verified:
        return _check_your_email
    elif not view.organization_active:
        if view.role is not Role.OWNER:
            return _owner_activates
        if spec.audience is not Audience.ACTIVATION:
            return _finish_activation
    elif view.two_factor_missing and spec.id != TWO_FACTOR_PAGE:
        return _turn_on_two_factor
    if spec.capability is not None and not view.actor.can(spec.capability):
        return _not_your_role
    return None


def _not_your_role(view: SessionView) -> None:
    _refuse(view, "Your role does not give you access to this page.")


def _owner_activates(_view: SessionView) -> None:
    st.title("Your organization is being set up")
    st.write("Its owner is finishing the activation; the portal opens when they are done.")


def _not_for_staff(view: SessionView) -> None:
    _refuse(view, "Activation is for partner accounts; staff accounts are ready to use.")


def _refuse(view: SessionView, message: str) -> None:
    st.title("No access")
    st.error(message, icon=":material/block:")
    if view.is_staff:  # staff have no Dashboard: they land on Staff › Organizations
        landing = page("staff.organizations")
        st.page_link(landing.script, label=f"Back to {landing.title}", icon=":material/arrow_back:")
    else:
        st.page_link("Home.py", label="Back to the Dashboard", icon=":material/arrow_back:")


def _check_your_email(view: SessionView) -> None:
    st.title("Check your e-mail")
    st.write(
        f"We sent a link to {markdown_code(view.email)} to verify your e-mail address. "
        "Follow it to continue setting up your SIPSTACK partner account. It can take a minute "
        "to arrive; check your spam folder."
    )
    if st.button("Send the link again", icon=":material/forward_to_inbox:"):
        try:
            with resources.writing() as session:
                accounts.resend_verification(session, view.actor)
            st.success("Sent. Use the newest link: the older ones still work until used.")
        except PortalError as error:
            st.warning(error.message)


TWO_FACTOR_PAGE = "access.my_profile"  # where two-factor sign-in is turned on
TWO_FACTOR_REQUIRED = (
    "Your organization requires two-factor sign-in. Turn it on in My Profile › Advanced to "
    "open the rest of the portal."
)


def _turn_on_two_factor(_view: SessionView) -> None:
    st.title("Turn on two-factor sign-in")
    st.write(
        "Your organization's owner requires a code from an authenticator app at every sign-in. "
        "Until you turn it on, the portal opens My Profile only."
    )
    st.page_link(
        page(TWO_FACTOR_PAGE).script,
        label="Turn it on in My Profile",
        icon=":material/arrow_forward:",
    )


def _finish_activation(_view: SessionView) -> None:
    st.title("Finish activating your account")
    st.write(
        "Your e-mail is verified. Your company, your brand, a plan and a card (optional on "
        "Free), and your account is ready."
    )
    st.page_link(
        page("account.activate").script,
        label="Continue activation",
        icon=":material/arrow_forward:",
    )


# --- The chrome --------------------------------------------------------------------------


def visible_pages(view: SessionView) -> list[PageSpec]:
    """The pages the left pane offers this viewer, in the order of its sections."""
    if not view.is_staff and not view.verified:
        return []
    if not view.is_staff and not view.organization_active:
        return [page("account.activate")]
    if view.two_factor_missing and not view.is_staff:
        return [page(TWO_FACTOR_PAGE)]
    return [
        spec
        for spec in PAGES
        if spec.in_pane
        and spec.audience is Audience.MEMBER
        and (spec.capability is None or view.actor.can(spec.capability))
        # For staff, "/" shows Staff › Organizations, which the pane already links.
        and not (view.is_staff and spec.id == HOME)
    ]


_LAYOUT_CSS = f"""<style>
[data-testid="stMainBlockContainer"] {{ padding-top: 2.5rem; }}
/* The login form's container once it holds no form: it takes no room (see ``open_page``). */
[data-testid="stLayoutWrapper"]:has(> .st-key-{BEFORE_THE_PAGE}):not(:has([data-testid="stForm"]))
{{ display: none; }}
</style>"""


def _draw_chrome(spec: PageSpec, view: SessionView) -> None:
    st.logo(LOGO, size="large")
    st.html(_LAYOUT_CSS)
    _left_pane(view)
    _top_bar(view)
    theme.apply(view.dark_mode, spec)
    if view.two_factor_missing and not view.is_staff:
        st.warning(TWO_FACTOR_REQUIRED, icon=":material/lock:")
    _show_flash()


def _left_pane(view: SessionView) -> None:
    with st.sidebar:
        current: Section | None = None
        for spec in sorted(visible_pages(view), key=lambda p: _SECTION_ORDER.index(p.section)):
            if spec.section is not current and spec.section is not Section.TOP:
                st.caption(spec.section.value.upper())
            current = spec.section
            st.page_link(spec.script, label=spec.title, icon=spec.icon)


def _top_bar(view: SessionView) -> None:
    left, middle, bell, right = st.columns([6, 2, 1, 2], vertical_alignment="center")
    with left:
        if view.organization_name:
            st.markdown(f"**{markdown_escape(view.organization_name)}**")
        elif view.is_staff:
            st.markdown("**SIPSTACK staff**")
    if (
        view.organization_id
        and view.organization_active
        and view.actor.can(Capability.USE_PORTAL)
        # Confined to My Profile until two-factor sign-in is on: nothing of the organization's.
        and not view.two_factor_missing
    ):
        with resources.reading() as session:
            funds = billing.funds(session, view.actor)
            unread = notice_queries.unread_count(session, view.actor)
        with middle:
            st.metric(
                "Available funds",
                format_cents(funds.available_cents),
                help="Your balance less usage not yet invoiced.",
            )
        with bell:
            _notices_bell(view, unread)
    elif view.is_staff:
        with resources.reading() as session:
            unread = notice_queries.unread_count(session, view.actor)
        with bell:
            _notices_bell(view, unread)
    with right:
        with st.popover(
            markdown_escape(view.name), icon=":material/account_circle:", width="stretch"
        ):
            st.text(view.email)
            if view.verified and (view.is_staff or view.organization_active):
                st.page_link(
                    page("access.my_profile").script, label="My Profile", icon=":material/person:"
                )
            st.toggle(
                "Dark mode",
                value=view.dark_mode,
                key="portal.dark_mode",
                on_change=_save_dark_mode,
            )
            st.button("Log out", icon=":material/logout:", on_click=log_out, key="portal.logout")


def _notices_bell(view: SessionView, unread: int) -> None:
    """The bell: the unread count on the button; the latest notices inside, read only while
    it is open (a lazy popover), so a page run costs the count alone."""
    bell = st.popover(
        f"{unread:,}" if unread else "",
        icon=":material/notifications:",
        help=f"Notices: {unread:,} unread" if unread else "Notices",
        width="stretch",
        key=BELL,
        on_change="rerun",
    )
    with bell:
        if not bell.open:
            return
        with resources.reading() as session:
            latest = notice_queries.latest(session, view.actor)
        if not latest:
            st.caption(notice_queries.empty_message(view.actor))
        now = utcnow()
        for item in latest:
            marker = ":blue[●] " if item.unread else ""
            st.markdown(f"{marker}**{markdown_escape(item.title)}**")
            st.caption(f"{markdown_escape(item.body)}  \n{time_ago(item.created_at, now)}")
            with st.container(horizontal=True, gap="small"):
                st.page_link(
                    page("notices").script,
                    label="Open",
                    icon=":material/open_in_new:",
                    query_params={NOTICE_PARAM: str(item.id)},
                )
                target = linked_page(view, item.link_page_id)
                if target is not None:
                    st.page_link(target.script, label=target.title, icon=target.icon)
        st.divider()
        with st.container(horizontal=True, vertical_alignment="center"):
            st.button(
                "Mark all as read",
                key="portal.notices_mark_all",
                icon=":material/done_all:",
                disabled=unread == 0,
                on_click=_mark_all_read,
            )
            st.page_link(
                page("notices").script, label="All notices", icon=":material/notifications:"
            )


def linked_page(view: SessionView, page_id: str | None) -> PageSpec | None:
    """The page a notice links to, when there is one and the viewer's role may open it."""
    target = BY_ID.get(page_id or "")
    if target is None or (target.capability is not None and not view.actor.can(target.capability)):
        return None
    return target


def _mark_all_read() -> None:
    _as_signed_in_user(notice_services.mark_all_read)


def _as_signed_in_user(action: Callable[[Session, Actor], object]) -> None:
    """Run ``action`` in a unit of work for whoever this browser session is signed in as (a
    widget callback runs before the page, so before the shell has resolved the session)."""
    handle = st.session_state.get(state.SESSION_HANDLE)
    if not handle:
        return
    with resources.writing() as session:
        view = sessions.resolve(session, handle)
        if view is not None:
            action(session, view.actor)


def time_ago(moment: datetime, now: datetime) -> str:
    """How long ago, as the bell says it: "just now", "5 min ago", "3 h ago", "2 days ago",
    and the date once it is more than a week old."""
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return "just now"
    if seconds < 3_600:
        return f"{seconds // 60} min ago"
    if seconds < 86_400:
        return f"{seconds // 3_600} h ago"
    if seconds < 7 * 86_400:
        days = seconds // 86_400
        return f"{days} day{'s' if days > 1 else ''} ago"
    return moment.date().isoformat()


def _save_dark_mode() -> None:
    dark = bool(st.session_state["portal.dark_mode"])
    _as_signed_in_user(lambda session, actor: accounts.set_dark_mode(session, actor, dark))


def _show_flash() -> None:
    message = state.pop_flash()
    if message:
        st.toast(message, icon=":material/check_circle:")
