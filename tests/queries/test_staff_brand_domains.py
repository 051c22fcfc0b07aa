"""Staff › Organizations' detail: its brand domains by name, each with its status and last
check (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from portal_core import db
from portal_core.models.accounts import BrandDomain
from portal_core.queries import staff
from portal_core.queries.staff import BrandDomainState
from tests.factories import actor_of, make_organization, make_staff

CHECKED = datetime(2026, 11, 16, 15, 4, tzinfo=UTC)


def test_the_detail_gives_each_domain_its_status_and_last_check(engine: Engine) -> None:
    with db.write_session(engine) as session:
        staff_actor = actor_of(make_staff(session))
        north = make_organization(session, name="Northwind", with_domain=False)
        session.add(
            BrandDomain(
                organization_id=north.id,
                domain="b-verified.example",
                verified_at=CHECKED,
                last_checked_at=CHECKED,
            )
        )
        session.add(BrandDomain(organization_id=north.id, domain="a-pending.example"))
        other = make_organization(session, name="Elsewhere", with_domain=False)
        session.add(BrandDomain(organization_id=other.id, domain="c-elsewhere.example"))

    with db.read_session(engine) as session:
        detail = staff.organization_detail(session, staff_actor, north.id)

    assert detail.domains == [
        BrandDomainState("a-pending.example", None, None),
        BrandDomainState("b-verified.example", CHECKED, CHECKED),
    ]
    assert [domain.verified for domain in detail.domains] == [False, True]
