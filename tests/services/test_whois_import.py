"""Whois Profiles imported from CSV: good rows added, a number the organization has updated,
bad and duplicate rows refused with their reason while the others go on, the template and the
table's own export imported back, a failure midway leaving nothing written, files that
cannot be read refused whole, roles that may not write refused, and the carrier score
refreshed once yet ending where row-by-row saves would."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import col, select

from portal_core import db
from portal_core.errors import PermissionDenied
from portal_core.models.accounts import Organization, Role
from portal_core.models.audit import AuditEvent
from portal_core.models.products import (
    EventAction,
    OwnershipDispute,
    ProductEvent,
    WhoisProfile,
)
from portal_core.queries import whois as whois_queries
from portal_core.queries.listing import ListQuery, export_csv
from portal_core.services import whois, whois_import
from portal_core.services.whois import ProfileForm
from portal_core.services.whois_import import FileRefused, ImportReport, Outcome
from tests.services.products_support import COMPLETE, Member, member, register
from tests.services.support import count, fetch

NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)
HEADER = ("number", "caller_name", "line_type")


def csv_bytes(rows: Sequence[Sequence[object]], *, delimiter: str = ",") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue().encode("utf-8")


def run_import(engine: Any, who: Member, data: bytes, **options: Any) -> ImportReport:
    return whois_import.import_profiles(engine, who.actor, data, now=NOW, **options)


def stored(engine: Any, who: Member) -> dict[str, WhoisProfile]:
    with db.read_session(engine) as session:
        return {
            profile.number: profile
            for profile in session.exec(
                select(WhoisProfile).where(col(WhoisProfile.organization_id) == who.organization_id)
            )
        }


def outcomes(report: ImportReport) -> list[tuple[int, str, str]]:
    return [(row.row_number, row.number, row.outcome.value) for row in report.rows]


def import_events(engine: Any) -> list[ProductEvent]:
    with db.read_session(engine) as session:
        return list(
            session.exec(select(ProductEvent).where(col(ProductEvent.action) == EventAction.IMPORT))
        )


def test_good_rows_are_added_and_bad_rows_refused_with_their_reason(engine) -> None:
    owner = member(engine)
    data = csv_bytes(
        [
            HEADER + ("private", "social_links", "call_purpose"),
            ("(416) 967-1111", "Acme Support", "Fixed line", "yes", "", "Customer service"),
            ("911", "", "carrier pigeon", "", "", ""),
            (
                "+1 212 555 0123",
                "Acme NY",
                "TOLL-FREE",
                "0",
                "https://a.example.com | b.example.com  https://c.example.com",
                "sales",
            ),
            ("+1 613 555 0100", "Acme Ottawa", "voip", "maybe", "", ""),
        ]
    )
    report = run_import(engine, owner, data)

    assert outcomes(report) == [
        (2, "+14169671111", "added"),
        (3, "911", "refused"),
        (4, "+12125550123", "added"),
        (5, "+16135550100", "refused"),
    ]
    assert (report.added, report.updated, report.disputed, report.refused) == (2, 0, 0, 2)
    refused = {row.row_number: row.message for row in report.refused_rows}
    assert refused[3].startswith("General › Phone number:")
    assert "General › Caller name: required." in refused[3]
    assert "General › Line type: choose one of Mobile, Fixed line" in refused[3]
    assert refused[5] == "General › Private caller: write yes or no, not “maybe”."
    profiles = stored(engine, owner)
    assert set(profiles) == {"+14169671111", "+12125550123"}
    toronto, new_york = profiles["+14169671111"], profiles["+12125550123"]
    assert (toronto.line_type, toronto.private, toronto.call_purpose) == (
        "fixed",
        True,
        "customer_service",
    )
    assert (new_york.line_type, new_york.private, new_york.call_purpose) == (
        "toll_free",
        False,
        "sales",
    )
    assert new_york.social_links == (
        "https://a.example.com\nhttps://b.example.com\nhttps://c.example.com"
    )
    assert toronto.score_millis is not None


def test_a_number_the_organization_has_is_updated_and_absent_columns_keep_their_values(
    engine,
) -> None:
    owner = member(engine)
    before = register(engine, owner, "+14169671111", now=NOW, caller_name="Old Name", **COMPLETE)
    data = csv_bytes([HEADER + ("city",), ("416 967 1111", "New Name", "mobile", "")])
    report = run_import(engine, owner, data)

    assert outcomes(report) == [(2, "+14169671111", "updated")]
    after = fetch(engine, WhoisProfile, before.id)
    assert (after.caller_name, after.line_type) == ("New Name", "mobile")
    assert after.city is None  # an empty cell empties the field
    # Columns the file does not have keep what the profile said.
    assert (after.business_name, after.website, after.monthly_call_volume) == (
        "Acme Widgets Ltd.",
        "https://acme.example.com",
        12000,
    )
    assert count(engine, WhoisProfile) == 1


def test_a_number_twice_in_the_file_is_taken_from_its_first_row(engine) -> None:
    owner = member(engine)
    data = csv_bytes(
        [
            HEADER,
            ("+14169671111", "First", "fixed"),
            ("+1 212 555 0123", "Other", "fixed"),
            ("(416) 967-1111", "Second", "mobile"),
            ("4169671111", "Third", "mobile"),
            # A refused row claims its number all the same: correcting it is the fix.
            ("+1 613 555 0100", "", "fixed"),
            ("613-555-0100", "Later", "fixed"),
        ]
    )
    report = run_import(engine, owner, data)

    assert outcomes(report) == [
        (2, "+14169671111", "added"),
        (3, "+12125550123", "added"),
        (4, "+14169671111", "refused"),
        (5, "+14169671111", "refused"),
        (6, "+16135550100", "refused"),
        (7, "+16135550100", "refused"),
    ]
    assert [row.message for row in report.refused_rows] == [
        "Duplicate of row 2.",
        "Duplicate of row 2.",
        "General › Caller name: required.",
        "Duplicate of row 6.",
    ]
    assert stored(engine, owner)["+14169671111"].caller_name == "First"
    assert "+16135550100" not in stored(engine, owner)


def test_the_template_imports_cleanly(engine) -> None:
    owner = member(engine)
    template = whois_import.template_csv()
    assert template.decode("utf-8-sig").splitlines()[0] == ",".join(whois_import.TEMPLATE_COLUMNS)
    report = run_import(engine, owner, template)

    assert outcomes(report) == [(2, "+14169671111", "added")]
    assert report.ignored_columns == ()
    profile = stored(engine, owner)["+14169671111"]
    assert profile.completeness_permille == 1000
    assert profile.social_links == (
        "https://social.example.com/acme\nhttps://video.example.com/acme"
    )


def test_a_number_another_organization_holds_is_reported_disputed(engine) -> None:
    holder = member(engine)
    register(engine, holder, "+14169671111", caller_name="Holder")
    owner = member(engine)
    data = csv_bytes(
        [HEADER, ("+14169671111", "Claimant", "fixed"), ("+12125550123", "Acme", "fixed")]
    )
    report = run_import(engine, owner, data)

    assert outcomes(report) == [
        (2, "+14169671111", "disputed"),
        (3, "+12125550123", "added"),
    ]
    assert report.disputed == 1
    assert stored(engine, owner)["+14169671111"].status == "pending"
    assert stored(engine, holder)["+14169671111"].caller_name == "Holder"
    with db.read_session(engine) as session:
        [dispute] = session.exec(select(OwnershipDispute)).all()
    assert (dispute.number, dispute.status, dispute.claimant_organization_id) == (
        "+14169671111",
        "open",
        owner.organization_id,
    )


def test_the_tables_export_edited_imports_back_whole(engine) -> None:
    owner = member(engine)
    register(
        engine,
        owner,
        "+14169671111",
        now=NOW,
        caller_name="=HYPERLINK()",
        private=True,
        **{**COMPLETE, "description": "-first line\nsecond line"},
    )
    register(engine, owner, "+12125550123", now=NOW, caller_name="Acme NY")
    register(engine, owner, "+18005550100", now=NOW, caller_name="Acme Free", **COMPLETE)
    with db.read_session(engine) as session:
        exported = export_csv(session, whois_queries.profiles_listing(owner.actor), ListQuery())
    before = {number: ProfileForm.of(profile) for number, profile in stored(engine, owner).items()}
    # What a partner does in a spreadsheet: change a few cells, leave the rest.
    rows = list(csv.reader(io.StringIO(exported.decode("utf-8-sig"))))
    header = rows[0]
    assert {"Number", "Caller name", "Line type", "Private", "Score", "Status"} <= set(header)
    edited = [dict(zip(header, row, strict=True)) for row in rows[1:]]
    for row in edited:
        if row["Number"] == "'+1 212-555-0123":
            row["City"] = "New York"
            row["Line type"] = "Mobile"
            row["Private"] = "Yes"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, quoting=csv.QUOTE_ALL)
    writer.writeheader()
    writer.writerows(edited)
    report = run_import(engine, owner, ("\ufeff" + buffer.getvalue()).encode("utf-8"))

    assert (report.added, report.updated, report.disputed, report.refused) == (0, 3, 0, 0)
    assert set(report.ignored_columns) == {
        "Verified",
        "Complete %",
        "Score",
        "Status",
        "Registered",
    }
    after = {number: ProfileForm.of(profile) for number, profile in stored(engine, owner).items()}
    changed = {
        **before["+12125550123"].__dict__,
        "city": "New York",
        "line_type": "mobile",
        "private": True,
    }
    assert after == {
        "+14169671111": before["+14169671111"],
        "+12125550123": ProfileForm(**changed),
        "+18005550100": before["+18005550100"],
    }
    assert after["+14169671111"].caller_name == "=HYPERLINK()"
    assert after["+14169671111"].description == "-first line\nsecond line"


def test_a_failure_midway_leaves_nothing_written(engine, monkeypatch) -> None:
    owner = member(engine)
    for number in ("+14169671111", "+12125550123", "+18005550100"):
        register(engine, owner, number, now=NOW, caller_name="Before")
    carrier_before = fetch(engine, Organization, owner.organization_id).carrier_score_millis
    events_before = count(engine, ProductEvent)
    audit_before = count(engine, AuditEvent)
    saved = whois.save_update
    calls: list[str] = []

    def failing_on_the_third(*args: Any, **kwargs: Any) -> WhoisProfile:
        calls.append(args[2].number)
        if len(calls) == 3:
            raise RuntimeError("the database went away")
        return saved(*args, **kwargs)

    monkeypatch.setattr(whois, "save_update", failing_on_the_third)
    data = csv_bytes(
        [
            HEADER + ("website",),
            ("+16135550100", "New One", "fixed", "https://new.example.com"),
            ("+14169671111", "After", "mobile", "https://after.example.com"),
            ("+12125550123", "After", "mobile", "https://after.example.com"),
            ("+18005550100", "After", "mobile", "https://after.example.com"),
        ]
    )
    with pytest.raises(RuntimeError, match="went away"):
        run_import(engine, owner, data)

    assert len(calls) == 3
    profiles = stored(engine, owner)
    assert set(profiles) == {"+14169671111", "+12125550123", "+18005550100"}
    assert {(p.caller_name, p.line_type, p.website) for p in profiles.values()} == {
        ("Before", "fixed", None)
    }
    assert fetch(engine, Organization, owner.organization_id).carrier_score_millis == (
        carrier_before
    )
    assert count(engine, ProductEvent) == events_before
    assert count(engine, AuditEvent) == audit_before
    assert import_events(engine) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("number,caller_name,line_type\n4169671111,Café Québec,fixed\n".encode("latin-1"), "UTF-8"),
        ("number,caller_name,line_type\n4169671111,Acme,fixed\n".encode("utf-16"), "UTF-8"),
        (b"", "The file is empty"),
        (b" \n,,\n", "The file is empty"),
        (b"phone,name\n4169671111,Acme\n", "no number column"),
        (b"number,caller_name,line_type\n", "no profiles below its header"),
        (b"number,Phone number,line_type\n1,2,3\n", "Two columns are Phone number"),
        (b'number,caller_name\n"4169671111,Acme\n', "starts on line 2: unexpected end of data"),
        (b'number,caller_name\n"416"9671111,Acme\n', "not CSV that can be read"),
    ],
    ids=[
        "latin-1",
        "utf-16",
        "empty",
        "blank",
        "no-number",
        "header-only",
        "number-twice",
        "unterminated",
        "stray-quote",
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(engine, data: bytes, message: str) -> None:
    owner = member(engine)
    with pytest.raises(FileRefused) as refused:
        run_import(engine, owner, data)
    assert message in refused.value.message
    assert count(engine, WhoisProfile) == 0
    assert import_events(engine) == []


def test_utf8_with_or_without_a_byte_order_mark_and_semicolons_are_read(engine) -> None:
    owner = member(engine)
    rows = [("Number", "Caller name", "Line type", "City")]
    with_bom = "\ufeff" + "\n".join(",".join(row) for row in rows) + "\n4169671111,A,fixed,Québec\n"
    run_import(engine, owner, with_bom.encode("utf-8"))
    semicolons = csv_bytes(
        [("number", "caller_name", "line_type", "city"), ("2125550123", "B", "fixed", "Montréal")],
        delimiter=";",
    )
    run_import(engine, owner, semicolons)

    profiles = stored(engine, owner)
    assert profiles["+14169671111"].city == "Québec"
    assert profiles["+12125550123"].city == "Montréal"


def test_files_over_the_limits_are_refused_before_anything_is_written(engine) -> None:
    owner = member(engine)
    too_many = [HEADER] + [
        (f"+1416967{index:04d}", "Acme", "fixed") for index in range(whois_import.MAX_ROWS + 1)
    ]
    with pytest.raises(FileRefused) as refused:
        run_import(engine, owner, csv_bytes(too_many))
    assert "more than 10,000 profiles" in refused.value.message
    too_large = csv_bytes([HEADER, ("+14169671111", "Acme", "fixed")]) + b" " * (
        whois_import.MAX_BYTES
    )
    with pytest.raises(FileRefused) as refused:
        run_import(engine, owner, too_large)
    assert "import at most 5 MB" in refused.value.message
    assert count(engine, WhoisProfile) == 0
    assert import_events(engine) == []


@pytest.mark.parametrize("role", [Role.VIEWER, Role.BILLING], ids=str)
def test_roles_that_may_not_write_profiles_are_refused(engine, role: Role) -> None:
    owner = member(engine)
    reader = member(engine, role=role, organization_id=owner.organization_id)
    with pytest.raises(PermissionDenied):
        run_import(engine, reader, whois_import.template_csv())
    assert count(engine, WhoisProfile) == 0
    assert import_events(engine) == []


def test_an_import_is_logged_once_beside_each_profiles_own_event(engine) -> None:
    owner = member(engine)
    register(engine, owner, "+14169671111", now=NOW)
    data = csv_bytes(
        [
            HEADER + ("Score",),
            ("+14169671111", "Updated", "fixed", "4.000"),
            ("+12125550123", "Added", "fixed", ""),
            ("hello", "Refused", "fixed", ""),
        ]
    )
    report = run_import(engine, owner, data)

    assert report.ignored_columns == ("Score",)
    [event] = import_events(engine)
    assert (event.organization_id, event.user_id, event.product, event.status) == (
        owner.organization_id,
        owner.actor.user_id,
        "whois",
        "ok",
    )
    assert event.result == "Import of 3 rows: 1 added, 1 updated, 0 disputed, 1 refused"
    with db.read_session(engine) as session:
        actions = sorted(
            str(action)
            for action in session.exec(
                select(ProductEvent.action).where(col(ProductEvent.action) != EventAction.IMPORT)
            )
        )
        [audited] = session.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "whois.imported")
        ).all()
    assert actions == ["edit", "registration", "registration"]
    assert audited.detail == "3 rows: 1 added, 1 updated, 0 disputed, 1 refused"


def test_an_import_of_refused_rows_only_is_logged_as_refused(engine) -> None:
    owner = member(engine)
    report = run_import(engine, owner, csv_bytes([HEADER, ("hello", "", "")]))
    assert report.refused == 1
    [event] = import_events(engine)
    assert event.status == "refused"
    assert count(engine, WhoisProfile) == 0


def test_progress_is_told_every_hundred_rows_and_at_the_end(engine) -> None:
    owner = member(engine)
    rows = [HEADER] + [(f"+1416967{index:04d}", "Acme", "fixed") for index in range(250)]
    told: list[tuple[int, int]] = []
    report = run_import(engine, owner, csv_bytes(rows), progress=lambda *at: told.append(at))
    assert told == [(100, 250), (200, 250), (250, 250)]
    assert report.added == 250


def test_the_scores_end_where_saving_row_by_row_would_leave_them(engine) -> None:
    # The import refreshes the carrier score once, after its last row; the form, after each
    # save. Two organizations register alike profiles (under their own numbers) both ways.
    rows = [
        ("Complete", "fixed", "Toronto", "https://a.example.com"),
        ("Bare", "mobile", "", ""),
        ("Half", "toll_free", "Ottawa", ""),
    ]
    one_by_one = member(engine)
    for (name, line_type, city, website), number in zip(
        rows, ("+14169671111", "+14169672222", "+14169673333"), strict=True
    ):
        with db.write_session(engine) as session:
            whois.register(
                session,
                one_by_one.actor,
                ProfileForm(
                    number=number, caller_name=name, line_type=line_type, city=city, website=website
                ),
                now=NOW,
            )
    imported = member(engine)
    numbers = ("+12125551111", "+12125552222", "+12125553333")
    run_import(
        engine,
        imported,
        csv_bytes(
            [HEADER + ("city", "website")]
            + [(number, *row) for number, row in zip(numbers, rows, strict=True)]
        ),
    )

    def scores(who: Member) -> list[tuple[str, int | None]]:
        return sorted((p.caller_name, p.score_millis) for p in stored(engine, who).values())

    carrier = fetch(engine, Organization, imported.organization_id).carrier_score_millis
    assert carrier is not None
    assert carrier == fetch(engine, Organization, one_by_one.organization_id).carrier_score_millis
    assert scores(imported) == scores(one_by_one)


def test_the_report_csv_neutralises_formulas(engine) -> None:
    owner = member(engine)
    report = run_import(
        engine, owner, csv_bytes([HEADER, ("+14169671111", "Acme", "fixed"), ("=1+2", "", "")])
    )
    lines = list(csv.reader(io.StringIO(report.report_csv().decode("utf-8-sig"))))
    assert lines[0] == ["row", "number", "outcome", "message"]
    assert lines[1] == ["2", "'+1 416-967-1111", "added", "Registered."]
    assert lines[2][:3] == ["3", "'=1+2", "refused"]
    assert report.rows[1].outcome is Outcome.REFUSED
