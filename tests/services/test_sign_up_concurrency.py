"""Get Started under real concurrency: the same address submitted from several threads at
once (a double click, two tabs) makes one account and raises nothing."""

from __future__ import annotations

from portal_core import db
from portal_core.models.accounts import Organization, User
from portal_core.models.billing import BillingAccount
from portal_core.services import accounts
from tests.services.support import count, mail_to, race, sign_up_form


def test_the_same_email_signed_up_five_times_at_once_makes_one_account(
    concurrent_engine, outbox_dir
):
    form = sign_up_form(email="twice@example.com")

    def submit() -> None:
        with db.write_session(concurrent_engine) as session:
            accounts.sign_up(session, form)

    race([submit] * 5, threads=5)

    assert count(concurrent_engine, User) == 1
    assert count(concurrent_engine, Organization) == 1
    assert count(concurrent_engine, BillingAccount) == 1
    subjects = sorted(message["Subject"] for message in mail_to(outbox_dir, "twice@example.com"))
    assert subjects == ["Someone tried to sign up with your e-mail"] * 4 + [
        "Verify your e-mail for the SIPSTACK Partner Portal"
    ]
