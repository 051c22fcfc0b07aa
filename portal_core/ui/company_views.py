"""Organization › Company drawn: what the details decide, the details (a form for owners and
admins, read-only for the others) and the history of changes
(docs/product.md, Pages › Company). ``company_form`` is also the activation wizard's company
step, so the two never drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo

import pandas as pd
import streamlit as st

from portal_core.queries.company import Company, CompanyChange
from portal_core.rules.company import COMPANY_FIELDS
from portal_core.services import company
from portal_core.services.company import CompanyDetails
from portal_core.services.sessions import SessionView
from portal_core.ui import forms, resources, state
from portal_core.ui.text import markdown_escape

FORM = "organization.company.form"
COUNTRY = "organization.company.country"

TAX_NOTE = (
    "Your country and province decide the sales tax on your invoices. Each month's invoice is "
    "taxed by the details saved at the end of that month: a change you save now applies to "
    "this month's invoice, issued on the 1st, and to every invoice after it. Invoices already "
    "issued keep the details they were issued to."
)
WHO_MAY_EDIT = "Only the owners and admins of your organization can change these details."
NOTHING_CHANGED = "Nothing changed: your company details are as they were."


def company_form(
    details: Mapping[str, str | None],
    *,
    form_key: str,
    country_key: str,
    submit_label: str,
    default_legal_name: str = "",
) -> tuple[CompanyDetails, forms.FieldErrors] | None:
    """The legal details' form, filled with ``details``; what was submitted, with the slots
    for the service's messages (None until it is submitted)."""
    countries = company.countries()
    codes = [code for code, _ in countries]
    names = dict(countries)
    saved_country = details.get("country") or "CA"
    # Outside the form, so that choosing a country redraws the form with its provinces.
    country = st.selectbox(
        "Country",
        codes,
        index=codes.index(saved_country) if saved_country in names else codes.index("CA"),
        format_func=lambda code: names[code],
        key=country_key,
    )
    provinces = company.provinces(country)
    with st.form(form_key):
        errors = forms.FieldErrors()
        errors.slot("country")
        legal_name = st.text_input(
            "Legal name", value=details.get("legal_name") or default_legal_name, max_chars=200
        )
        errors.slot("legal_name")
        province = ""
        if provinces:
            province_codes = [code for code, _ in provinces]
            province_names = dict(provinces)
            saved_province = details.get("province")
            province = (
                st.selectbox(
                    "Province or state",
                    province_codes,
                    index=province_codes.index(saved_province)
                    if saved_province in province_names
                    else None,
                    placeholder="Choose one",
                    format_func=lambda code: province_names[code],
                )
                or ""
            )
            errors.slot("province")
        address = st.text_input(
            "Street address",
            value=details.get("address_line") or "",
            max_chars=200,
            autocomplete="street-address",
        )
        errors.slot("address_line")
        city_column, postal_column = st.columns(2)
        with city_column:
            city = st.text_input(
                "City",
                value=details.get("city") or "",
                max_chars=100,
                autocomplete="address-level2",
            )
            errors.slot("city")
        with postal_column:
            postal = st.text_input(
                "Postal code",
                value=details.get("postal_code") or "",
                max_chars=20,
                autocomplete="postal-code",
            )
            errors.slot("postal_code")
        tax_id = st.text_input(
            "Tax id (optional)",
            value=details.get("tax_id") or "",
            max_chars=40,
            help="Your GST/HST, VAT or EIN number.",
        )
        errors.slot("tax_id")
        errors.general()
        submitted = st.form_submit_button(submit_label, type="primary")
    if not submitted:
        return None
    submitted_details = CompanyDetails(
        legal_name=legal_name,
        country=country,
        province=province,
        address_line=address,
        city=city,
        postal_code=postal,
        tax_id=tax_id,
    )
    return submitted_details, errors


def notes(details: Company) -> None:
    """What the details decide, and what is missing from them."""
    st.info(TAX_NOTE, icon=":material/receipt_long:")
    if details.missing:
        missing = ", ".join(COMPANY_FIELDS[name].lower() for name in details.missing)
        st.warning(
            f"Your company details are incomplete ({missing} missing). Complete details raise "
            "your carrier score.",
            icon=":material/warning:",
        )


def edit_form(viewer: SessionView, details: Company) -> None:
    """The form, and what saving it did: the fields it changed, or that nothing changed."""
    submitted = company_form(
        details.details, form_key=FORM, country_key=COUNTRY, submit_label="Save changes"
    )
    if submitted is None:
        return
    typed, errors = submitted
    saved: list[company.Change] = []

    def save() -> None:
        with resources.writing() as session:
            saved.extend(company.save_company(session, viewer.actor, typed))

    if not forms.attempt(errors, save):
        return
    if not saved:
        st.info(NOTHING_CHANGED, icon=":material/info:")
        return
    changed = ", ".join(COMPANY_FIELDS[change.field].lower() for change in saved)
    state.flash(f"Saved: {changed}.")
    st.rerun()


def read_only(details: Company) -> None:
    """The details as saved, for the roles that may not change them."""
    countries = dict(company.countries())
    country = details.details.get("country") or ""
    provinces = dict(company.provinces(country))
    shown = {
        **details.details,
        "country": countries.get(country, country),
        "province": provinces.get(details.details.get("province") or "", "")
        or details.details.get("province"),
    }
    with st.container(border=True):
        for name, label in COMPANY_FIELDS.items():
            value = shown.get(name) or "—"
            st.markdown(f"**{label}**: {markdown_escape(value)}")
    st.caption(WHO_MAY_EDIT)


def history(changes: list[CompanyChange], *, time_zone: tzinfo) -> None:
    """The latest changes to the details, newest first, from the audit log."""
    st.subheader("History of changes")
    if not changes:
        st.caption("No change to your company details yet.")
        return
    st.dataframe(
        pd.DataFrame(
            {
                "When": [f"{change.at.astimezone(time_zone):%Y-%m-%d %H:%M}" for change in changes],
                "By": [change.by for change in changes],
                "Changes": [change.what for change in changes],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    st.caption("The latest changes, newest first; the audit log keeps every one.")
