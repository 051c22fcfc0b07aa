"""Accounts: Get Started, e-mail verification, the activation wizard and My Profile.

The life cycle (docs/product.md, Account life cycle): sign-up makes an organization and its owner,
*unverified*; the e-mailed link verifies the address; the wizard collects the company, the
brand, the plan and a card (which Free may skip); finishing it activates the organization.
Nothing here reveals whether an e-mail is registered: sign-up, resend and reset answer the
same either way.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal_core import emails
from portal_core.errors import (
    Conflict,
    CurrentPasswordWrong,
    NotFound,
    SignInRefused,
    Throttled,
    ValidationFailed,
)
from portal_core.mail import send_after_commit
from portal_core.models.access import EmailToken, TokenPurpose
from portal_core.models.accounts import (
    BrandDomain,
    NotificationPreferences,
    Organization,
    Role,
    User,
    UserStatus,
)
from portal_core.models.base import utcnow
from portal_core.models.billing import BillingCycle, Plan, Subscription
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.rules.cards import has_usable_card
from portal_core.services import audit, sessions, subscriptions, throttle
from portal_core.services.passwords import hash_password, password_problem, verify_password
from portal_core.services.secrets import digest, new_secret
from portal_core.services.validation import (
    checked,
    email_problem,
    normalize_email,
    text_problem,
)
from portal_core.terms import current_terms

VERIFY_LINK_LIFETIME = timedelta(hours=24)
RESEND_MIN_INTERVAL = timedelta(minutes=1)
RESEND_MAX_PER_DAY = 5
PAYMENT_METHOD_SKIPPED = "wizard.payment_method_skipped"  # the audit action of the skip


# --- Get Started -------------------------------------------------------------------------


@dataclass(frozen=True)
class SignUp:
    name: str
    email: str
    company: str
    password: str
    accepted_terms: bool


def sign_up(session: Session, form: SignUp, *, now: datetime | None = None) -> None:
    """Create an organization and its owner, unverified, and e-mail the verification link.

    An address that is already registered gets the same answer, creates nothing, and its
    owner is told by e-mail that someone tried (no account enumeration).
    """
    now = now or utcnow()
    errors = _sign_up_errors(form)
    if errors:
        raise ValidationFailed(errors)
    email = normalize_email(form.email)
    password_hash = hash_password(form.password)  # also for a known address: same timing
    if _user_by_email(session, email) is not None:
        _tell_owner_of_sign_up_attempt(session, email)
        return
    organization = Organization(name=form.company.strip(), created_at=now, updated_at=now)
    user = User(
        email=email,
        name=form.name.strip(),
        password_hash=password_hash,
        role=Role.OWNER,
        organization_id=organization.id,
        status=UserStatus.UNVERIFIED,
        tos_version=current_terms().version,
        tos_accepted_at=now,
        password_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(organization)
            session.flush()
            session.add(user)
            subscriptions.open_billing(session, organization.id, now=now)
            session.flush()
    except IntegrityError:
        # The same address signed up a moment ago in another transaction (a double click,
        # two tabs): the unique e-mail caught it, and the answer is the same as above.
        if _user_by_email(session, email) is None:
            raise
        _tell_owner_of_sign_up_attempt(session, email)
        return
    secret = issue_token(session, user, TokenPurpose.VERIFY_EMAIL, VERIFY_LINK_LIFETIME, now)
    send_after_commit(session, emails.verify_email(email, user.name, secret))
    audit.record(session, "signup", organization_id=organization.id, subject=email)


def _tell_owner_of_sign_up_attempt(session: Session, email: str) -> None:
    send_after_commit(session, emails.sign_up_attempt(email))
    audit.record(session, "signup.existing_email", subject=email)


def _sign_up_errors(form: SignUp) -> dict[str, str]:
    errors: dict[str, str] = {}
    for field, problem in {
        "name": text_problem(form.name, label="your name", max_length=120),
        "email": email_problem(form.email),
        "company": text_problem(form.company, label="your company's name", max_length=120),
        "password": password_problem(
            form.password, user_inputs=(form.name, form.email, form.company)
        ),
    }.items():
        if problem:
            errors[field] = problem
    if not form.accepted_terms:
        errors["accepted_terms"] = "Accept the Terms of Service to create an account."
    return errors


def _user_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == email)).first()


def issue_token(
    session: Session,
    user: User,
    purpose: TokenPurpose,
    lifetime: timedelta,
    now: datetime,
    *,
    new_email: str | None = None,
) -> str:
    """Store a new single-use link for ``user`` and return its secret (only its digest is kept)."""
    secret = new_secret()
    session.add(
        EmailToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=digest(secret),
            new_email=new_email,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return secret


def consume_token(
    session: Session, secret: str, purposes: set[TokenPurpose], now: datetime
) -> EmailToken:
    """Use a single-use link, or say clearly why it cannot be used."""
    token = session.exec(
        select(EmailToken).where(EmailToken.token_hash == digest(secret.strip()))
    ).first()
    if token is None or token.purpose not in purposes:
        raise NotFound("This link is not valid. Check that you copied all of it.")
    if token.used_at is not None:
        raise Conflict("This link has already been used.")
    if token.expires_at <= now:
        raise Conflict("This link has expired. Ask for a new one.")
    token.used_at = now
    session.add(token)
    return token


# --- Verification ------------------------------------------------------------------------


class VerifiedWhat(StrEnum):
    SIGN_UP = "sign_up"
    NEW_EMAIL = "new_email"


def verify_email(session: Session, secret: str, *, now: datetime | None = None) -> VerifiedWhat:
    """Follow a verification link: a new account's address, or a changed e-mail."""
    now = now or utcnow()
    token = consume_token(
        session, secret, {TokenPurpose.VERIFY_EMAIL, TokenPurpose.CHANGE_EMAIL}, now
    )
    user = session.get(User, token.user_id)
    if user is None or user.status == UserStatus.DEACTIVATED:
        raise NotFound("This link is not valid any more.")
    if token.purpose == TokenPurpose.CHANGE_EMAIL:
        assert token.new_email is not None
        if _user_by_email(session, token.new_email) is not None:
            raise Conflict("That e-mail address is now used by another account.")
        old_email = user.email
        user.email = token.new_email
        user.updated_at = now
        session.add(user)
        send_after_commit(session, emails.email_changed(old_email, token.new_email))
        audit.record(
            session,
            "email.changed",
            organization_id=user.organization_id,
            subject=token.new_email,
            detail=f"from {old_email}",
        )
        return VerifiedWhat.NEW_EMAIL
    if user.status == UserStatus.UNVERIFIED:
        user.status = UserStatus.ACTIVE
        user.email_verified_at = now
        user.updated_at = now
        session.add(user)
        audit.record(
            session, "email.verified", organization_id=user.organization_id, subject=user.email
        )
    return VerifiedWhat.SIGN_UP


def resend_verification(session: Session, actor: Actor, *, now: datetime | None = None) -> None:
    """Send a fresh verification link; at most one a minute and five a day."""
    now = now or utcnow()
    user = _load_user(session, actor)
    if user.status != UserStatus.UNVERIFIED:
        raise Conflict("Your e-mail address is already verified.")
    recent = session.exec(
        select(EmailToken.created_at)
        .where(EmailToken.user_id == user.id, EmailToken.purpose == TokenPurpose.VERIFY_EMAIL)
        .where(EmailToken.created_at > now - timedelta(days=1))
        .order_by(col(EmailToken.created_at).desc())
    ).all()
    if recent and recent[0] > now - RESEND_MIN_INTERVAL:
        raise Conflict("We just sent a link. Wait a minute before asking for another.")
    if len(recent) >= RESEND_MAX_PER_DAY:
        raise Conflict("We have sent five links today. Check your spam folder, or try tomorrow.")
    secret = issue_token(session, user, TokenPurpose.VERIFY_EMAIL, VERIFY_LINK_LIFETIME, now)
    send_after_commit(session, emails.verify_email(user.email, user.name, secret))


# --- The activation wizard ---------------------------------------------------------------


class WizardStep(StrEnum):
    COMPANY = "company"
    BRAND = "brand"
    PLAN = "plan"
    PAYMENT_METHOD = "payment_method"
    CONFIRM = "confirm"
    DONE = "done"


# The wizard's steps in order (docs/product.md, Account life cycle: step 3), and their names
# as the wizard shows them. A step is done when ``_STEP_DONE`` says so from the saved data
# (``wizard_step``); a new step is one entry here, one label and one check.
WIZARD_STEPS: tuple[WizardStep, ...] = (
    WizardStep.COMPANY,
    WizardStep.BRAND,
    WizardStep.PLAN,
    WizardStep.PAYMENT_METHOD,
    WizardStep.CONFIRM,
)
WIZARD_STEP_LABELS: dict[WizardStep, str] = {
    WizardStep.COMPANY: "Company",
    WizardStep.BRAND: "Brand",
    WizardStep.PLAN: "Plan",
    WizardStep.PAYMENT_METHOD: "Payment method",
    WizardStep.CONFIRM: "Done",
}


def choose_plan(
    session: Session,
    actor: Actor,
    *,
    plan_code: str,
    cycle: BillingCycle,
    now: datetime | None = None,
) -> None:
    """The wizard's plan step: the plan is stored on the subscription (Free is a choice too)."""
    subscriptions.choose_initial_plan(session, actor, plan_code=plan_code, cycle=cycle, now=now)


def card_required(session: Session, actor: Actor) -> bool:
    """Whether the plan chosen in the wizard needs a card to activate: every plan with a fee
    does (it is paid from the prepaid balance, which a card fills); Free may skip the step."""
    organization = _load_organization(session, actor)
    return _card_required(session, organization.id)


def skip_payment_method(session: Session, actor: Actor, *, now: datetime | None = None) -> None:
    """The wizard's "Skip for now" on Free: recorded on the subscription (and audited), so the
    wizard resumes past it. A paid plan cannot skip it."""
    require(actor, Capability.COMPANY_EDIT)
    organization = _load_organization(session, actor)
    if organization.activated_at is not None:
        raise Conflict("Your account is active: manage cards in Billing › Payment Methods.")
    if _card_required(session, organization.id):
        raise Conflict(
            "Your plan is paid from your prepaid balance: save a card to continue, or start on "
            "Free instead."
        )
    subscription = session.get(Subscription, organization.id)
    if subscription is None:
        raise NotFound("Your organization has no subscription.")
    if subscription.card_step_skipped_at is not None:
        return
    subscription.card_step_skipped_at = now or utcnow()
    session.add(subscription)
    audit.record(session, PAYMENT_METHOD_SKIPPED, actor=actor)
    session.flush()


def _card_required(session: Session, organization_id: uuid.UUID) -> bool:
    subscription = session.get(Subscription, organization_id)
    if subscription is None:
        raise NotFound("Your organization has no subscription.")
    plan = session.get(Plan, subscription.plan_code)
    if plan is None:
        raise NotFound("Your plan was not found.")
    return subscriptions.term_fee_cents(plan, subscription.cycle) > 0


def _payment_method_skipped(session: Session, organization_id: uuid.UUID) -> bool:
    subscription = session.get(Subscription, organization_id)
    return subscription is not None and subscription.card_step_skipped_at is not None


def _company_done(session: Session, organization: Organization, now: datetime) -> bool:
    return bool(organization.legal_name and organization.country and organization.address_line)


def _brand_done(session: Session, organization: Organization, now: datetime) -> bool:
    domains = session.exec(
        select(func.count())
        .select_from(BrandDomain)
        .where(BrandDomain.organization_id == organization.id)
    ).one()
    return domains > 0


def _plan_done(session: Session, organization: Organization, now: datetime) -> bool:
    return subscriptions.plan_chosen(session, organization.id)


def _payment_method_done(session: Session, organization: Organization, now: datetime) -> bool:
    """A usable card is saved; or, on a plan without a fee, the step was skipped. Derived on
    every read, so a card removed or expired before activation reopens the step."""
    if has_usable_card(session, organization.id, now):
        return True
    return not _card_required(session, organization.id) and _payment_method_skipped(
        session, organization.id
    )


_STEP_DONE: dict[WizardStep, Callable[[Session, Organization, datetime], bool]] = {
    WizardStep.COMPANY: _company_done,
    WizardStep.BRAND: _brand_done,
    WizardStep.PLAN: _plan_done,
    WizardStep.PAYMENT_METHOD: _payment_method_done,
}


def wizard_step(session: Session, actor: Actor, *, now: datetime | None = None) -> WizardStep:
    """Where the wizard resumes: the first step not done, derived from what is saved (never
    stored); CONFIRM once every step before it is done."""
    organization = _load_organization(session, actor)
    if organization.activated_at is not None:
        return WizardStep.DONE
    now = now or utcnow()
    for step in WIZARD_STEPS:
        done = _STEP_DONE.get(step)
        if done is None or not done(session, organization, now):
            return step
    return WizardStep.CONFIRM


def activate(session: Session, actor: Actor, *, now: datetime | None = None) -> None:
    """Finish the wizard: the organization becomes active, and its plan's term starts now
    (time spent in the wizard is not billed)."""
    require(actor, Capability.COMPANY_EDIT)
    now = now or utcnow()
    step = wizard_step(session, actor, now=now)
    if step == WizardStep.DONE:
        return
    if step != WizardStep.CONFIRM:
        raise Conflict(f"Finish the {WIZARD_STEP_LABELS[step].lower()} step first.")
    organization = _load_organization(session, actor)
    organization.activated_at = now
    session.add(organization)
    subscriptions.start_term(session, organization.id, now=now)
    audit.record(session, "organization.activated", actor=actor)


# --- My Profile --------------------------------------------------------------------------


def rename(session: Session, actor: Actor, name: str, *, now: datetime | None = None) -> None:
    if problem := text_problem(name, label="your name", max_length=120):
        raise ValidationFailed({"name": problem})
    user = _load_user(session, actor)
    user.name = name.strip()
    user.updated_at = now or utcnow()
    session.add(user)


def request_email_change(
    session: Session,
    actor: Actor,
    new_email: str,
    current_password: str,
    *,
    ip_address: str | None = None,
    session_handle: str | None = None,
    now: datetime | None = None,
) -> None:
    """E-mail a confirmation link to the new address; the old one counts until it is used.

    ``ip_address`` and ``session_handle`` say where the request comes from, for the check of
    the current password (``check_current_password``)."""
    now = now or utcnow()
    user = _load_user(session, actor)
    if problem := email_problem(new_email):
        raise ValidationFailed({"email": problem})
    email = normalize_email(new_email)
    if email == user.email:
        raise ValidationFailed({"email": "That is already your e-mail address."})
    check_current_password(
        session,
        user,
        current_password,
        ip_address=ip_address,
        session_handle=session_handle,
        now=now,
    )
    if _user_by_email(session, email) is not None:
        # Same answer as for a free address: whether it is taken is not ours to tell.
        send_after_commit(session, emails.sign_up_attempt(email))
        return
    secret = issue_token(
        session, user, TokenPurpose.CHANGE_EMAIL, VERIFY_LINK_LIFETIME, now, new_email=email
    )
    send_after_commit(session, emails.confirm_new_email(email, secret))
    audit.record(session, "email.change_requested", actor=actor, subject=email)


def change_password(
    session: Session,
    actor: Actor,
    *,
    current_password: str,
    new_password: str,
    keep_session_handle: str | None,
    ip_address: str | None = None,
    now: datetime | None = None,
) -> None:
    """Change the password; every other session ends, and the user is told by e-mail.

    ``keep_session_handle`` is the session asking (it stays, unless the current password is
    missed too often: ``check_current_password``), ``ip_address`` where it asks from."""
    now = now or utcnow()
    user = _load_user(session, actor)
    check_current_password(
        session,
        user,
        current_password,
        ip_address=ip_address,
        session_handle=keep_session_handle,
        now=now,
    )
    if problem := password_problem(new_password, user_inputs=(user.name, user.email)):
        raise ValidationFailed({"new_password": problem})
    if verify_password(new_password, user.password_hash):
        raise ValidationFailed({"new_password": "Choose a password you are not using now."})
    set_password(session, user, new_password, now=now)
    sessions.end_user_sessions(
        session, user.id, reason="password_changed", now=now, except_handle=keep_session_handle
    )
    audit.record(session, "password.changed", actor=actor, subject=user.email)


CURRENT_PASSWORD_WRONG = "Your current password is not right."
TOO_MANY_MISSES = (
    "Too many wrong passwords: you are logged out. Log in again, or reset your password."
)


def check_current_password(
    session: Session,
    user: User,
    password: str,
    *,
    ip_address: str | None,
    session_handle: str | None,
    now: datetime,
) -> None:
    """Check the current password that My Profile asks for, throttled like a login.

    Whoever holds a session (a stolen cookie, an unlocked computer) could otherwise guess the
    password without limit. A miss counts as a failed login of the account from
    ``ip_address`` (``services.throttle``); the miss that reaches a limit also ends the
    session ``session_handle``, so the guesser is logged out and meets the login's lock.
    Past a limit, the check is refused before any password is compared.
    """
    throttle.refuse_if_throttled(session, user.email, ip_address, now)
    if verify_password(password, user.password_hash):
        return
    count_profile_miss(
        session,
        user,
        action="password.check_failed",
        ip_address=ip_address,
        session_handle=session_handle,
        ended_reason="password_guessed",
        too_many=TOO_MANY_MISSES,
        now=now,
    )
    raise CurrentPasswordWrong({"current_password": CURRENT_PASSWORD_WRONG})


def count_profile_miss(
    session: Session,
    user: User,
    *,
    action: str,
    ip_address: str | None,
    session_handle: str | None,
    ended_reason: str,
    too_many: str,
    now: datetime,
) -> None:
    """A wrong secret typed in My Profile (the password, a two-factor code), counted and
    audited as a failed login of the account; the miss that reaches a limit ends the session
    ``session_handle`` and raises ``SignInRefused(too_many)``."""
    throttle.record_failure(session, user.email, ip_address, now)
    audit.record(
        session,
        action,
        organization_id=user.organization_id,
        subject=user.email,
        ip_address=throttle.stored_address(ip_address),
    )
    try:
        throttle.refuse_if_throttled(session, user.email, ip_address, now)
    except Throttled:
        if session_handle is not None:
            sessions.end_session(session, session_handle, reason=ended_reason, now=now)
        # Refusals that keep their record: the unit of work commits the miss (and the
        # session's end) before the error reaches the page.
        raise SignInRefused(too_many) from None


def set_password(session: Session, user: User, password: str, *, now: datetime) -> None:
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.updated_at = now
    session.add(user)
    send_after_commit(session, emails.password_changed(user.email))


def save_notifications(
    session: Session, actor: Actor, preferences: NotificationPreferences
) -> None:
    valid = checked(
        NotificationPreferences,
        preferences,
        {"low_balance_threshold_cents": "The alert threshold must be between $0 and $1,000,000."},
    )
    user = _load_user(session, actor)
    user.sqlmodel_update(valid.model_dump())
    user.updated_at = utcnow()
    session.add(user)


def set_dark_mode(session: Session, actor: Actor, enabled: bool) -> None:
    user = _load_user(session, actor)
    user.dark_mode = enabled
    session.add(user)


def profile(session: Session, actor: Actor) -> User:
    return _load_user(session, actor)


def organization_of(session: Session, actor: Actor) -> Organization:
    return _load_organization(session, actor)


def _load_user(session: Session, actor: Actor) -> User:
    user = session.get(User, actor.user_id)
    if user is None:
        raise NotFound("Your account was not found.")
    return user


def _load_organization(session: Session, actor: Actor) -> Organization:
    organization = session.get(Organization, require_organization(actor))
    if organization is None:
        raise NotFound("Your organization was not found.")
    return organization
