"""Partner › Whois Profiles › Import CSV (AppTest): a file uploaded through the dialog and
imported, its report drawn (counts, refused rows with their reason, a disputed number, the
columns not read) with the report and the template to download; a file refused whole said in
the dialog with nothing saved; the table keeping to its own columns while the export carries
the whole profile; and who may import."""

from __future__ import annotations

import csv
import io

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from portal_core import db
from portal_core.models.accounts import Role, User
from portal_core.models.products import WhoisProfile
from portal_core.services import whois
from portal_core.services.whois import ProfileForm
from portal_core.ui import whois_import_views
from tests.factories import actor_of, make_user, organization_of
from tests.pages.conftest import Downloads, Portal, make_member, plain

PAGE = "pages/whois_profiles.py"
KEY = whois_import_views.ASKED


def open_dialog(portal: Portal, user: User) -> AppTest:
    app = portal.open(PAGE, as_user=user)
    return app.button(key="partner.whois_profiles.import_button").click().run()


def upload(app: AppTest, data: bytes) -> AppTest:
    [uploader] = app.file_uploader
    uploader.set_value(("profiles.csv", data, "text/csv"))
    app = app.run()
    return app.button(key=f"{KEY}.run").click().run()


def profiles(portal: Portal) -> dict[str, WhoisProfile]:
    with db.read_session(portal.engine) as session:
        return {profile.number: profile for profile in session.exec(select(WhoisProfile))}


def metrics(app: AppTest) -> dict[str, str]:
    return {str(metric.label): str(metric.value) for metric in app.metric}


def test_a_csv_is_imported_through_the_dialog_and_its_report_drawn(
    portal: Portal, downloads: Downloads
) -> None:
    owner = make_member(portal)
    holder = make_member(portal)
    with db.write_session(portal.engine) as session:
        whois.register(
            session,
            actor_of(holder),
            ProfileForm(number="+16135550100", caller_name="Holder", line_type="fixed"),
        )
    app = open_dialog(portal, owner)
    assert not app.exception, app.exception
    [uploader] = app.file_uploader
    assert uploader.label == "CSV file"
    assert "whois-profiles-template.csv" in downloads
    assert (
        downloads["whois-profiles-template.csv"]()
        .decode("utf-8-sig")
        .startswith("number,caller_name,business_name,line_type")
    )
    data = (
        b"Number,Caller name,Line type,Private,Score\n"
        b"'+14169671111,Acme Support,Fixed line,Yes,4.000\n"
        b"+1 212 555 0123,,mobile,No,\n"
        b"+1 613 555 0100,Claimant,VoIP,No,\n"
    )
    app = upload(app, data)

    assert not app.exception, app.exception
    counts = {label: metrics(app)[label] for label in ("Added", "Updated", "Disputed", "Refused")}
    assert counts == {
        "Added": "1",
        "Updated": "0",
        "Disputed": "1",
        "Refused": "1",
    }
    shown = plain(app)
    assert "Imported, but 1 rows were refused" in shown
    assert "Another organization holds the disputed numbers" in shown
    assert "Not imported: the columns “Score”" in shown
    [refused] = [frame.value for frame in app.dataframe if "reason" in frame.value.columns]
    assert refused.values.tolist() == [
        [3, "+1 212-555-0123", "General › Caller name: required."],
    ]
    saved = profiles(portal)
    assert (saved["+14169671111"].caller_name, saved["+14169671111"].private) == (
        "Acme Support",
        True,
    )
    with db.read_session(portal.engine) as session:
        claims = sorted(
            (profile.caller_name, profile.status)
            for profile in session.exec(
                select(WhoisProfile).where(WhoisProfile.number == "+16135550100")
            )
        )
    assert claims == [("Claimant", "pending"), ("Holder", "active")]
    report = list(
        csv.reader(io.StringIO(downloads["whois-import-report.csv"]().decode("utf-8-sig")))
    )
    assert [row[:3] for row in report] == [
        ["row", "number", "outcome"],
        ["2", "'+1 416-967-1111", "added"],
        ["3", "'+1 212-555-0123", "refused"],
        ["4", "'+1 613-555-0100", "disputed"],
    ]

    # Done closes the dialog; the table behind it lists what was imported.
    app = app.button(key=f"{KEY}.done").click().run()
    assert not app.exception, app.exception
    assert not app.file_uploader
    [table] = [frame.value for frame in app.dataframe if "caller_name" in frame.value.columns]
    assert sorted(table["number"].tolist()) == ["+1 416-967-1111", "+1 613-555-0100"]


def test_another_file_starts_from_an_empty_uploader(portal: Portal) -> None:
    app = open_dialog(portal, make_member(portal))
    app = upload(app, b"number,caller_name,line_type\n+14169671111,Acme,fixed\n")
    assert metrics(app)["Added"] == "1"
    app = app.button(key=f"{KEY}.again").click().run()
    assert not app.exception, app.exception
    [uploader] = app.file_uploader
    assert uploader.value is None
    assert "Added" not in metrics(app)
    assert app.button(key=f"{KEY}.run").disabled


def test_a_file_refused_whole_is_said_in_the_dialog_and_nothing_is_saved(portal: Portal) -> None:
    app = open_dialog(portal, make_member(portal))
    app = upload(app, "number,caller_name,line_type\n4169671111,Café,fixed\n".encode("latin-1"))
    assert not app.exception, app.exception
    assert [str(error.value) for error in app.error] == [
        "The file is not UTF-8 text: save it from your spreadsheet as CSV UTF-8 "
        "(Excel: File › Save As › CSV UTF-8) and import it again."
    ]
    assert app.file_uploader  # still there, to choose another file
    assert profiles(portal) == {}


def test_the_table_keeps_to_its_columns_while_the_export_carries_the_whole_profile(
    portal: Portal, downloads: Downloads
) -> None:
    owner = make_member(portal)
    with db.write_session(portal.engine) as session:
        whois.register(
            session,
            actor_of(owner),
            ProfileForm(
                number="+14169671111",
                caller_name="Acme",
                line_type="fixed",
                city="Toronto",
                social_links="https://a.example.com\nhttps://b.example.com",
            ),
        )
    app = portal.open(PAGE, as_user=owner)
    assert not app.exception, app.exception
    [table] = [frame.value for frame in app.dataframe if "caller_name" in frame.value.columns]
    assert list(table.columns) == [
        "number",
        "caller_name",
        "business_name",
        "line_type",
        "private",
        "verified",
        "completeness",
        "score",
        "status",
        "created_at",
    ]
    [exported] = [name for name in downloads if name.startswith("registered-numbers-")]
    rows = list(csv.DictReader(io.StringIO(downloads[exported]().decode("utf-8-sig"))))
    assert [(row["Number"], row["City"], row["Social links"]) for row in rows] == [
        ("'+1 416-967-1111", "Toronto", "https://a.example.com https://b.example.com")
    ]


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.DEVELOPER], ids=str)
def test_roles_that_write_profiles_are_offered_the_import(portal: Portal, role: Role) -> None:
    app = open_dialog(portal, make_member(portal, role))
    assert not app.exception, app.exception
    assert app.file_uploader


def test_a_viewer_is_not_offered_the_import(portal: Portal) -> None:
    owner = make_member(portal)
    with db.write_session(portal.engine) as session:
        viewer = make_user(session, role=Role.VIEWER, organization=organization_of(session, owner))
    app = portal.open(PAGE, as_user=viewer)
    assert not app.exception, app.exception
    assert "Whois Profiles" in [str(title.value) for title in app.title]
    assert "partner.whois_profiles.import_button" not in {button.key for button in app.button}
    # Asked all the same (a stale session), the dialog is not drawn for a viewer.
    app.session_state[KEY] = True
    app = app.run()
    assert not app.file_uploader
