"""The words of every e-mail the portal sends about an account."""

from __future__ import annotations

from portal_core.mail import Mail
from portal_core.money import format_cents
from portal_core.settings import get_settings

_SIGNATURE = "\n\n— SIPSTACK Partner Portal\nIf you did not expect this e-mail, you can ignore it."


def _link(path: str, token: str) -> str:
    return f"{get_settings().public_url.rstrip('/')}/{path}?token={token}"


def verify_email(to: str, name: str, token: str) -> Mail:
    return Mail(
        to=to,
        subject="Verify your e-mail for the SIPSTACK Partner Portal",
        body=(
            f"Hello {name},\n\nConfirm your e-mail address to finish setting up your "
            f"SIPSTACK partner account:\n\n{_link('verify_email', token)}\n\n"
            "The link works once and expires in 24 hours." + _SIGNATURE
        ),
    )


def sign_up_attempt(to: str) -> Mail:
    return Mail(
        to=to,
        subject="Someone tried to sign up with your e-mail",
        body=(
            "Someone tried to create a SIPSTACK partner account with this e-mail address, "
            "which already has one. If it was you, log in instead, or reset your password:"
            f"\n\n{get_settings().public_url.rstrip('/')}/reset_password" + _SIGNATURE
        ),
    )


def reset_password(to: str, token: str) -> Mail:
    return Mail(
        to=to,
        subject="Reset your SIPSTACK Partner Portal password",
        body=(
            "Choose a new password with this link (it works once and expires in 1 hour):\n\n"
            f"{_link('reset_password', token)}\n\nYour password stays the same until you do."
            + _SIGNATURE
        ),
    )


def password_changed(to: str) -> Mail:
    return Mail(
        to=to,
        subject="Your SIPSTACK password was changed",
        body=(
            "The password of your SIPSTACK partner account was just changed, and every other "
            "session was logged out. If this was not you, reset your password now and tell "
            "your organization's owner." + _SIGNATURE
        ),
    )


def confirm_new_email(to: str, token: str) -> Mail:
    return Mail(
        to=to,
        subject="Confirm your new e-mail for the SIPSTACK Partner Portal",
        body=(
            "Confirm this address as the new e-mail of your SIPSTACK partner account:\n\n"
            f"{_link('verify_email', token)}\n\nUntil you do, your current address stays in use."
            " The link works once and expires in 24 hours." + _SIGNATURE
        ),
    )


def email_changed(to: str, new_email: str) -> Mail:
    return Mail(
        to=to,
        subject="Your SIPSTACK e-mail was changed",
        body=(
            f"The e-mail of your SIPSTACK partner account is now {new_email}. If this was not "
            "you, contact SIPSTACK support at once." + _SIGNATURE
        ),
    )


def invoice_issued(
    to: str, name: str, *, number: int, month: str, total_cents: int, paid: bool
) -> Mail:
    """A new invoice, to a user who asked for invoice e-mails (My Profile › Notifications)."""
    settlement = (
        "It was paid from your prepaid balance."
        if paid
        else "Your balance did not cover it, so it is due: add funds in Billing › Overview "
        "to pay it."
    )
    return Mail(
        to=to,
        subject=f"SIPSTACK invoice {number} for {month}: {format_cents(total_cents)}",
        body=(
            f"Hello {name},\n\nInvoice {number} for {month} is ready: "
            f"{format_cents(total_cents)}, taxes included. {settlement}\n\n"
            "See its lines and taxes in Billing › Invoices:\n\n"
            f"{get_settings().public_url.rstrip('/')}\n\n"
            "— SIPSTACK Partner Portal\nYou get this e-mail because invoice e-mails are on in "
            "My Profile › Notifications."
        ),
    )
