"""The one registry of pages: id, script, title, section, who may open it.

The left pane is drawn from it, every page's shell checks it, and a test walks it against
the files in ``pages/``. It imports no streamlit, so tests and tools can read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath

from portal_core.permissions import Capability


class Section(StrEnum):
    """The sections of the left pane, in order (docs/product.md, The shell)."""

    TOP = ""
    PARTNER = "Partner"
    ANALYTICS = "Analytics"
    ORGANIZATION = "Organization"
    ACCESS = "Organization › Access"
    BILLING = "Billing"
    STAFF = "Staff"


class Audience(StrEnum):
    """Which stage of the account life cycle a page is for (docs/product.md, Account life cycle)."""

    PUBLIC = "public"  # anyone, signed in or not: Get Started, verify e-mail, reset, Terms
    ACTIVATION = "activation"  # a verified owner whose organization is not active yet
    MEMBER = "member"  # an active account whose role has the page's capability


@dataclass(frozen=True)
class PageSpec:
    id: str
    script: str
    title: str
    icon: str
    section: Section
    audience: Audience
    capability: Capability | None = None
    in_pane: bool = True

    @property
    def url_path(self) -> str:
        """The path Streamlit serves the page at: "" for Home.py, the file's stem otherwise."""
        return "" if self.script == "Home.py" else PurePosixPath(self.script).stem


PAGES: tuple[PageSpec, ...] = (
    PageSpec(
        id="dashboard",
        script="Home.py",
        title="Dashboard",
        icon=":material/dashboard:",
        section=Section.TOP,
        audience=Audience.MEMBER,
        capability=None,
    ),
    PageSpec(
        id="analytics.logs",
        script="pages/logs.py",
        title="Logs",
        icon=":material/list_alt:",
        section=Section.ANALYTICS,
        audience=Audience.MEMBER,
        capability=Capability.USE_PORTAL,
    ),
    PageSpec(
        id="partner.smart_cnam",
        script="pages/smart_cnam.py",
        title="Smart CNAM",
        icon=":material/person_search:",
        section=Section.PARTNER,
        audience=Audience.MEMBER,
        capability=Capability.LOOKUP,
    ),
    PageSpec(
        id="partner.whois_profiles",
        script="pages/whois_profiles.py",
        title="Whois Profiles",
        icon=":material/contact_phone:",
        section=Section.PARTNER,
        audience=Audience.MEMBER,
        capability=Capability.WHOIS_READ,
    ),
    PageSpec(
        id="organization.company",
        script="pages/company.py",
        title="Company",
        icon=":material/business:",
        section=Section.ORGANIZATION,
        audience=Audience.MEMBER,
        capability=Capability.COMPANY_READ,
    ),
    PageSpec(
        id="organization.brand",
        script="pages/brand.py",
        title="Brand",
        icon=":material/verified:",
        section=Section.ORGANIZATION,
        audience=Audience.MEMBER,
        capability=Capability.COMPANY_READ,
    ),
    PageSpec(
        id="access.users",
        script="pages/access_users.py",
        title="Users",
        icon=":material/group:",
        section=Section.ACCESS,
        audience=Audience.MEMBER,
        capability=Capability.USERS_INVITE,
    ),
    PageSpec(
        id="access.api_tokens",
        script="pages/access_api_tokens.py",
        title="API Tokens",
        icon=":material/key:",
        section=Section.ACCESS,
        audience=Audience.MEMBER,
        capability=Capability.API_TOKENS,
    ),
    PageSpec(
        id="access.my_profile",
        script="pages/my_profile.py",
        title="My Profile",
        icon=":material/person:",
        section=Section.ACCESS,
        audience=Audience.MEMBER,
        capability=Capability.MY_PROFILE,
    ),
    PageSpec(
        id="billing.overview",
        script="pages/billing_overview.py",
        title="Overview",
        icon=":material/account_balance_wallet:",
        section=Section.BILLING,
        audience=Audience.MEMBER,
        capability=Capability.BILLING_READ,
    ),
    PageSpec(
        id="billing.invoices",
        script="pages/billing_invoices.py",
        title="Invoices",
        icon=":material/description:",
        section=Section.BILLING,
        audience=Audience.MEMBER,
        capability=Capability.BILLING_READ,
    ),
    PageSpec(
        id="billing.payments",
        script="pages/billing_payments.py",
        title="Payments",
        icon=":material/payments:",
        section=Section.BILLING,
        audience=Audience.MEMBER,
        capability=Capability.BILLING_READ,
    ),
    PageSpec(
        id="billing.transactions",
        script="pages/billing_transactions.py",
        title="Transactions",
        icon=":material/receipt_long:",
        section=Section.BILLING,
        audience=Audience.MEMBER,
        capability=Capability.BILLING_READ,
    ),
    PageSpec(
        id="billing.payment_methods",
        script="pages/billing_payment_methods.py",
        title="Payment Methods",
        icon=":material/credit_card:",
        section=Section.BILLING,
        audience=Audience.MEMBER,
        capability=Capability.BILLING_READ,
    ),
    PageSpec(
        id="billing.pricing",
        script="pages/billing_pricing.py",
        title="Pricing",
        icon=":material/sell:",
        section=Section.BILLING,
        audience=Audience.MEMBER,
        capability=Capability.BILLING_READ,
    ),
    PageSpec(
        id="staff.organizations",
        script="pages/staff_organizations.py",
        title="Organizations",
        icon=":material/corporate_fare:",
        section=Section.STAFF,
        audience=Audience.MEMBER,
        capability=Capability.STAFF,
    ),
    PageSpec(
        id="staff.audit_log",
        script="pages/staff_audit_log.py",
        title="Audit log",
        icon=":material/policy:",
        section=Section.STAFF,
        audience=Audience.MEMBER,
        capability=Capability.STAFF,
    ),
    PageSpec(
        id="staff.billing_accounts",
        script="pages/staff_billing_accounts.py",
        title="Billing accounts",
        icon=":material/account_balance:",
        section=Section.STAFF,
        audience=Audience.MEMBER,
        capability=Capability.STAFF,
    ),
    PageSpec(
        id="staff.invoicing",
        script="pages/staff_invoicing.py",
        title="Invoice runs",
        icon=":material/receipt:",
        section=Section.STAFF,
        audience=Audience.MEMBER,
        capability=Capability.STAFF,
    ),
    PageSpec(
        id="staff.disputes",
        script="pages/staff_disputes.py",
        title="Disputes",
        icon=":material/gavel:",
        section=Section.STAFF,
        audience=Audience.MEMBER,
        capability=Capability.STAFF,
    ),
    PageSpec(
        id="staff.reports",
        script="pages/staff_reports.py",
        title="Reports",
        icon=":material/flag:",
        section=Section.STAFF,
        audience=Audience.MEMBER,
        capability=Capability.STAFF,
    ),
    PageSpec(
        id="staff.pricing",
        script="pages/staff_pricing.py",
        title="Plans, taxes & settings",
        icon=":material/tune:",
        section=Section.STAFF,
        audience=Audience.MEMBER,
        capability=Capability.STAFF,
    ),
    PageSpec(
        id="notices",
        script="pages/notices.py",
        title="Notices",
        icon=":material/notifications:",
        section=Section.TOP,
        audience=Audience.MEMBER,
        capability=None,  # every partner role its organization's, staff the staff notices
        in_pane=False,
    ),
    PageSpec(
        id="account.activate",
        script="pages/activate.py",
        title="Activate your account",
        icon=":material/rocket_launch:",
        section=Section.TOP,
        audience=Audience.ACTIVATION,
        in_pane=False,
    ),
    PageSpec(
        id="public.get_started",
        script="pages/get_started.py",
        title="Get Started",
        icon=":material/person_add:",
        section=Section.TOP,
        audience=Audience.PUBLIC,
        in_pane=False,
    ),
    PageSpec(
        id="public.verify_email",
        script="pages/verify_email.py",
        title="Verify your e-mail",
        icon=":material/mark_email_read:",
        section=Section.TOP,
        audience=Audience.PUBLIC,
        in_pane=False,
    ),
    PageSpec(
        id="public.reset_password",
        script="pages/reset_password.py",
        title="Reset your password",
        icon=":material/lock_reset:",
        section=Section.TOP,
        audience=Audience.PUBLIC,
        in_pane=False,
    ),
    PageSpec(
        id="public.terms",
        script="pages/terms.py",
        title="Terms of Service",
        icon=":material/gavel:",
        section=Section.TOP,
        audience=Audience.PUBLIC,
        in_pane=False,
    ),
    PageSpec(
        id="public.join",
        script="pages/join.py",
        title="Join your organization",
        icon=":material/group_add:",
        section=Section.TOP,
        audience=Audience.PUBLIC,
        in_pane=False,
    ),
)

HOME = "dashboard"  # Home.py, at "/": where everyone lands after logging in

BY_ID: dict[str, PageSpec] = {page.id: page for page in PAGES}


def page(page_id: str) -> PageSpec:
    try:
        return BY_ID[page_id]
    except KeyError:
        raise KeyError(f"no page {page_id!r} in portal_core.ui.registry.PAGES") from None
