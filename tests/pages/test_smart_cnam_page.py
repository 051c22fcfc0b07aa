"""Partner › Smart CNAM (AppTest): the price said before a lookup, a lookup drawn with its
score, remark, answer, text answer and explanation, refusals that say why and charge nothing,
a report made from the result, the user's last lookups, a private profile's details kept from
another organization, and who may open the page."""

from __future__ import annotations

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from portal_core import db
from portal_core.models.accounts import Role, User
from portal_core.models.billing import BillingAccount, UsageRecord
from portal_core.models.products import CommunityReport, ProductEvent
from portal_core.services import whois
from portal_core.services.whois import ProfileForm
from tests.factories import actor_of, change_subscription, make_staff, organization_of
from tests.pages.conftest import NOT_YOUR_ROLE, Portal, make_member, plain, refused

PAGE = "pages/smart_cnam.py"
FORM = "partner.smart_cnam.form"


def look_up(
    app: AppTest, source: str, *, kind: str = "caller_id", destination: str = ""
) -> AppTest:
    app.text_input(key="partner.smart_cnam.source").input(source)
    app.text_input(key="partner.smart_cnam.destination").input(destination)
    app.radio(key="partner.smart_cnam.type").set_value(kind)
    [button] = [widget for widget in app.button if widget.form_id == FORM]
    button.click()
    return app.run()


def charts(app: AppTest) -> int:
    return len(app.get("plotly_chart"))


def register(portal: Portal, user: User, number: str, **fields: object) -> None:
    with db.write_session(portal.engine) as session:
        whois.register(
            session,
            actor_of(user),
            ProfileForm(number=number, line_type="fixed", **fields),  # type: ignore[arg-type]
        )


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.DEVELOPER], ids=str)
def test_a_lookup_is_drawn_with_its_score_answer_and_why(portal: Portal, role: Role) -> None:
    user = make_member(portal, role)
    app = portal.open(PAGE, as_user=user)
    assert not app.exception, app.exception
    assert [str(title.value) for title in app.title] == ["Smart CNAM"]
    assert "included lookups left this month" in plain(app)
    assert "Your lookups will be listed here." in plain(app)

    app = look_up(app, "(416) 967-1111")

    assert not app.exception, app.exception
    assert [str(header.value) for header in app.subheader] == ["Caller ID · +1 416-967-1111"]
    metrics = {str(metric.label): str(metric.value) for metric in app.metric}
    assert metrics["Score"] == "2.500"
    assert metrics["Caller name"] == "Toronto ON"
    shown = plain(app)
    assert "2.500Toronto ON" in shown  # the text answer call flows read
    assert "Included in your plan" in shown
    assert "Why 2.500?" in shown
    assert charts(app) == 1
    assert "Caller ID · +1 416-967-1111" not in str(app.markdown[0].value)
    with db.read_session(portal.engine) as session:
        assert len(session.exec(select(UsageRecord)).all()) == 1
        (event,) = session.exec(select(ProductEvent)).all()
    assert event.user_id == user.id and event.number == "+14169671111"
    # The last lookups beside the form, on the next run.
    again = app.run()
    assert "+1 416-967-1111" in plain(again) and "2.500 Spam Possible/Recovering" in plain(again)


def test_input_that_is_not_a_number_is_refused_under_its_field_and_costs_nothing(
    portal: Portal,
) -> None:
    app = look_up(portal.open(PAGE, as_user=make_member(portal)), "call me maybe")
    assert not app.exception, app.exception
    errors = [str(error.value) for error in app.error]
    assert len(errors) == 1 and "call me maybe" in errors[0]
    assert not app.subheader  # no result drawn
    with db.read_session(portal.engine) as session:
        assert session.exec(select(UsageRecord)).all() == []


def test_source_risk_without_a_registered_destination_says_what_to_do(portal: Portal) -> None:
    app = look_up(
        portal.open(PAGE, as_user=make_member(portal)),
        "+14169671111",
        kind="source_risk",
        destination="+12125550123",
    )
    assert not app.exception, app.exception
    [error] = [str(error.value) for error in app.error]
    assert "not one of your registered numbers" in error and "Nothing was charged" in error


def test_a_lookup_the_funds_cannot_cover_is_refused_with_the_reason(portal: Portal) -> None:
    user = make_member(portal)
    with db.write_session(portal.engine) as session:
        change_subscription(
            session,
            organization_of(session, user),
            plan_code="starter",
            contract_included_requests=0,
        )
    app = portal.open(PAGE, as_user=user)
    assert "This lookup costs $0.0030" in plain(app)
    app = look_up(app, "+14169671111")
    assert not app.exception, app.exception
    [error] = [str(error.value) for error in app.error]
    assert "Add funds in Billing › Overview" in plain(app)
    assert "nothing was charged" in error
    with db.read_session(portal.engine) as session:
        assert session.exec(select(UsageRecord)).all() == []
        (event,) = session.exec(select(ProductEvent)).all()
        account = session.get_one(BillingAccount, user.organization_id)
    assert event.status == "refused" and account.unbilled_micros == 0


def test_a_number_is_reported_as_spam_from_its_result(portal: Portal) -> None:
    user = make_member(portal, Role.DEVELOPER)
    app = look_up(portal.open(PAGE, as_user=user), "+14169671111")
    app = app.button(key="partner.smart_cnam.report_spam").click().run()
    assert not app.exception, app.exception
    app.text_area(key="partner.smart_cnam.report_comment").input("Robocalls about car warranties")
    app = app.button(key="partner.smart_cnam.report_send").click().run()
    assert not app.exception, app.exception
    assert [str(toast.value) for toast in app.toast] == [
        "Thank you: +1 416-967-1111 is reported as spam."
    ]
    with db.read_session(portal.engine) as session:
        (report,) = session.exec(select(CommunityReport)).all()
    assert (report.number, report.kind, report.comment) == (
        "+14169671111",
        "spam",
        "Robocalls about car warranties",
    )
    # A second report within 30 days is refused in the dialog, which says when.
    app = app.button(key="partner.smart_cnam.report_safe").click().run()
    app = app.button(key="partner.smart_cnam.report_send").click().run()
    assert any("one report per number every 30 days" in str(e.value) for e in app.error)


def test_another_organizations_private_profile_shows_none_of_its_details(portal: Portal) -> None:
    owner = make_member(portal)
    register(
        portal,
        owner,
        "+14169671111",
        caller_name="Secret Co",
        business_name="Hidden Holdings",
        website="https://hidden.example.com",
        private=True,
    )
    app = portal.open(PAGE, as_user=make_member(portal))
    for kind, said in (
        ("caller_id", "Registration: Registered, not verified"),
        ("telco_carrier", "Company: Not known"),
        ("online_profiles", "Online profiles: Kept private by the number's owner"),
    ):
        app = look_up(app, "+14169671111", kind=kind)
        assert not app.exception, app.exception
        shown = plain(app).replace("**", "")
        assert said in shown
        assert "Its owner keeps the number's details private" in shown
        for detail in ("Secret Co", "Hidden Holdings", "hidden.example.com"):
            assert detail not in shown


@pytest.mark.parametrize("role", [Role.BILLING, Role.VIEWER], ids=str)
def test_roles_without_lookups_are_refused(portal: Portal, role: Role) -> None:
    app = portal.open(PAGE, as_user=make_member(portal, role))
    assert not app.exception, app.exception
    assert refused(app)
    assert [str(error.value) for error in app.error] == [NOT_YOUR_ROLE]
    assert not app.text_input


def test_staff_are_refused(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        staff = make_staff(session)
    app = portal.open(PAGE, as_user=staff)
    assert not app.exception, app.exception
    assert refused(app)
    assert not app.text_input


def codes(app: AppTest) -> list[str]:
    return [str(code.value) for code in app.code]


def test_the_lookup_made_is_shown_as_code_with_its_numbers_and_type(portal: Portal) -> None:
    user = make_member(portal, Role.DEVELOPER)
    register(portal, user, "+1 416 555 0144", caller_name="Demo Billing")
    app = portal.open(PAGE, as_user=user)
    # Before a lookup: the sample number, as the form's type (Caller ID) asks it.
    assert any("/phoneNumber/14165550100?type=cnam" in code for code in codes(app))

    app = look_up(app, "(416) 555-0177", kind="source_risk", destination="416 555 0144")

    assert not app.exception, app.exception
    assert [str(header.value) for header in app.subheader] == ["Source/Risk · +1 416-555-0177"]
    assert [str(expander.label) for expander in app.expander] == ["Make this lookup from your code"]
    assert [str(tab.label) for tab in app.tabs] == ["curl", "Python (httpx)", "Asterisk dialplan"]
    curl, python, dialplan = codes(app)
    url = (
        "http://localhost:8501/api/v1/b/partner/smart-cnam/phoneNumber/"
        "+14165550177/+14165550144?type=risk"
    )
    assert curl == f'curl --user YOUR_KEY:YOUR_SECRET "{url}"'
    assert f'"{url}"' in python and "Bearer YOUR_KEY.YOUR_SECRET" in python
    assert dialplan.startswith("same => n,Set(SIPSTACK_SCORE=${CURL(http://YOUR_KEY:YOUR_SECRET@")
    assert dialplan.endswith("/${CALLERID(num)}/${EXTEN}?type=risk)})")
    assert "`YOUR_KEY` and `YOUR_SECRET`" in plain(app)
    [link] = [link for link in app.get("page_link") if link.proto.label == "Create a token"]
    assert link.proto.page == "access_api_tokens"


def test_a_lookup_without_a_text_answer_is_shown_as_json_calls_and_no_dialplan(
    portal: Portal,
) -> None:
    app = portal.open(PAGE, as_user=make_member(portal))
    app = look_up(app, "+1 647 555 0166", kind="telco_carrier")

    assert not app.exception, app.exception
    assert [str(tab.label) for tab in app.tabs] == ["curl", "Python (httpx)"]
    curl, python = codes(app)
    url = "http://localhost:8501/api/v1/smart-cnam/+16475550166?type=telco"
    assert curl == f'curl --user YOUR_KEY:YOUR_SECRET "{url}"'
    assert f'"{url}"' in python and python.endswith("print(answer.json())")
    assert "No dialplan line for this type" in plain(app)


def test_a_refused_lookup_is_shown_as_code_as_it_was_typed(portal: Portal) -> None:
    app = look_up(
        portal.open(PAGE, as_user=make_member(portal)),
        "+1 416 967 1111",
        kind="source_risk",
        destination="+1 212 555 0123",
    )
    assert not app.exception, app.exception
    assert "not one of your registered numbers" in str(app.error[0].value)
    assert any("/phoneNumber/+14169671111/+12125550123?type=risk" in c for c in codes(app))
