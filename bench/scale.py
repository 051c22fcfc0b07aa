"""Seed a database at scale, fast: Core INSERTs in batches, one precomputed password hash."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from sqlalchemy import Engine, insert

from portal_core.models.accounts import BrandDomain, Organization, Role, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.models.billing import BillingAccount, BillingCycle, Subscription
from portal_core.services.passwords import hash_password

PASSWORD = "Bench-Lantern-Harbor-2026"
PARTNER_ROLES = [Role.OWNER, Role.ADMIN, Role.BILLING, Role.DEVELOPER, Role.VIEWER]


def seed(engine: Engine, *, organizations: int, users: int, seed_value: int = 7) -> list[str]:
    """``organizations`` active organizations sharing ``users`` users; returns owner e-mails."""
    rng = random.Random(seed_value)
    password_hash = hash_password(PASSWORD)
    now = utcnow()
    org_rows, domain_rows, account_rows, subscription_rows = [], [], [], []
    org_ids = []
    for index in range(organizations):
        org_id = uuid.uuid4()
        org_ids.append(org_id)
        created = now - timedelta(days=rng.randint(0, 900), minutes=index)
        org_rows.append(
            {
                "id": org_id,
                "name": f"Carrier {index:05d} {rng.choice(['Telecom', 'Voice', 'Networks'])}",
                "legal_name": f"Carrier {index:05d} Inc.",
                "country": "CA",
                "province": rng.choice(["ON", "QC", "BC", "AB"]),
                "address_line": f"{index} Main Street",
                "city": "Toronto",
                "brand_name": f"Carrier {index:05d}",
                "status": "active",
                "activated_at": created,
                "created_at": created,
                "updated_at": created + timedelta(days=rng.randint(0, 30)),
            }
        )
        domain_rows.append(
            {
                "id": uuid.uuid4(),
                "organization_id": org_id,
                "domain": f"carrier{index}.example.com",
                "created_at": created,
            }
        )
        account_rows.append(
            {
                "organization_id": org_id,
                "balance_micros": 0,
                "unbilled_micros": 0,
                "credit_limit_micros": 0,
            }
        )
        # Every active organization is on a plan (the Dashboard refuses one that is not).
        subscription_rows.append(
            {
                "organization_id": org_id,
                "plan_code": "free",
                "cycle": BillingCycle.MONTHLY.value,
                "term_started_at": created,
                "created_at": created,
                "updated_at": created,
            }
        )
    user_rows, owners = [], []
    for index in range(users):
        org_index = index % organizations
        role = Role.OWNER if index < organizations else rng.choice(PARTNER_ROLES[1:])
        email = f"user{index:06d}@carrier{org_index}.example.com"
        if role is Role.OWNER:
            owners.append(email)
        user_rows.append(
            {
                "id": uuid.uuid4(),
                "email": email,
                "name": f"User {index:06d}",
                "password_hash": password_hash,
                "role": role.value,
                "organization_id": org_ids[org_index],
                "status": UserStatus.ACTIVE.value,
                "email_verified_at": now,
                "dark_mode": False,
                "notify_low_balance": True,
                "low_balance_threshold_cents": 2000,
                "notify_invoices": True,
                "notify_disputes": True,
                "notify_product_news": False,
                "password_changed_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
    with engine.begin() as connection:
        for table, rows in (
            (Organization, org_rows),
            (BrandDomain, domain_rows),
            (BillingAccount, account_rows),
            (Subscription, subscription_rows),
            (User, user_rows),
        ):
            for start in range(0, len(rows), 2000):
                connection.execute(insert(table), rows[start : start + 2000])
    return owners
