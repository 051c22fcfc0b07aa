"""The words of every e-mail the portal sends about an account."""

from __future__ import annotations

import uuid

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


def two_factor_changed(to: str, *, enabled: bool) -> Mail:
    if enabled:
        subject = "Two-factor sign-in is on for your SIPSTACK account"
        said = (
            "Two-factor sign-in was just turned on for your SIPSTACK partner account: from now "
            "on, logging in asks for a code from your authenticator app after the password."
        )
    else:
        subject = "Two-factor sign-in is off for your SIPSTACK account"
        said = (
            "Two-factor sign-in was just turned off for your SIPSTACK partner account: "
            "logging in asks for the password alone."
        )
    return Mail(
        to=to,
        subject=subject,
        body=(
            said + " If this was not you, reset your password now and tell your "
            "organization's owner." + _SIGNATURE
        ),
    )


def two_factor_reset(to: str, *, required: bool) -> Mail:
    """Staff turned a member's two-factor sign-in off (their phone and codes were lost)."""
    then = (
        "Your organization requires it: after you log in with your password, My Profile "
        "asks you to set it up again, with your new phone, before anything else."
        if required
        else "You can set it up again, with your new phone, on My Profile › Advanced."
    )
    return Mail(
        to=to,
        subject="SIPSTACK staff turned off two-factor sign-in for your account",
        body=(
            "SIPSTACK staff turned off two-factor sign-in for your SIPSTACK partner account: "
            "your old authenticator app and recovery codes no longer work, "
            f"and every session of yours has ended. {then} If you did not ask for this, reset "
            "your password now and tell your organization's owner." + _SIGNATURE
        ),
    )


def recovery_code_used(to: str, *, left: int) -> Mail:
    remaining = (
        f"You have {left} unused recovery code{'s' if left != 1 else ''} left."
        if left
        else "You have no recovery codes left: make new ones on My Profile › Advanced."
    )
    return Mail(
        to=to,
        subject="A recovery code was used to sign in to your SIPSTACK account",
        body=(
            "One of your two-factor recovery codes was just used to sign in to your SIPSTACK "
            f"partner account, and cannot be used again. {remaining} If this was not you, "
            "reset your password now, make new recovery codes, and tell your organization's "
            "owner." + _SIGNATURE
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
    to: str,
    name: str,
    *,
    invoice_id: uuid.UUID,
    number: int,
    month: str,
    total_cents: int,
    paid: bool,
) -> Mail:
    """A new invoice, to a user who asked for invoice e-mails (My Profile › Notifications),
    with a link straight to it (Billing › Invoices shows it and its PDF after login)."""
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
            "See its lines and taxes, and download its PDF, in Billing › Invoices:\n\n"
            f"{get_settings().public_url.rstrip('/')}/billing_invoices?invoice={invoice_id}\n\n"
            "— SIPSTACK Partner Portal\nYou get this e-mail because invoice e-mails are on in "
            "My Profile › Notifications."
        ),
    )


def invoice_paid(
    to: str, name: str, *, invoice_id: uuid.UUID, number: int, month: str, total_cents: int
) -> Mail:
    """A due invoice that payments or credits have now covered."""
    return Mail(
        to=to,
        subject=f"SIPSTACK invoice {number} for {month} is paid",
        body=(
            f"Hello {name},\n\nInvoice {number} for {month} ({format_cents(total_cents)}, "
            "taxes included) is paid: your payments and credits now cover it.\n\n"
            f"{get_settings().public_url.rstrip('/')}/billing_invoices?invoice={invoice_id}\n\n"
            "— SIPSTACK Partner Portal\nYou get this e-mail because invoice e-mails are on in "
            "My Profile › Notifications."
        ),
    )


def credit_note_issued(
    to: str,
    name: str,
    *,
    credit_note_id: uuid.UUID,
    label: str,
    total_cents: int,
    invoice_number: int,
    reason: str,
) -> Mail:
    """A credit note: what it credits, against which invoice, and why."""
    return Mail(
        to=to,
        subject=f"SIPSTACK credit note {label}: {format_cents(total_cents)} credited",
        body=(
            f"Hello {name},\n\nCredit note {label} credits {format_cents(total_cents)}, taxes "
            f"included, to your balance against invoice {invoice_number}: {reason}\n\n"
            "See it, and download its PDF, in Billing › Invoices:\n\n"
            f"{get_settings().public_url.rstrip('/')}/billing_invoices?credit_note="
            f"{credit_note_id}\n\n— SIPSTACK Partner Portal\nYou get this e-mail because "
            "invoice e-mails are on in My Profile › Notifications."
        ),
    )


def low_balance(
    to: str,
    name: str,
    *,
    available_cents: int,
    threshold_cents: int,
    may_add_funds: bool,
) -> Mail:
    """Available funds crossed under a user's threshold (My Profile › Notifications)."""
    portal = get_settings().public_url.rstrip("/")
    if may_add_funds:
        action = (
            "Add funds, or see what is using them, in Billing › Overview:\n\n"
            f"{portal}/billing_overview"
        )
    else:
        action = (
            "An owner, admin or billing member of your organization can add funds in "
            "Billing › Overview."
        )
    return Mail(
        to=to,
        subject=f"SIPSTACK available funds are under {format_cents(threshold_cents)}",
        body=(
            f"Hello {name},\n\nYour organization's available funds are now "
            f"{format_cents(available_cents)}, under the {format_cents(threshold_cents)} "
            "threshold of your low-balance alert. When the funds and the credit limit run "
            f"out, lookups are refused.\n\n{action}\n\n"
            "Change the threshold, or turn this alert off, in My Profile › Notifications:\n\n"
            f"{portal}/my_profile\n\n"
            "— SIPSTACK Partner Portal\nYou get this e-mail because the low-balance alert is "
            "on in My Profile › Notifications."
        ),
    )


def _billing_link(page: str) -> str:
    return f"{get_settings().public_url.rstrip('/')}/{page}"


def payment_receipt(
    to: str,
    name: str,
    *,
    reference: str,
    card_label: str,
    amount_cents: int,
    fee_cents: int,
    total_cents: int,
    automatic: bool,
) -> Mail:
    """A succeeded card payment: what was credited, the fee, what the card was charged."""
    how = "Auto-recharge added funds" if automatic else "Funds were added"
    return Mail(
        to=to,
        subject=f"SIPSTACK receipt {reference}: {format_cents(amount_cents)} added to your balance",
        body=(
            f"Hello {name},\n\n{how} to your SIPSTACK balance.\n\n"
            f"Reference: {reference}\nCard: {card_label}\n"
            f"Added to your balance: {format_cents(amount_cents)}\n"
            f"Card convenience fee: {format_cents(fee_cents)}\n"
            f"Total charged to the card: {format_cents(total_cents)}\n\n"
            "Download the receipt as a PDF in Billing › Payments:\n\n"
            f"{_billing_link('billing_payments')}\n\n"
            "— SIPSTACK Partner Portal\nYou get this e-mail for every card payment to your "
            "organization's balance."
        ),
    )


def payment_changed(to: str, name: str, *, subject: str, body: str) -> Mail:
    """A settled payment refunded or disputed: what happened and what it did to the balance."""
    return Mail(
        to=to,
        subject=f"SIPSTACK: {subject}",
        body=(
            f"Hello {name},\n\n{body}\n\nSee the payment in Billing › Payments and the "
            f"balance's history in Billing › Transactions:\n\n{_billing_link('billing_payments')}"
            "\n\n— SIPSTACK Partner Portal\nYou get this e-mail as an owner or billing member "
            "of your organization."
        ),
    )


def payment_failed(
    to: str, name: str, *, reference: str, card_label: str, total_cents: int, reason: str
) -> Mail:
    """A top-up that the card's bank refused after the partner left Stripe's page."""
    return Mail(
        to=to,
        subject=f"SIPSTACK payment {reference} did not go through",
        body=(
            f"Hello {name},\n\nThe payment of {format_cents(total_cents)} with {card_label} "
            f"(reference {reference}) did not go through: {reason}\n\nNothing was added to "
            "your balance. Try again, or with another card, in Billing › Overview:\n\n"
            f"{_billing_link('billing_overview')}" + _SIGNATURE
        ),
    )


def auto_recharge_failed(
    to: str, name: str, *, reference: str, card_label: str, total_cents: int, reason: str
) -> Mail:
    """Auto-recharge could not charge the default card."""
    return Mail(
        to=to,
        subject="SIPSTACK auto-recharge failed: your balance was not topped up",
        body=(
            f"Hello {name},\n\nAuto-recharge tried to charge {format_cents(total_cents)} to "
            f"{card_label} (reference {reference}), and it did not go through: {reason}\n\n"
            "Your available funds stay under your auto-recharge threshold, and lookups stop "
            "when the funds and the credit limit run out. Add funds now, or make another card "
            "the default in Billing › Payment Methods:\n\n"
            f"{_billing_link('billing_payment_methods')}\n\n"
            "Auto-recharge tries again tomorrow, or as soon as the default card or the "
            "auto-recharge settings change." + _SIGNATURE
        ),
    )


def auto_recharge_needs_authentication(
    to: str, name: str, *, reference: str, card_label: str, total_cents: int
) -> Mail:
    """The card's bank wants the cardholder present (3-D Secure) for auto-recharge."""
    return Mail(
        to=to,
        subject="SIPSTACK auto-recharge needs you: your bank asked to confirm the payment",
        body=(
            f"Hello {name},\n\nAuto-recharge tried to charge {format_cents(total_cents)} to "
            f"{card_label} (reference {reference}), and the card's bank asked for the "
            "cardholder to confirm the payment, which cannot happen while nobody is there. "
            "Nothing was charged.\n\nAdd funds yourself in Billing › Overview (your bank may "
            "ask you to confirm there), or make another card the default:\n\n"
            f"{_billing_link('billing_overview')}" + _SIGNATURE
        ),
    )


def reputation_alert(to: str, name: str, *, number: str, score: str, remark: str) -> Mail:
    """A registered number's score fell into the spam bands (reputation watch)."""
    portal = get_settings().public_url.rstrip("/")
    return Mail(
        to=to,
        subject=f"SIPSTACK reputation alert: {number} now scores {score} ({remark})",
        body=(
            f"Hello {name},\n\nThe score of {number}, registered in your organization's Whois "
            f"Profiles, fell to {score} ({remark}). Called parties' screens may now flag its "
            "calls as spam.\n\nSee why, and what would raise it, on the number's profile in "
            f"Whois Profiles:\n\n{portal}/whois_profiles\n\n"
            "Completing the profile and verifying the number raise its score; community "
            "reports of spam lower it.\n\n"
            "— SIPSTACK Partner Portal\nYou get this e-mail because reputation alerts are on "
            f"in My Profile › Notifications:\n\n{portal}/my_profile"
        ),
    )


def ownership_dispute(to: str, name: str, *, subject: str, body: str) -> Mail:
    """A step of an ownership dispute over one of the organization's numbers."""
    portal = get_settings().public_url.rstrip("/")
    return Mail(
        to=to,
        subject=subject,
        body=(
            f"Hello {name},\n\n{body}\n\nSee the dispute and its history in Whois Profiles:"
            f"\n\n{portal}/whois_profiles\n\n"
            "— SIPSTACK Partner Portal\nYou get this e-mail because dispute notices are on in "
            f"My Profile › Notifications:\n\n{portal}/my_profile"
        ),
    )


def api_token_created(
    to: str, name: str, *, token_name: str, key: str, creator: str, scopes: str
) -> Mail:
    """A security notice to the owners: a program may now act for the organization."""
    portal = get_settings().public_url.rstrip("/")
    return Mail(
        to=to,
        subject=f"A new SIPSTACK API token: {token_name}",
        body=(
            f"Hello {name},\n\n{creator} created the API token “{token_name}” ({key}) for your "
            f"organization, with the scopes {scopes.replace(',', ', ')}. Programs holding its "
            "secret can now call the SIPSTACK API for your organization.\n\n"
            "If you did not expect it, revoke it now in Organization › Access › API Tokens:"
            f"\n\n{portal}/access_api_tokens\n\n"
            "— SIPSTACK Partner Portal\nYou get this e-mail because you are an owner of your "
            "organization."
        ),
    )


def brand_domain_unverified(to: str, name: str, *, domain: str, found: str) -> Mail:
    """The scheduled re-check no longer found a verified brand domain's DNS record."""
    portal = get_settings().public_url.rstrip("/")
    return Mail(
        to=to,
        subject=f"SIPSTACK: {domain} is no longer verified",
        body=(
            f"Hello {name},\n\nSIPSTACK re-checked your brand domain {domain} and no longer "
            f"finds its verification record in DNS: {found}\n\nThe domain is pending again, "
            "and no longer raises your carrier score. Publish the TXT record shown in "
            f"Organization › Brand again, then press Check now there:\n\n{portal}/brand\n\n"
            "— SIPSTACK Partner Portal\nYou get this e-mail because you are an owner or admin "
            "of your organization."
        ),
    )


# --- Organization › Access › Users -------------------------------------------------------


def invitation(
    to: str, *, organization: str, inviter: str, role: str, token: str, days: int
) -> Mail:
    """An invitation to join an organization: the link sets a name and a password."""
    return Mail(
        to=to,
        subject=f"{inviter} invited you to {organization} on the SIPSTACK Partner Portal",
        body=(
            f"Hello,\n\n{inviter} invited you to join {organization} on the SIPSTACK Partner "
            f"Portal as {role}. Choose your name and a password to join:\n\n"
            f"{_link('join', token)}\n\nThe link works once and expires in {days} days."
            + _SIGNATURE
        ),
    )


def role_changed(to: str, name: str, *, organization: str, before: str, after: str) -> Mail:
    return Mail(
        to=to,
        subject=f"Your role in {organization} is now {after}",
        body=(
            f"Hello {name},\n\nAn owner of {organization} changed your role on the SIPSTACK "
            f"Partner Portal from {before} to {after}. The pages you can open change with it "
            "the next time a page loads." + _SIGNATURE
        ),
    )


def member_deactivated(to: str, name: str, *, organization: str) -> Mail:
    return Mail(
        to=to,
        subject=f"Your access to {organization} on the SIPSTACK Partner Portal has ended",
        body=(
            f"Hello {name},\n\nAn owner of {organization} deactivated your account on the "
            "SIPSTACK Partner Portal: you were logged out everywhere and cannot log in until "
            "an owner reactivates you. Ask them if you think this is a mistake." + _SIGNATURE
        ),
    )


def member_reactivated(to: str, name: str, *, organization: str) -> Mail:
    return Mail(
        to=to,
        subject=f"Your access to {organization} on the SIPSTACK Partner Portal is back",
        body=(
            f"Hello {name},\n\nAn owner of {organization} reactivated your account on the "
            "SIPSTACK Partner Portal: you can log in again with your password."
            f"\n\n{get_settings().public_url.rstrip('/')}/" + _SIGNATURE
        ),
    )
