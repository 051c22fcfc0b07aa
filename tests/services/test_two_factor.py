"""Two-factor sign-in (docs/product.md, Account life cycle; My Profile): turning it on with a
confirmed code, the login's second step, replay, recovery codes, turning it off, the throttle,
and an owner's requirement for the organization."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import pyotp
import pytest
from sqlalchemy import Engine, MetaData
from sqlmodel import col, select

from portal_core import db
from portal_core.errors import (
    AuthenticationFailed,
    Conflict,
    CurrentPasswordWrong,
    PermissionDenied,
    SignInRefused,
    Throttled,
    ValidationFailed,
)
from portal_core.models.access import LoginSession, RecoveryCode
from portal_core.models.accounts import Organization, Role, User
from portal_core.models.audit import AuditEvent
from portal_core.services import auth, sessions, two_factor
from portal_core.services.secrets import unseal
from portal_core.services.two_factor import STEP_SECONDS
from portal_core.settings import get_settings
from tests.factories import PASSWORD, actor_of, make_staff, make_user
from tests.services.support import body_of, count, mail_to, race

# After the factories' users set their passwords (now): a later change voids a pending step.
T0 = datetime(2030, 1, 15, 9, 0, 0, tzinfo=UTC)
HOME = "198.51.100.10"


@pytest.fixture
def member(engine: Engine) -> User:
    with db.write_session(engine) as session:
        return make_user(session, role=Role.DEVELOPER, email="dana.price@example.com")


def begin(
    engine: Engine, user: User, password: str = PASSWORD, *, now: datetime = T0
) -> two_factor.Setup:
    """Begin turning two-factor sign-in on; return the setup the page keeps."""
    with db.write_session(engine) as session:
        return two_factor.begin(
            session, actor_of(user), password, ip_address=HOME, session_handle=None, now=now
        )


def confirm(
    engine: Engine,
    user: User,
    setup: two_factor.Setup,
    code: str,
    *,
    handle: str | None = None,
    now: datetime = T0,
) -> list[str]:
    with db.write_session(engine) as session:
        return two_factor.confirm(
            session, actor_of(user), setup, code, session_handle=handle, now=now
        )


def code_at(secret: str, moment: datetime, steps: int = 0) -> str:
    """The app's code at ``moment``, ``steps`` steps of 30 seconds later (or earlier)."""
    return pyotp.TOTP(secret).at(moment + timedelta(seconds=steps * STEP_SECONDS))


def wrong_code(secret: str, moment: datetime) -> str:
    """A six-digit code that is none of the codes accepted at ``moment``."""
    accepted = {code_at(secret, moment, steps) for steps in (-1, 0, 1)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in accepted)


def enable(engine: Engine, user: User, *, handle: str | None = None) -> tuple[str, list[str]]:
    """Turn two-factor sign-in on at T0 (from the session ``handle``, if given); return the
    secret and the recovery codes."""
    setup = begin(engine, user)
    return setup.secret, confirm(engine, user, setup, code_at(setup.secret, T0), handle=handle)


def password_step(
    engine: Engine, user: User, *, now: datetime, ip: str = HOME
) -> auth.PendingSignIn:
    with pytest.raises(auth.SecondStepRequired) as step, db.write_session(engine) as session:
        auth.log_in(session, user.email, PASSWORD, ip_address=ip, now=now)
    return step.value.pending


def code_step(
    engine: Engine, pending: auth.PendingSignIn, code: str, *, now: datetime, ip: str = HOME
) -> auth.LoggedIn:
    with db.write_session(engine) as session:
        return auth.complete_sign_in(session, pending, code, ip_address=ip, now=now)


def stored(engine: Engine, user: User) -> User:
    with db.read_session(engine) as session:
        fresh = session.get(User, user.id)
        assert fresh is not None
        return fresh


def audited(engine: Engine, action: str) -> int:
    return count(engine, AuditEvent, col(AuditEvent.action) == action)


# --- Turning it on -------------------------------------------------------------------------


def test_a_wrong_confirmation_code_is_refused_and_nothing_is_turned_on(engine, member):
    setup = begin(engine, member)
    wrong = wrong_code(setup.secret, T0)

    with pytest.raises(ValidationFailed) as refused:
        confirm(engine, member, setup, wrong)

    assert refused.value.errors == {"code": two_factor.CODE_WRONG}
    assert stored(engine, member).two_factor_enabled_at is None
    assert count(engine, RecoveryCode) == 0
    assert audited(engine, "two_factor.enabled") == 0
    with db.read_session(engine) as session:
        assert two_factor.status(session, actor_of(member)).enabled is False
    # Without two-factor sign-in on, the password alone still signs in.
    with db.write_session(engine) as session:
        assert auth.log_in(session, member.email, PASSWORD, ip_address=HOME, now=T0).handle


def test_turning_it_on_asks_for_the_current_password_and_counts_a_miss(engine, member):
    with pytest.raises(CurrentPasswordWrong), db.write_session(engine) as session:
        two_factor.begin(
            session, actor_of(member), "Not-The-Password-1", ip_address=HOME, session_handle=None
        )

    assert stored(engine, member).two_factor_secret is None
    assert audited(engine, "password.check_failed") == 1


def test_a_confirmed_code_turns_it_on_and_shows_ten_recovery_codes_once(engine, member, outbox_dir):
    secret, codes = enable(engine, member)

    user = stored(engine, member)
    assert user.two_factor_enabled_at == T0
    assert len(codes) == 10 and len(set(codes)) == 10
    with db.read_session(engine) as session:
        status = two_factor.status(session, actor_of(member))
        digests = session.exec(select(RecoveryCode.code_digest)).all()
    assert (status.enabled, status.recovery_codes_left) == (True, 10)
    # Only keyed digests are kept: no code, with or without its hyphen, is in the table.
    for code in codes:
        assert code not in digests and code.replace("-", "") not in digests
    assert audited(engine, "two_factor.enabled") == 1
    [mail] = mail_to(outbox_dir, member.email)
    assert mail["Subject"] == "Two-factor sign-in is on for your SIPSTACK account"


def test_the_authenticator_link_names_the_portal_and_the_members_email(engine, member):
    setup = begin(engine, member)
    parsed = pyotp.parse_uri(setup.uri)
    assert parsed.secret == setup.secret
    assert parsed.issuer == "SIPSTACK Partner Portal"
    assert parsed.name == member.email
    assert isinstance(parsed, pyotp.TOTP)
    assert (parsed.digits, parsed.interval) == (6, 30)


def test_the_secret_is_nowhere_in_the_database_in_plain_text(engine, member):
    secret, _ = enable(engine, member)

    user = stored(engine, member)
    assert user.two_factor_secret is not None and secret not in user.two_factor_secret
    # Every value of every table, the users table first among them, as text.
    tables = MetaData()
    tables.reflect(engine)
    found = []
    with engine.connect() as connection:
        for table in tables.sorted_tables:
            for row in connection.execute(table.select()):
                for value in row:
                    if value is not None and (
                        secret in str(value) or secret.lower() in str(value).lower()
                    ):
                        found.append(table.name)
    assert "users" in tables.tables
    assert found == []


def test_the_secret_reads_back_only_under_the_portals_own_sealing_key(engine, member, monkeypatch):
    enable(engine, member)
    sealed = stored(engine, member).two_factor_secret
    assert sealed is not None and unseal(sealed, purpose="two-factor-secret") is not None

    monkeypatch.setenv("SEALING_KEYS", "another-portals-sealing-key-0123456789abcdefghij")
    get_settings.cache_clear()

    assert unseal(sealed, purpose="two-factor-secret") is None


def test_beginning_again_makes_a_new_secret(engine, member):
    first = begin(engine, member)
    second = begin(engine, member)
    assert first.secret != second.secret

    with pytest.raises(ValidationFailed):
        confirm(engine, member, second, code_at(first.secret, T0))
    assert len(confirm(engine, member, second, code_at(second.secret, T0)))
    assert unseal(stored(engine, member).two_factor_secret or "", purpose="two-factor-secret") == (
        second.secret
    )


def every_value_in_the_database(engine: Engine) -> list[tuple[str, str]]:
    """Every value of every table, as text, with its table's name."""
    tables = MetaData()
    tables.reflect(engine)
    values = []
    with engine.connect() as connection:
        for table in tables.sorted_tables:
            for row in connection.execute(table.select()):
                values += [(table.name, str(value)) for value in row if value is not None]
    return values


def test_a_setup_never_confirmed_leaves_no_secret_in_the_database(engine, member):
    setup = begin(engine, member)

    assert stored(engine, member).two_factor_secret is None
    assert [
        table
        for table, value in every_value_in_the_database(engine)
        if setup.secret.lower() in value.lower() or setup.token in value
    ] == []
    with db.read_session(engine) as session:
        assert two_factor.status(session, actor_of(member)).enabled is False


def test_a_setup_is_confirmed_within_its_lifetime_and_not_after(engine, member):
    setup = begin(engine, member)
    late = T0 + two_factor.SETUP_LIFETIME + timedelta(seconds=STEP_SECONDS)

    with pytest.raises(ValidationFailed) as refused:
        confirm(engine, member, setup, code_at(setup.secret, late), now=late)

    assert refused.value.errors == {"code": two_factor.START_AGAIN}
    assert stored(engine, member).two_factor_enabled_at is None
    in_time = T0 + two_factor.SETUP_LIFETIME
    assert len(confirm(engine, member, setup, code_at(setup.secret, in_time), now=in_time)) == 10


def test_a_setup_begun_by_one_member_cannot_turn_it_on_for_another(engine, member):
    with db.write_session(engine) as session:
        other = make_user(session, role=Role.VIEWER)
    setup = begin(engine, other)

    with pytest.raises(ValidationFailed) as refused:
        confirm(engine, member, setup, code_at(setup.secret, T0))

    assert refused.value.errors == {"code": two_factor.START_AGAIN}
    assert stored(engine, member).two_factor_enabled_at is None
    assert stored(engine, member).two_factor_secret is None


def test_turning_it_on_ends_the_members_other_sessions_and_keeps_this_one(engine, member):
    with db.write_session(engine) as session:
        here = sessions.start_session(session, member.id, ip_address=HOME, user_agent=None, now=T0)
        phone = sessions.start_session(session, member.id, ip_address=None, user_agent=None, now=T0)
        laptop = sessions.start_session(
            session, member.id, ip_address=None, user_agent=None, now=T0
        )
        someone_else = make_user(session, role=Role.VIEWER)
        theirs = sessions.start_session(
            session, someone_else.id, ip_address=None, user_agent=None, now=T0
        )

    enable(engine, member, handle=here)

    with db.read_session(engine) as session:
        alive = {
            name: sessions.resolve(session, handle, now=T0) is not None
            for name, handle in [("here", here), ("phone", phone), ("laptop", laptop)]
        }
        assert sessions.resolve(session, theirs, now=T0) is not None
    assert alive == {"here": True, "phone": False, "laptop": False}
    ended = count(engine, LoginSession, col(LoginSession.ended_reason) == "two_factor_enabled")
    assert ended == 2


def test_a_wrong_confirmation_code_ends_no_session(engine, member):
    with db.write_session(engine) as session:
        phone = sessions.start_session(session, member.id, ip_address=None, user_agent=None, now=T0)
    setup = begin(engine, member)

    with pytest.raises(ValidationFailed):
        confirm(engine, member, setup, wrong_code(setup.secret, T0))

    with db.read_session(engine) as session:
        assert sessions.resolve(session, phone, now=T0) is not None


# --- The login's second step ---------------------------------------------------------------


def test_the_password_alone_opens_no_session(engine, member):
    enable(engine, member)
    pending = password_step(engine, member, now=T0)

    assert pending.user_id == member.id
    assert pending.expires_at == T0 + timedelta(minutes=5)
    assert count(engine, LoginSession) == 0


@pytest.mark.parametrize("steps", [-1, 0, 1])
def test_codes_one_step_either_side_of_now_are_accepted(engine, member, steps):
    secret, _ = enable(engine, member)
    later = T0 + timedelta(minutes=2)
    pending = password_step(engine, member, now=later)

    logged_in = code_step(engine, pending, code_at(secret, later, steps), now=later)

    assert logged_in.view.user_id == member.id
    assert logged_in.view.two_factor_enabled
    with db.read_session(engine) as session:
        assert sessions.resolve(session, logged_in.handle, now=later) is not None


@pytest.mark.parametrize("steps", [-2, 2])
def test_codes_two_steps_away_are_refused(engine, member, steps):
    secret, _ = enable(engine, member)
    later = T0 + timedelta(minutes=2)
    pending = password_step(engine, member, now=later)

    with pytest.raises(SignInRefused):
        code_step(engine, pending, code_at(secret, later, steps), now=later)
    assert count(engine, LoginSession) == 0


def test_a_code_is_not_accepted_twice(engine, member):
    secret, _ = enable(engine, member)
    later = T0 + timedelta(minutes=2)
    code = code_at(secret, later)
    code_step(engine, password_step(engine, member, now=later), code, now=later)

    pending = password_step(engine, member, now=later + timedelta(seconds=10))
    with pytest.raises(SignInRefused):
        code_step(engine, pending, code, now=later + timedelta(seconds=10))
    # Nor one of an earlier step, still within the drift allowed.
    with pytest.raises(SignInRefused):
        code_step(engine, pending, code_at(secret, later, -1), now=later + timedelta(seconds=10))
    assert count(engine, LoginSession) == 1


def test_the_confirmation_code_cannot_sign_in(engine, member):
    secret, _ = enable(engine, member)
    pending = password_step(engine, member, now=T0)
    with pytest.raises(SignInRefused):
        code_step(engine, pending, code_at(secret, T0), now=T0)


@pytest.mark.parametrize("kind", ["app", "recovery"])
def test_logins_racing_with_one_code_open_one_session(concurrent_engine, kind):
    """Four browsers send one code at once: the app's step, or a recovery code, is taken by
    one conditional UPDATE, so exactly one of them signs in."""
    with db.write_session(concurrent_engine) as session:
        user = make_user(session, role=Role.OWNER)
    secret, recovery_codes = enable(concurrent_engine, user)
    later = T0 + timedelta(minutes=2)
    code = code_at(secret, later) if kind == "app" else recovery_codes[0]
    pendings = [password_step(concurrent_engine, user, now=later) for _ in range(4)]

    def attempt(pending: auth.PendingSignIn) -> bool:
        try:
            code_step(concurrent_engine, pending, code, now=later)
        except SignInRefused:
            return False
        return True

    outcomes = race([partial(attempt, pending) for pending in pendings], threads=4)

    assert sorted(outcomes) == [False, False, False, True]
    assert count(concurrent_engine, LoginSession) == 1
    if kind == "recovery":
        assert count(concurrent_engine, RecoveryCode, col(RecoveryCode.used_at).is_not(None)) == 1


def test_a_pending_step_expires_after_five_minutes(engine, member):
    secret, _ = enable(engine, member)
    pending = password_step(engine, member, now=T0 + timedelta(minutes=1))
    late = T0 + timedelta(minutes=6)

    with pytest.raises(AuthenticationFailed) as refused:
        code_step(engine, pending, code_at(secret, late), now=late)
    assert refused.value.message == auth.SECOND_STEP_EXPIRED
    assert count(engine, LoginSession) == 0


def test_a_password_reset_between_the_steps_voids_the_pending_one(engine, member):
    secret, _ = enable(engine, member)
    pending = password_step(engine, member, now=T0 + timedelta(minutes=1))
    with db.write_session(engine) as session:
        user = session.get(User, member.id)
        assert user is not None
        user.password_changed_at = T0 + timedelta(minutes=2)
        session.add(user)

    later = T0 + timedelta(minutes=3)
    with pytest.raises(AuthenticationFailed, match="log in again"):
        code_step(engine, pending, code_at(secret, later), now=later)


# --- Recovery codes ------------------------------------------------------------------------


def test_a_recovery_code_signs_in_once_and_the_member_is_told_how_many_are_left(
    engine, member, outbox_dir
):
    _, codes = enable(engine, member)
    later = T0 + timedelta(minutes=2)
    # Typed as it may be read off paper: upper case, spaced, without the hyphen.
    typed = " ".join(codes[3].replace("-", "").upper())

    logged_in = code_step(engine, password_step(engine, member, now=later), typed, now=later)

    assert logged_in.view.user_id == member.id
    with pytest.raises(SignInRefused):
        code_step(engine, password_step(engine, member, now=later), codes[3], now=later)
    mail = mail_to(outbox_dir, member.email)[-1]
    assert mail["Subject"] == "A recovery code was used to sign in to your SIPSTACK account"
    assert "You have 9 unused recovery codes left." in body_of(mail)
    assert audited(engine, "two_factor.recovery_code_used") == 1
    with db.read_session(engine) as session:
        assert two_factor.status(session, actor_of(member)).recovery_codes_left == 9


def test_new_recovery_codes_need_an_app_code_and_void_the_old_ones(engine, member):
    secret, old = enable(engine, member)
    later = T0 + timedelta(minutes=2)

    with pytest.raises(ValidationFailed), db.write_session(engine) as session:
        two_factor.regenerate_recovery_codes(
            session, actor_of(member), old[0], ip_address=HOME, session_handle=None, now=later
        )
    with db.write_session(engine) as session:
        new = two_factor.regenerate_recovery_codes(
            session,
            actor_of(member),
            code_at(secret, later),
            ip_address=HOME,
            session_handle=None,
            now=later,
        )

    assert len(new) == 10 and not set(new) & set(old)
    with pytest.raises(SignInRefused):
        code_step(engine, password_step(engine, member, now=later), old[1], now=later)
    assert code_step(engine, password_step(engine, member, now=later), new[1], now=later).handle


# --- Turning it off ------------------------------------------------------------------------


def disable(engine: Engine, user: User, password: str, code: str, now: datetime) -> None:
    with db.write_session(engine) as session:
        two_factor.disable(
            session,
            actor_of(user),
            current_password=password,
            code=code,
            ip_address=HOME,
            session_handle=None,
            now=now,
        )


def test_turning_it_off_needs_the_password_and_a_code(engine, member, outbox_dir):
    secret, _ = enable(engine, member)
    later = T0 + timedelta(minutes=2)

    with pytest.raises(CurrentPasswordWrong):
        disable(engine, member, "Not-The-Password-1", code_at(secret, later), later)
    with pytest.raises(two_factor.CodeWrong) as refused:
        disable(engine, member, PASSWORD, wrong_code(secret, later), later)
    assert refused.value.errors == {"code": two_factor.CODE_OR_RECOVERY_WRONG}
    assert stored(engine, member).two_factor_enabled_at is not None

    disable(engine, member, PASSWORD, code_at(secret, later), later)

    user = stored(engine, member)
    assert (user.two_factor_enabled_at, user.two_factor_secret) == (None, None)
    assert count(engine, RecoveryCode) == 0
    assert audited(engine, "two_factor.disabled") == 1
    assert mail_to(outbox_dir, member.email)[-1]["Subject"] == (
        "Two-factor sign-in is off for your SIPSTACK account"
    )
    with db.write_session(engine) as session:
        assert auth.log_in(session, member.email, PASSWORD, ip_address=HOME, now=later).handle


def test_a_recovery_code_can_turn_it_off(engine, member):
    _, codes = enable(engine, member)
    disable(engine, member, PASSWORD, codes[0], T0 + timedelta(minutes=2))
    assert stored(engine, member).two_factor_enabled_at is None


def test_staff_turn_it_on_and_off_as_members_do(engine):
    with db.write_session(engine) as session:
        staff = make_staff(session)
    secret, _ = enable(engine, staff)
    later = T0 + timedelta(minutes=2)
    logged_in = code_step(
        engine, password_step(engine, staff, now=later), code_at(secret, later), now=later
    )
    assert logged_in.view.is_staff and not logged_in.view.two_factor_missing

    disable(engine, staff, PASSWORD, code_at(secret, later, 1), later)
    assert stored(engine, staff).two_factor_enabled_at is None


# --- The throttle --------------------------------------------------------------------------


def test_wrong_codes_are_throttled_like_wrong_passwords(engine, member):
    secret, _ = enable(engine, member)
    later = T0 + timedelta(minutes=2)
    limit = get_settings().login_failures_per_account
    pending = password_step(engine, member, now=later)

    for _ in range(limit):
        with pytest.raises(SignInRefused) as refused:
            code_step(engine, pending, wrong_code(secret, later), now=later)
        assert refused.value.message == two_factor.CODE_OR_RECOVERY_WRONG
    with pytest.raises(Throttled) as throttled:
        code_step(engine, pending, code_at(secret, later), now=later)

    assert throttled.value.message.startswith("Too many failed attempts. Try again in ")
    # The password too is refused now: the account is locked as after as many wrong passwords.
    with pytest.raises(Throttled), db.write_session(engine) as session:
        auth.log_in(session, member.email, PASSWORD, ip_address=HOME, now=later)
    assert audited(engine, "login.code_failed") == limit
    assert count(engine, LoginSession) == 0


def test_a_right_password_between_wrong_codes_forgets_none_of_them(engine, member):
    secret, _ = enable(engine, member)
    later = T0 + timedelta(minutes=2)
    limit = get_settings().login_failures_per_account

    for _ in range(limit):
        pending = password_step(engine, member, now=later)
        with pytest.raises(SignInRefused):
            code_step(engine, pending, wrong_code(secret, later), now=later)

    with pytest.raises(Throttled), db.write_session(engine) as session:
        auth.log_in(session, member.email, PASSWORD, ip_address=HOME, now=later)


def test_a_right_code_forgets_the_failures_of_its_own_address(engine, member):
    secret, _ = enable(engine, member)
    later = T0 + timedelta(minutes=2)
    limit = get_settings().login_failures_per_account
    pending = password_step(engine, member, now=later)
    for _ in range(limit - 1):
        with pytest.raises(SignInRefused):
            code_step(engine, pending, wrong_code(secret, later), now=later)

    code_step(engine, pending, code_at(secret, later), now=later)

    for _ in range(limit - 1):
        with pytest.raises(SignInRefused):
            code_step(engine, pending, wrong_code(secret, later), now=later)


def test_wrong_codes_in_my_profile_end_the_session_at_the_limit(engine, member):
    secret, _ = enable(engine, member)
    later = T0 + timedelta(minutes=2)
    handle = code_step(
        engine, password_step(engine, member, now=later), code_at(secret, later), now=later
    ).handle
    limit = get_settings().login_failures_per_account

    def regenerate_with_a_wrong_code() -> None:
        with db.write_session(engine) as session:
            two_factor.regenerate_recovery_codes(
                session,
                actor_of(member),
                wrong_code(secret, later),
                ip_address=HOME,
                session_handle=handle,
                now=later,
            )

    for _ in range(limit - 1):
        with pytest.raises(two_factor.CodeWrong):
            regenerate_with_a_wrong_code()
    with pytest.raises(SignInRefused) as refused:
        regenerate_with_a_wrong_code()

    assert refused.value.message == two_factor.TOO_MANY_WRONG_CODES
    with db.read_session(engine) as session:
        assert sessions.resolve(session, handle, now=later) is None


# --- The organization's requirement ----------------------------------------------------------


def require_it(engine: Engine, user: User, required: bool = True) -> None:
    with db.write_session(engine) as session:
        two_factor.set_organization_requirement(session, actor_of(user), required, now=T0)


def organization_requires(engine: Engine, user: User) -> bool:
    with db.read_session(engine) as session:
        organization = session.get(Organization, user.organization_id)
        assert organization is not None
        return organization.require_two_factor


def test_an_owner_without_two_factor_cannot_require_it(engine):
    with db.write_session(engine) as session:
        owner = make_user(session, role=Role.OWNER)

    with pytest.raises(Conflict) as refused:
        require_it(engine, owner)

    assert refused.value.message == two_factor.OWNER_NEEDS_IT_FIRST
    assert organization_requires(engine, owner) is False
    assert audited(engine, "organization.two_factor_required") == 0


def test_only_the_owner_may_require_it(engine):
    with db.write_session(engine) as session:
        owner = make_user(session, role=Role.OWNER)
        admin = make_user(
            session, role=Role.ADMIN, organization=session.get(Organization, owner.organization_id)
        )
    enable(engine, admin)

    with pytest.raises(PermissionDenied):
        require_it(engine, admin)
    assert organization_requires(engine, owner) is False


def test_a_required_second_step_confines_members_without_it_until_they_turn_it_on(engine):
    with db.write_session(engine) as session:
        owner = make_user(session, role=Role.OWNER)
        organization = session.get(Organization, owner.organization_id)
        member = make_user(session, role=Role.VIEWER, organization=organization)
        elsewhere = make_user(session, role=Role.VIEWER)
    enable(engine, owner)

    require_it(engine, owner)

    assert organization_requires(engine, owner)
    assert audited(engine, "organization.two_factor_required") == 1
    with db.write_session(engine) as session:
        view = auth.log_in(session, member.email, PASSWORD, ip_address=HOME, now=T0).view
        other = auth.log_in(session, elsewhere.email, PASSWORD, ip_address=HOME, now=T0).view
    assert (view.two_factor_required, view.two_factor_missing) == (True, True)
    assert other.two_factor_missing is False

    enable(engine, member, handle=view.handle)  # in the session it was confined to
    with db.read_session(engine) as session:
        now_enabled = sessions.resolve(session, view.handle, now=T0)
    assert now_enabled is not None and not now_enabled.two_factor_missing


def test_a_member_cannot_turn_it_off_while_the_organization_requires_it(engine):
    with db.write_session(engine) as session:
        owner = make_user(session, role=Role.OWNER)
    secret, _ = enable(engine, owner)
    require_it(engine, owner)
    later = T0 + timedelta(minutes=2)

    with pytest.raises(Conflict) as refused:
        disable(engine, owner, PASSWORD, code_at(secret, later), later)
    assert refused.value.message == two_factor.REQUIRED_BY_ORGANIZATION
    assert stored(engine, owner).two_factor_enabled_at is not None

    require_it(engine, owner, False)
    assert audited(engine, "organization.two_factor_optional") == 1
    disable(engine, owner, PASSWORD, code_at(secret, later), later)
    assert stored(engine, owner).two_factor_enabled_at is None


# --- Staff reset it ------------------------------------------------------------------------


def reset(engine: Engine, staff: User, user: User, reason: str = "Lost phone and codes") -> None:
    with db.write_session(engine) as session:
        two_factor.reset_by_staff(session, actor_of(staff), user.id, reason=reason, now=T0)


@pytest.fixture
def staff(engine: Engine) -> User:
    with db.write_session(engine) as session:
        return make_staff(session, email="olu@sipstack.test")


def nothing_changed(engine: Engine, user: User, sealed: str | None, handle: str) -> None:
    fresh = stored(engine, user)
    assert (fresh.two_factor_enabled_at, fresh.two_factor_secret) == (T0, sealed)
    assert count(engine, RecoveryCode, col(RecoveryCode.user_id) == user.id) == 10
    assert audited(engine, "two_factor.reset") == 0
    with db.read_session(engine) as session:
        assert sessions.resolve(session, handle, now=T0) is not None


def test_staff_reset_turns_it_off_ends_every_session_and_tell_the_member(
    engine, member, staff, outbox_dir
):
    secret, codes = enable(engine, member)
    with db.write_session(engine) as session:
        handles = [
            sessions.start_session(session, member.id, ip_address=None, user_agent=None, now=T0)
            for _ in range(2)
        ]

    reset(engine, staff, member, reason="  Lost phone and codes; ID checked by call  ")

    fresh = stored(engine, member)
    assert (fresh.two_factor_enabled_at, fresh.two_factor_secret) == (None, None)
    assert fresh.two_factor_last_step is None
    assert count(engine, RecoveryCode, col(RecoveryCode.user_id) == member.id) == 0
    with db.read_session(engine) as session:
        assert [sessions.resolve(session, handle, now=T0) for handle in handles] == [None, None]
        [event] = session.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "two_factor.reset")
        ).all()
    assert (event.actor_email, event.subject, event.detail) == (
        staff.email,
        member.email,
        "Lost phone and codes; ID checked by call",
    )
    assert event.organization_id == member.organization_id
    assert count(engine, LoginSession, col(LoginSession.ended_reason) == "two_factor_reset") == 2
    [mail] = [m for m in mail_to(outbox_dir, member.email) if "staff" in m["Subject"]]
    assert mail["Subject"] == "SIPSTACK staff turned off two-factor sign-in for your account"
    assert "My Profile › Advanced" in body_of(mail)
    # The password alone signs in again; the old app's code and recovery codes are no use.
    later = T0 + timedelta(minutes=5)
    with db.write_session(engine) as session:
        logged_in = auth.log_in(session, member.email, PASSWORD, ip_address=HOME, now=later)
        user = session.get_one(User, member.id)
        assert two_factor.accept_code(session, user, code_at(secret, later), now=later) is None
        assert two_factor.accept_code(session, user, codes[0], now=later) is None
    assert logged_in.view.two_factor_enabled is False


def test_after_a_reset_a_member_whose_organization_requires_it_is_confined_until_set_up(
    engine, staff, outbox_dir
):
    with db.write_session(engine) as session:
        owner = make_user(session, role=Role.OWNER)
        organization = session.get_one(Organization, owner.organization_id)
        member = make_user(session, role=Role.VIEWER, organization=organization)
    enable(engine, owner)
    require_it(engine, owner)
    enable(engine, member)

    reset(engine, staff, member)

    with db.write_session(engine) as session:
        view = auth.log_in(session, member.email, PASSWORD, ip_address=HOME, now=T0).view
        assert two_factor.required_but_missing(session, session.get_one(User, member.id))
    assert (view.two_factor_required, view.two_factor_missing) == (True, True)
    [mail] = [m for m in mail_to(outbox_dir, member.email) if "staff" in m["Subject"]]
    assert "requires it" in body_of(mail)


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_only_staff_may_reset_it(engine, member, role):
    enable(engine, member)
    with db.write_session(engine) as session:
        colleague = make_user(
            session, role=role, organization=session.get_one(Organization, member.organization_id)
        )
        handle = sessions.start_session(
            session, member.id, ip_address=None, user_agent=None, now=T0
        )
    sealed = stored(engine, member).two_factor_secret

    with pytest.raises(PermissionDenied):
        reset(engine, colleague, member)

    nothing_changed(engine, member, sealed, handle)


def test_a_member_without_it_has_nothing_to_reset(engine, member, staff):
    with pytest.raises(Conflict) as refused:
        reset(engine, staff, member)

    assert refused.value.message == f"{member.email} has no two-factor sign-in to reset."
    assert audited(engine, "two_factor.reset") == 0


def test_a_reset_needs_a_reason(engine, member, staff):
    enable(engine, member)
    with db.write_session(engine) as session:
        handle = sessions.start_session(
            session, member.id, ip_address=None, user_agent=None, now=T0
        )
    sealed = stored(engine, member).two_factor_secret

    with pytest.raises(ValidationFailed) as refused:
        reset(engine, staff, member, reason="   ")

    assert set(refused.value.errors) == {"reason"}
    nothing_changed(engine, member, sealed, handle)


def test_staff_accounts_are_not_reset_here(engine, staff):
    with db.write_session(engine) as session:
        colleague = make_staff(session, email="ada@sipstack.test")
    enable(engine, colleague)

    with pytest.raises(Conflict) as refused:
        reset(engine, staff, colleague)

    assert refused.value.message == two_factor.STAFF_NOT_HERE
    assert stored(engine, colleague).two_factor_enabled_at == T0
