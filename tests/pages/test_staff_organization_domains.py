"""Staff › Organizations: an organization's facts list its brand domains, each verified or
pending with when it was last checked (AppTest)."""

from __future__ import annotations

from datetime import UTC, datetime

from portal_core import db
from portal_core.models.accounts import BrandDomain, Role
from tests.factories import make_organization, make_staff, make_user
from tests.pages.conftest import Portal, plain, unescaped

PAGE = "pages/staff_organizations.py"
CHECKED = datetime(2026, 11, 16, 15, 4, tzinfo=UTC)


def test_the_facts_show_each_brand_domain_with_its_status_and_last_check(
    portal: Portal,
) -> None:
    with db.write_session(portal.engine) as session:
        staff = make_staff(session)
        north = make_organization(session, name="Northwind", with_domain=False)
        make_user(session, organization=north, role=Role.OWNER)
        session.add(
            BrandDomain(
                organization_id=north.id,
                domain="b-verified.example",
                verified_at=CHECKED,
                last_checked_at=CHECKED,
                last_check="Found the TXT record.",
            )
        )
        session.add(BrandDomain(organization_id=north.id, domain="a-pending.example"))

    app = portal.open(PAGE, as_user=staff, query_params={"organization": north.id})

    assert not app.exception, app.exception
    [facts] = [
        unescaped(str(shown.value))
        for shown in app.markdown
        if str(shown.value).startswith("**Brand domains**")
    ]
    assert facts.splitlines() == [
        "**Brand domains**  ",
        "a-pending.example · pending · not checked yet  ",
        "b-verified.example · verified · last checked 2026-11-16 15:04 UTC",
    ]


def test_an_organization_without_domains_shows_a_dash(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        staff = make_staff(session)
        north = make_organization(session, name="Northwind", with_domain=False)

    app = portal.open(PAGE, as_user=staff, query_params={"organization": north.id})

    assert not app.exception, app.exception
    assert "**Brand domains**  \n—" in plain(app)
