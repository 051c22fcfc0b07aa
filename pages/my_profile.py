"""Access › My Profile: General (name, e-mail), Advanced (password, two-factor sign-in,
sessions, and the owner's organization security), Notifications."""

import streamlit as st

from portal_core.errors import ValidationFailed
from portal_core.models.accounts import NotificationPreferences
from portal_core.money import format_cents, parse_dollars
from portal_core.permissions import Capability
from portal_core.services import accounts, auth
from portal_core.ui import confirm, forms, resources, shell, state, two_factor_views
from portal_core.ui.auth import client_address
from portal_core.ui.text import markdown_code

viewer = shell.open_page("access.my_profile")

with resources.reading() as session:
    me = accounts.profile(session, viewer.actor)

st.title("My Profile")
two_factor_views.recovery_codes_once()
general, advanced, notifications = st.tabs(
    ["General", "Advanced", "Notifications"],
    # A member whose organization requires two-factor sign-in comes here to turn it on.
    default="Advanced" if viewer.two_factor_missing else None,
)

with general:
    with st.form("profile.name"):
        name = st.text_input("Name", value=me.name, max_chars=120, autocomplete="name")
        name_errors = forms.FieldErrors()
        name_errors.slot("name")
        if st.form_submit_button("Save name", type="primary"):

            def save_name() -> None:
                with resources.writing() as session:
                    accounts.rename(session, viewer.actor, name)

            if forms.attempt(name_errors, save_name):
                state.flash("Your name is saved.")
                st.rerun()

    with st.form("profile.email", clear_on_submit=True):
        st.markdown(f"**E-mail:** {markdown_code(me.email)}")
        st.caption("A new address counts once you follow the link we send to it.")
        new_email = st.text_input("New e-mail", autocomplete="email")
        email_errors = forms.FieldErrors()
        email_errors.slot("email")
        email_password = st.text_input(
            "Current password", type="password", autocomplete="current-password"
        )
        email_errors.slot("current_password")
        if st.form_submit_button("Change e-mail"):

            def change_email() -> None:
                with resources.writing() as session:
                    accounts.request_email_change(
                        session,
                        viewer.actor,
                        new_email,
                        email_password,
                        ip_address=client_address(),
                        session_handle=viewer.handle,
                    )

            if forms.attempt(email_errors, change_email):
                st.success(
                    f"We sent a confirmation link to {markdown_code(new_email.strip())}. Your "
                    "e-mail changes when you follow it."
                )

with advanced:
    with st.form("profile.password", clear_on_submit=True):
        st.subheader("Change password")
        current = st.text_input(
            "Current password", type="password", autocomplete="current-password"
        )
        password_errors = forms.FieldErrors()
        password_errors.slot("current_password")
        new = st.text_input(
            "New password",
            type="password",
            autocomplete="new-password",
            help="At least 8 characters. Long phrases of unrelated words are strong.",
        )
        password_errors.slot("new_password")
        repeat = st.text_input(
            "Repeat the new password", type="password", autocomplete="new-password"
        )
        password_errors.slot("repeat")
        if st.form_submit_button("Change password", type="primary"):
            if new != repeat:
                password_errors.show(ValidationFailed({"repeat": "The two new passwords differ."}))
            else:

                def change_password() -> None:
                    with resources.writing() as session:
                        accounts.change_password(
                            session,
                            viewer.actor,
                            current_password=current,
                            new_password=new,
                            keep_session_handle=viewer.handle,
                            ip_address=client_address(),
                        )

                if forms.attempt(password_errors, change_password):
                    st.success("Your password is changed. Your other sessions were logged out.")

    two_factor_views.two_factor_section(viewer)

    st.subheader("Sessions")
    st.write("Log out every other browser and device where you are signed in.")

    def log_out_others() -> str:
        with resources.writing() as session:
            ended = auth.log_out_other_sessions(session, viewer.handle)
        return f"Logged out {ended} other session{'s' if ended != 1 else ''}."

    st.button(
        "Log out other sessions",
        icon=":material/devices:",
        key="profile.log_out_others",
        on_click=confirm.ask,
        args=("profile.log_out_others.asked",),
    )
    confirm.dialog(
        "profile.log_out_others.asked",
        title="Log out other sessions?",
        message="Every other browser and device signed in as you will need to log in again.",
        confirm_label="Log them out",
        action=log_out_others,
    )

    two_factor_views.organization_security(viewer)

with notifications:
    with st.form("profile.notifications"):
        low_balance = st.toggle("Low-balance alert", value=me.notify_low_balance)
        threshold = st.text_input(
            "Alert me when available funds fall below (USD)",
            value=format_cents(me.low_balance_threshold_cents).removeprefix("$"),
        )
        notify_errors = forms.FieldErrors()
        notify_errors.slot("low_balance_threshold_cents")
        invoices = st.toggle("E-mail me each invoice", value=me.notify_invoices)
        disputes = st.toggle("Ownership dispute notices", value=me.notify_disputes)
        reputation = me.notify_reputation
        if viewer.actor.can(Capability.WHOIS_READ):
            reputation = st.toggle(
                "Reputation alerts",
                value=me.notify_reputation,
                help="A notice and an e-mail as soon as one of your registered numbers' scores "
                "falls under 2.500, into the spam bands.",
            )
        news = st.toggle("Product news", value=me.notify_product_news)
        if st.form_submit_button("Save notifications", type="primary"):

            def save_notifications() -> None:
                try:
                    threshold_cents = parse_dollars(threshold)
                except ValueError as error:
                    raise ValidationFailed({"low_balance_threshold_cents": str(error)}) from None
                preferences = NotificationPreferences.model_construct(
                    notify_low_balance=low_balance,
                    low_balance_threshold_cents=threshold_cents,
                    notify_invoices=invoices,
                    notify_disputes=disputes,
                    notify_product_news=news,
                    notify_reputation=reputation,
                )
                with resources.writing() as session:
                    accounts.save_notifications(session, viewer.actor, preferences)

            if forms.attempt(notify_errors, save_notifications):
                st.success("Your notification preferences are saved.")
