"""A partner's own text is drawn exactly as typed on every page, never as markup.

Names, e-mail addresses, legal names, addresses and card labels are seeded with markdown,
a spreadsheet formula, HTML, Streamlit's colour directive and LaTeX; then every page of the
registry is drawn as a role that may open it (staff pages as staff), with its detail views
opened. Every string of every element the run drew is read the way Streamlit reads it:

* plain fields (``st.text``, a selectbox's options, a text box's value, a table's cells) are
  shown as they are, so they must hold the text as typed, never an escaped copy;
* every other field is markdown (bodies, captions, titles, alerts, toasts, and the labels of
  buttons, popovers, tabs, radios, metrics, page links), so every markup character of the
  partner's text there must be backslash-escaped or inside a code span; an e-mail address
  must be inside a code span (a bare one becomes a link);
* raw HTML (``st.html``) and charts must hold none of it.

Each page must also show the seeded text it is about: a check that finds nothing to check
would pass on a crash.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf.message import Message
from sqlalchemy import update
from sqlmodel import col, select
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Dataframe

from portal_core import db
from portal_core.errors import PaymentDeclined
from portal_core.mail import outbox_messages
from portal_core.models.accounts import BrandDomain, Organization, Role, User
from portal_core.models.billing import SINCE_ALWAYS, BillingAccount, BillingCycle, Invoice
from portal_core.models.notices import Notice, NoticeKind
from portal_core.models.payments import PaymentMethod
from portal_core.models.products import EventAction, EventProduct, OwnershipDispute, ReportKind
from portal_core.payments.gateway import card_label
from portal_core.services import (
    accounts,
    api_tokens,
    company,
    in_force,
    invoices,
    members,
    product_events,
    reports,
    whois,
)
from portal_core.services.payments import top_ups
from portal_core.services.whois import ProfileForm
from portal_core.settings import get_settings
from portal_core.ui.registry import PAGES
from portal_core.ui.text import WORD_JOINER
from tests.factories import (
    actor_of,
    log_in,
    make_auto_recharge,
    make_card,
    make_organization,
    make_staff,
    make_starter_organization,
    make_user,
    record_usage,
)
from tests.pages.conftest import Portal
from tests.support.markdown import PUNCTUATION, read_markdown

USER_NAME = "Sam *bold* _x_ [link](http://x) <b>x</b> :red[x] $x$ Okafor"
EMAIL = "*bold*_x_@hostile.test"
ORGANIZATION_NAME = '=HYPERLINK("http://x","y") <b>Org</b> :red[x] $x$'
LEGAL_NAME = "Legal *bold* _x_ [link](http://x) <b>x</b> :red[x] $x$ Ltd"
BRAND_NAME = "Brand *b* :red[x] $x$"
ADDRESS = "1 *Main* [St](http://x) <b>x</b>"
CITY = "_Ottawa_ :red[x] $x$"
CARD_BRAND = "*b* _x_ :red[x] $x$"  # the gateway's brand, as a card label shows it
CARD_LABEL = card_label(CARD_BRAND, "4242")
RAW_CARD_LABEL = f"{CARD_BRAND} •••• 4242"  # the cards table names an unknown brand as stored
NEW_OWNER_NAME = "New *owner* _x_ :red[x] $x$"
NEW_LEGAL_NAME = "New legal *bold* <b>x</b> :red[x] $x$ Inc"
SIGN_UP_EMAIL = "*new*_x_@hostile.test"
STAFF_NAME = "Stella *staff* :red[x]"
TOKEN_NAME = "PBX *bold* _x_ [link](http://x) :red[x] $x$"

# Fragments of the seeded text that markdown would act on: wherever one of them is read as
# markdown, each of its markup characters must be escaped.
MARKERS = (
    "*bold*",
    "_x_",
    "[link](http://x)",
    "<b>",
    ":red[x]",
    "$x$",
    '=HYPERLINK("http://x","y")',
    "*Main*",
    "[St](http://x)",
    "_Ottawa_",
    "*b*",
    "*B*",
    "_X_",
    ":Red[X]",
    "$X$",
    "*owner*",
    "*new*",
    "*staff*",
)
EMAILS = (EMAIL, SIGN_UP_EMAIL)

# Fields Streamlit shows as they are. Everything not named here or ignored is markdown.
PLAIN_FIELDS = {
    ("Text", "body"),
    ("Code", "code_text"),
    ("Selectbox", "options"),
    ("Selectbox", "raw_value"),
    ("Selectbox", "placeholder"),
    ("MultiSelect", "options"),
    ("TextInput", "default"),
    ("TextInput", "value"),
    ("TextInput", "placeholder"),
    ("TextArea", "default"),
    ("TextArea", "value"),
    ("TextArea", "placeholder"),
    ("ButtonGroup", "raw_values"),
}
# Fields that are not text at all (ids, icons, paths, formats, configuration).
IGNORED_FIELDS = {
    "id",
    "form_id",
    "icon",
    "type",
    "page",
    "page_script_hash",
    "autocomplete",
    "format",
    "min",
    "max",
    "deferred_file_id",
    "tag",
    "theme",
    "config",
    "alt",
    "url",
    "columns",
}
# Raw HTML and charts (which read HTML tags in their text): a partner's text has no place there.
FORBIDDEN_FIELDS = {("Html", "body"), ("PlotlyChart", "spec")}


# --- Reading what a run drew -------------------------------------------------------------


@dataclass(frozen=True)
class Drawn:
    """Every string a run drew, by how Streamlit reads it."""

    markdown: list[str]
    plain: list[str]
    forbidden: list[str]


def drawn(app: AppTest) -> Drawn:
    found = Drawn(markdown=[], plain=[], forbidden=[])
    _collect(app._tree, found)
    return found


def _collect(node: Any, found: Drawn) -> None:
    if isinstance(node, Dataframe):
        frame = node.value
        found.plain.extend(str(cell) for cell in frame.to_numpy().ravel().tolist())
        found.plain.extend(str(column) for column in frame.columns)
    proto = getattr(node, "proto", None)
    if isinstance(proto, Message):
        _strings(proto, type(proto).__name__, found)
    for child in getattr(node, "children", {}).values():
        _collect(child, found)


def _strings(message: Message, owner: str, found: Drawn) -> None:
    for field, value in message.ListFields():
        values = list(value) if getattr(field, "is_repeated", False) else [value]
        for item in values:
            if isinstance(item, Message):
                # A nested message (a block's popover, a button group's option) is read as
                # itself, except plain containers that only group fields of their owner.
                _strings(item, type(item).__name__, found)
            elif isinstance(item, str) and field.name not in IGNORED_FIELDS:
                if (owner, field.name) in PLAIN_FIELDS:
                    found.plain.append(item)
                elif (owner, field.name) in FORBIDDEN_FIELDS:
                    found.forbidden.append(item)
                else:
                    found.markdown.append(item)


def _occurrences(text: str, fragment: str) -> Iterator[int]:
    start = text.find(fragment)
    while start != -1:
        yield start
        start = text.find(fragment, start + 1)


def interpreted(run: Drawn) -> list[str]:
    """What of the partner's text a run handed to Streamlit as markup (empty: nothing)."""
    problems = []
    for source in run.markdown:
        read = read_markdown(source)
        for marker in MARKERS:
            for start in _occurrences(read.text, marker):
                span = range(start, start + len(marker))
                if not all(read.protected[i] for i in span if read.text[i] in PUNCTUATION):
                    problems.append(f"{marker!r} read as markdown in {source!r}")
        for email in EMAILS:
            for start in _occurrences(read.text, email):
                if not all(read.in_code[start : start + len(email)]):
                    problems.append(f"e-mail {email!r} outside a code span in {source!r}")
            local, domain = email.split("@")
            if f"{local}{WORD_JOINER}@{domain}" in read.text:
                problems.append(f"e-mail {email!r} escaped as a name in {source!r}")
    for shown in run.plain:
        unescaped = read_markdown(shown).text
        problems.extend(
            f"{marker!r} shown escaped in a plain field: {shown!r}"
            for marker in MARKERS
            if marker in unescaped and marker not in shown
        )
    problems.extend(
        f"{marker!r} in raw HTML or a chart: {body[:200]!r}"
        for body in run.forbidden
        for marker in MARKERS
        if marker in body
    )
    return problems


def shows(run: Drawn, typed: str) -> bool:
    """Whether ``typed`` is drawn exactly: as is in a plain field, or in markdown with each of
    its markup characters escaped (or in a code span)."""
    if any(typed in shown for shown in run.plain):
        return True
    for source in run.markdown:
        read = read_markdown(source)
        for start in _occurrences(read.text, typed):
            span = range(start, start + len(typed))
            if all(read.protected[i] for i in span if read.text[i] in PUNCTUATION):
                return True
    return False


# --- The seeded portal -------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    owner: User
    organization_id: uuid.UUID
    invoice_id: uuid.UUID
    payment_id: uuid.UUID
    notice_id: uuid.UUID
    new_owner: User
    staff: User
    event_id: uuid.UUID
    profile_id: uuid.UUID
    dispute_id: uuid.UUID
    report_id: uuid.UUID
    token_id: uuid.UUID
    token_event_id: uuid.UUID


def _hostile_card(session: Any, organization: Organization, test_card: str) -> PaymentMethod:
    card = make_card(session, organization, test_card=test_card)
    card.brand = CARD_BRAND
    card.last4 = "4242"
    session.add(card)
    session.flush()
    return card


@pytest.fixture
def seeded(portal: Portal) -> Seeded:
    with db.write_session(portal.engine) as session:
        organization = make_starter_organization(session)
        organization.name = ORGANIZATION_NAME
        organization.legal_name = LEGAL_NAME
        organization.brand_name = BRAND_NAME
        organization.address_line = ADDRESS
        organization.city = CITY
        organization.postal_code = "K1A 0B1"
        session.add(organization)
        # Its invoices print the details it had since always.
        in_force.record_billing_details(session, organization, at=SINCE_ALWAYS)
        owner = make_user(session, organization=organization, name=USER_NAME, email=EMAIL)
        card = _hostile_card(session, organization, "pm_card_visa")
        declining = _hostile_card(session, organization, "pm_card_chargeDeclined")
        make_auto_recharge(session, organization)
        record_usage(session, organization.id, "2026-02", 1_000)
        staff = make_staff(session, name=STAFF_NAME)
        session.flush()
        inactive = make_organization(session, active=False)
        new_owner = make_user(session, organization=inactive, name=NEW_OWNER_NAME)
    with db.write_session(portal.engine) as session:
        payment = top_ups.add_funds(
            session,
            actor_of(owner),
            payment_method_id=card.id,
            amount_cents=5_000,
            idempotency_key="hostile-top-up",
        )
    with pytest.raises(PaymentDeclined), db.write_session(portal.engine) as session:
        top_ups.add_funds(
            session,
            actor_of(owner),
            payment_method_id=declining.id,
            amount_cents=5_000,
            idempotency_key="hostile-declined",
        )
    invoices.run_invoices(portal.engine, period="2026-02", now=datetime(2026, 3, 1, 12, tzinfo=UTC))
    with db.read_session(portal.engine) as session:
        invoice = session.exec(
            select(Invoice).where(Invoice.organization_id == organization.id)
        ).one()
        notice = session.exec(
            select(Notice).where(
                Notice.organization_id == organization.id,
                Notice.kind == NoticeKind.PAYMENT_FAILED,
            )
        ).one()
    log_in(portal.engine, owner)  # the audit log's sign-in names the e-mail
    _ready_to_activate(portal, new_owner)
    with db.write_connection(portal.engine) as connection:
        event_id = product_events.record(
            connection,
            product_events.Event(
                organization_id=organization.id,
                product=EventProduct.WHOIS,
                action=EventAction.REGISTRATION,
                user_id=owner.id,
                number="+16135550199",
                result=f"Registered as {BRAND_NAME}",
            ),
        )
    profile_id, dispute_id, report_id = _products(portal, owner)
    with db.write_session(portal.engine) as session:
        token = api_tokens.create(
            session, actor_of(owner), name=TOKEN_NAME, scopes=("lookups",)
        ).token
        token_id = token.id
    with db.write_connection(portal.engine) as connection:
        token_event_id = product_events.record(
            connection,
            product_events.Event(
                organization_id=organization.id,
                product=EventProduct.REPORTS,
                action=EventAction.REPORT,
                user_id=owner.id,
                api_token_id=token_id,
                number="+16135550198",
                result="Reported as spam",
            ),
        )
    return Seeded(
        owner,
        organization.id,
        invoice.id,
        payment.id,
        notice.id,
        new_owner,
        staff,
        event_id,
        profile_id,
        dispute_id,
        report_id,
        token_id,
        token_event_id,
    )


CALLER_NAME = "*b* :red[x] $x$"  # 15 characters, as CNAM allows
DNS_FOUND = 'The TXT record holds "*b* _x_ [link](http://x) <b>x</b> :red[x] $x$"'

REPORT_COMMENT = "Calls *at night* [x](http://x) :red[x]"


def _products(portal: Portal, owner: User) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A profile of the hostile organization's, its claim on another's number (a dispute),
    and its community report with a hostile comment."""
    with db.write_session(portal.engine) as session:
        other = make_user(session, organization=make_organization(session))
    actor = actor_of(owner)
    with db.write_session(portal.engine) as session:
        whois.register(
            session,
            actor_of(other),
            ProfileForm(number="+12125550123", caller_name="Other", line_type="fixed"),
        )
    with db.write_session(portal.engine) as session:
        profile = whois.register(
            session,
            actor,
            ProfileForm(
                number="+14169671111",
                caller_name=CALLER_NAME,
                business_name=LEGAL_NAME,
                line_type="fixed",
                address_line=ADDRESS,
                city=CITY,
                description=USER_NAME,
            ),
        )
        claim = whois.register(
            session,
            actor,
            ProfileForm(number="+12125550123", caller_name=CALLER_NAME, line_type="fixed"),
        )
        report = reports.report(
            session, actor, number="+15145550123", kind=ReportKind.SPAM, comment=REPORT_COMMENT
        )
        dispute = session.exec(
            select(OwnershipDispute).where(col(OwnershipDispute.claimant_profile_id) == claim.id)
        ).one()
        return profile.id, dispute.id, report.id


def _ready_to_activate(portal: Portal, owner: User) -> None:
    """The new owner's organization, every wizard step done: the last step is next."""
    with db.write_session(portal.engine) as session:
        actor = actor_of(owner)
        company.save_company(
            session,
            actor,
            company.CompanyDetails(
                legal_name=NEW_LEGAL_NAME,
                country="CA",
                province="ON",
                address_line=ADDRESS,
                city=CITY,
                postal_code="K1A 0B1",
                tax_id="",
            ),
        )
        organization = session.get(Organization, owner.organization_id)
        assert organization is not None
        session.add(
            BrandDomain(
                organization_id=organization.id,
                domain=f"{uuid.uuid4().hex[:8]}.example.com",
                created_at=datetime.now(UTC),
            )
        )
        accounts.choose_plan(session, actor, plan_code="free", cycle=BillingCycle.MONTHLY)
        _hostile_card(session, organization, "pm_card_visa")
    with db.read_session(portal.engine) as session:
        assert accounts.wizard_step(session, actor_of(owner)) is accounts.WizardStep.CONFIRM


# --- Every page ----------------------------------------------------------------------------


Open = Callable[[Portal, Seeded], AppTest]


def _as_owner(script: str, **query: str) -> Open:
    def open_it(portal: Portal, seeded: Seeded) -> AppTest:
        params = {name: getattr(seeded, value) for name, value in query.items()}
        return portal.open(script, as_user=seeded.owner, query_params=params)

    return open_it


def _as_staff(script: str, **query: str) -> Open:
    def open_it(portal: Portal, seeded: Seeded) -> AppTest:
        params = {name: getattr(seeded, value) for name, value in query.items()}
        return portal.open(script, as_user=seeded.staff, query_params=params)

    return open_it


def _balance_check(portal: Portal, seeded: Seeded) -> AppTest:
    """Staff › Invoice runs, after a balance check that finds the organization's cached
    balance wrong (its name is listed with the difference)."""
    with db.write_session(portal.engine) as session:
        session.execute(
            update(BillingAccount)
            .where(col(BillingAccount.organization_id) == seeded.organization_id)
            .values(balance_micros=BillingAccount.balance_micros + 1_000_000)
        )
    app = portal.open("pages/staff_invoicing.py", as_user=seeded.staff)
    [check] = [button for button in app.button if button.label == "Run the balance check"]
    check.click()
    return app.run()


def _deactivating(portal: Portal, seeded: Seeded) -> AppTest:
    """Staff › Organizations, the owner's Deactivate clicked: the confirmation names them."""
    app = portal.open(
        "pages/staff_organizations.py",
        as_user=seeded.staff,
        query_params={"organization": seeded.organization_id},
    )
    app.button(key=f"staff.user.{seeded.owner.id}.toggle").click()
    return app.run()


def _deactivated(portal: Portal, seeded: Seeded) -> AppTest:
    """…and confirmed with a reason: the outcome names them."""
    app = _deactivating(portal, seeded)
    app.text_area(key=f"staff.change.user.{seeded.owner.id}.deactivate.reason").input("Test")
    app.button(key="staff.change.confirm").click()
    app = app.run()
    assert [
        str(done.value).endswith("is deactivated; their sessions have ended.")
        for done in app.success
    ] == [True]
    return app


def _credit_posted(portal: Portal, seeded: Seeded) -> AppTest:
    """Staff › Billing accounts, a credit reviewed and confirmed: the outcome names the
    organization."""
    app = portal.open(
        "pages/staff_billing_accounts.py",
        as_user=seeded.staff,
        query_params={"organization": seeded.organization_id},
    )
    prefix = f"staff.billing.{seeded.organization_id}"
    app.text_input(key=f"{prefix}.post.amount").input("25")
    app.button(key=f"{prefix}.post.review").click()
    app = app.run()
    [reason] = [area for area in app.text_area if area.label == "Reason"]
    reason.input("Goodwill")
    app.button(key="staff.billing.pending.confirm").click()
    app = app.run()
    assert [str(done.value).startswith("Posted") for done in app.success] == [True]
    return app


def _looked_up(portal: Portal, seeded: Seeded) -> AppTest:
    """Smart CNAM, the organization's own hostile profile looked up: its caller name and
    business name are in the answer."""
    app = portal.open("pages/smart_cnam.py", as_user=seeded.owner)
    app.text_input(key="partner.smart_cnam.source").input("+14169671111")
    [look_up] = [b for b in app.button if b.form_id == "partner.smart_cnam.form"]
    look_up.click()
    return app.run()


def _as_viewer(script: str) -> Open:
    """``script`` opened by a viewer of the hostile organization: the read-only drawings."""

    def open_it(portal: Portal, seeded: Seeded) -> AppTest:
        with db.write_session(portal.engine) as session:
            organization = session.get_one(Organization, seeded.organization_id)
            viewer = make_user(session, organization=organization, role=Role.VIEWER)
        return portal.open(script, as_user=viewer)

    return open_it


def _brand_checked(portal: Portal, seeded: Seeded) -> AppTest:
    """Organization › Brand, after a check found a hostile value in the domain's TXT record
    (what DNS holds is anyone's text, quoted back to the partner)."""
    with db.write_session(portal.engine) as session:
        session.execute(
            update(BrandDomain)
            .where(col(BrandDomain.organization_id) == seeded.organization_id)
            .values(last_check=DNS_FOUND)
        )
    return portal.open("pages/brand.py", as_user=seeded.owner)


def _activation(portal: Portal, seeded: Seeded) -> AppTest:
    return portal.open("pages/activate.py", as_user=seeded.new_owner)


def _signed_up(portal: Portal, seeded: Seeded) -> AppTest:
    """Get Started, signed out: the form sent, and the confirmation that names the e-mail."""
    app = portal.open("pages/get_started.py")
    fields = {field.label: field for field in app.text_input}
    fields["Your name"].input(NEW_OWNER_NAME)
    fields["Work e-mail"].input(SIGN_UP_EMAIL)
    fields["Company"].input(ORGANIZATION_NAME)
    fields["Password"].input("Quartz-Meadow-Violin-42")
    app.checkbox[0].check()
    [create] = [button for button in app.button if button.label == "Create account"]
    create.click()
    return app.run()


def _users_member(portal: Portal, seeded: Seeded) -> AppTest:
    """Users, the owner's own row opened, and an invitation pending to a hostile address."""
    with db.write_session(portal.engine) as session:
        members.invite(session, actor_of(seeded.owner), SIGN_UP_EMAIL, Role.ADMIN)
    return portal.open(
        "pages/access_users.py", as_user=seeded.owner, query_params={"member": seeded.owner.id}
    )


def _users_deactivating(portal: Portal, seeded: Seeded) -> AppTest:
    """Users, a hostile colleague's Deactivate clicked: the confirmation names them."""
    with db.write_session(portal.engine) as session:
        organization = session.get(Organization, seeded.organization_id)
        colleague = make_user(session, organization=organization, name=NEW_OWNER_NAME)
    app = portal.open(
        "pages/access_users.py", as_user=seeded.owner, query_params={"member": colleague.id}
    )
    app.button(key=f"users.member.{colleague.id}.deactivate").click()
    return app.run()


def _joining(portal: Portal, seeded: Seeded) -> AppTest:
    """Join, signed out, from an invitation to the hostile organization."""
    with db.write_session(portal.engine) as session:
        members.invite(session, actor_of(seeded.owner), SIGN_UP_EMAIL, Role.VIEWER)
    bodies = [
        str(part.get_content())
        for message in outbox_messages(get_settings().outbox_dir)
        if (part := message.get_body(preferencelist=("plain",))) is not None
    ]
    [token] = [body.split("/join?token=")[1].split()[0] for body in bodies if "/join?" in body]
    return portal.open("pages/join.py", query_params={"token": token})


CHROME = (USER_NAME, EMAIL, ORGANIZATION_NAME)  # the top bar of a signed-in partner
NEW_TOKEN_NAME = "CRM *new* _x_ :red[x] $x$"


def _token_created(portal: Portal, seeded: Seeded) -> AppTest:
    """API Tokens, a token created with a hostile name: its secret is shown, the name too."""
    app = portal.open("pages/access_api_tokens.py", as_user=seeded.owner)
    app = app.button(key="access.api_tokens.add").click().run()
    app.text_input(key="access.api_tokens.name").input(NEW_TOKEN_NAME)
    app.multiselect(key="access.api_tokens.scopes").select("lookups")
    [create] = [b for b in app.button if b.form_id == "access.api_tokens.create"]
    create.click()
    app = app.run()
    assert len(app.warning) == 1 and "only time the secret is shown" in app.warning[0].value
    return app


@dataclass(frozen=True)
class PageRun:
    page_id: str
    name: str
    open: Open
    shows: tuple[str, ...]


RUNS = (
    PageRun("dashboard", "dashboard", _as_owner("Home.py"), CHROME),
    PageRun("access.my_profile", "my-profile", _as_owner("pages/my_profile.py"), CHROME),
    PageRun(
        "analytics.logs", "logs", _as_owner("pages/logs.py"), (*CHROME, BRAND_NAME, TOKEN_NAME)
    ),
    PageRun(
        "analytics.logs",
        "logs-token-event",
        _as_owner("pages/logs.py", event="token_event_id"),
        (*CHROME, TOKEN_NAME),
    ),
    PageRun(
        "access.api_tokens",
        "api-tokens",
        _as_owner("pages/access_api_tokens.py"),
        (*CHROME, TOKEN_NAME, USER_NAME),
    ),
    PageRun(
        "access.api_tokens",
        "api-token",
        _as_owner("pages/access_api_tokens.py", token="token_id"),
        (*CHROME, TOKEN_NAME, USER_NAME),
    ),
    PageRun("access.api_tokens", "api-token-created", _token_created, (*CHROME, NEW_TOKEN_NAME)),
    PageRun(
        "analytics.logs",
        "logs-event",
        _as_owner("pages/logs.py", event="event_id"),
        (*CHROME, BRAND_NAME),
    ),
    PageRun("partner.smart_cnam", "smart-cnam", _as_owner("pages/smart_cnam.py"), CHROME),
    PageRun(
        "partner.smart_cnam", "smart-cnam-result", _looked_up, (*CHROME, CALLER_NAME, LEGAL_NAME)
    ),
    PageRun(
        "partner.whois_profiles",
        "whois-profile",
        _as_owner("pages/whois_profiles.py", profile="profile_id"),
        (*CHROME, CALLER_NAME, LEGAL_NAME, ADDRESS, CITY, USER_NAME),
    ),
    PageRun(
        "billing.overview",
        "overview",
        _as_owner("pages/billing_overview.py"),
        (*CHROME, LEGAL_NAME, CARD_LABEL),
    ),
    PageRun(
        "billing.overview",
        "overview-payment",
        _as_owner("pages/billing_overview.py", payment="payment_id"),
        (*CHROME, CARD_LABEL),
    ),
    PageRun("billing.invoices", "invoices", _as_owner("pages/billing_invoices.py"), CHROME),
    PageRun(
        "billing.invoices",
        "invoice",
        _as_owner("pages/billing_invoices.py", invoice="invoice_id"),
        (*CHROME, LEGAL_NAME, ADDRESS, CITY),
    ),
    PageRun(
        "billing.payments",
        "payments",
        _as_owner("pages/billing_payments.py"),
        (*CHROME, CARD_LABEL),
    ),
    PageRun(
        "billing.payments",
        "payment",
        _as_owner("pages/billing_payments.py", payment="payment_id"),
        (*CHROME, CARD_LABEL),
    ),
    PageRun(
        "billing.transactions",
        "transactions",
        _as_owner("pages/billing_transactions.py"),
        (*CHROME, CARD_LABEL),
    ),
    PageRun(
        "billing.payment_methods",
        "payment-methods",
        _as_owner("pages/billing_payment_methods.py"),
        (*CHROME, RAW_CARD_LABEL),
    ),
    PageRun("billing.pricing", "pricing", _as_owner("pages/billing_pricing.py"), CHROME),
    PageRun(
        "notices",
        "notice",
        _as_owner("pages/notices.py", notice="notice_id"),
        (*CHROME, CARD_LABEL),
    ),
    PageRun(
        "staff.organizations",
        "staff-organization",
        _as_staff("pages/staff_organizations.py", organization="organization_id"),
        (STAFF_NAME, ORGANIZATION_NAME, LEGAL_NAME, BRAND_NAME, USER_NAME, EMAIL, ADDRESS, CITY),
    ),
    PageRun(
        "staff.organizations",
        "staff-deactivating",
        _deactivating,
        (STAFF_NAME, USER_NAME, EMAIL),
    ),
    PageRun(
        "staff.organizations", "staff-deactivated", _deactivated, (STAFF_NAME, USER_NAME, EMAIL)
    ),
    PageRun(
        "staff.audit_log",
        "staff-audit-log",
        _as_staff("pages/staff_audit_log.py"),
        (STAFF_NAME, EMAIL),
    ),
    PageRun(
        "staff.billing_accounts",
        "staff-billing-account",
        _as_staff("pages/staff_billing_accounts.py", organization="organization_id"),
        (STAFF_NAME, ORGANIZATION_NAME, CARD_LABEL),
    ),
    PageRun(
        "staff.billing_accounts",
        "staff-credit-posted",
        _credit_posted,
        (STAFF_NAME, ORGANIZATION_NAME),
    ),
    PageRun(
        "staff.invoicing", "staff-balance-check", _balance_check, (STAFF_NAME, ORGANIZATION_NAME)
    ),
    PageRun("staff.pricing", "staff-pricing", _as_staff("pages/staff_pricing.py"), (STAFF_NAME,)),
    PageRun(
        "staff.disputes",
        "staff-dispute",
        _as_staff("pages/staff_disputes.py", dispute="dispute_id"),
        (STAFF_NAME, ORGANIZATION_NAME),
    ),
    PageRun(
        "staff.reports",
        "staff-report",
        _as_staff("pages/staff_reports.py", report="report_id"),
        (STAFF_NAME, ORGANIZATION_NAME, REPORT_COMMENT),
    ),
    PageRun(
        "account.activate", "activation", _activation, (NEW_OWNER_NAME, NEW_LEGAL_NAME, CARD_LABEL)
    ),
    PageRun(
        "organization.company",
        "company",
        _as_owner("pages/company.py"),
        (*CHROME, LEGAL_NAME, ADDRESS, CITY),
    ),
    PageRun(
        "organization.company",
        "company-read-only",
        _as_viewer("pages/company.py"),
        (ORGANIZATION_NAME, LEGAL_NAME, ADDRESS, CITY),
    ),
    PageRun("organization.brand", "brand", _brand_checked, (*CHROME, BRAND_NAME, DNS_FOUND)),
    PageRun(
        "organization.brand",
        "brand-read-only",
        _as_viewer("pages/brand.py"),
        (ORGANIZATION_NAME, BRAND_NAME),
    ),
    PageRun("public.get_started", "get-started", _as_owner("pages/get_started.py"), (*CHROME,)),
    PageRun("public.get_started", "signed-up", _signed_up, (SIGN_UP_EMAIL,)),
    PageRun("public.verify_email", "verify-email", _as_owner("pages/verify_email.py"), CHROME),
    PageRun(
        "public.reset_password", "reset-password", _as_owner("pages/reset_password.py"), CHROME
    ),
    PageRun("public.terms", "terms", _as_owner("pages/terms.py"), CHROME),
    PageRun("access.users", "users", _users_member, (*CHROME, SIGN_UP_EMAIL)),
    PageRun("access.users", "users-deactivating", _users_deactivating, (*CHROME, NEW_OWNER_NAME)),
    PageRun("public.join", "join", _joining, (ORGANIZATION_NAME, SIGN_UP_EMAIL)),
)


def test_every_page_of_the_registry_is_drawn_here() -> None:
    assert {run.page_id for run in RUNS} == {spec.id for spec in PAGES}


@pytest.mark.parametrize("run", RUNS, ids=lambda run: run.name)
def test_the_partners_text_is_drawn_as_typed_never_as_markup(
    portal: Portal, seeded: Seeded, run: PageRun
) -> None:
    app = run.open(portal, seeded)

    assert not app.exception, app.exception
    what = drawn(app)
    assert interpreted(what) == []
    missing = [typed for typed in run.shows if not shows(what, typed)]
    assert missing == []
