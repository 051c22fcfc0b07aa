"""The activation wizard: company → brand → done; it resumes where it stopped.

The step is derived from what the organization has filled in (``accounts.wizard_step``),
so a reload, a new device or a return days later lands on the right step.
"""

import streamlit as st

from portal_core.services import accounts
from portal_core.ui import forms, resources, shell, state

viewer = shell.open_page("account.activate")

with resources.reading() as session:
    step = accounts.wizard_step(session, viewer.actor)
    organization = accounts.organization_of(session, viewer.actor)

st.title("Activate your account")
if step is accounts.WizardStep.DONE:
    st.success("Your account is active.", icon=":material/check_circle:")
    st.page_link("Home.py", label="Go to the Dashboard", icon=":material/arrow_forward:")
    st.stop()

steps = accounts.WIZARD_STEPS
position = steps.index(step)
st.progress((position + 1) / len(steps), text=f"Step {position + 1} of {len(steps)}")
labels = {"company": "Company", "brand": "Brand", "confirm": "Done"}
st.caption(" → ".join(f"**{labels[s]}**" if s is step else labels[s] for s in steps))

if step is accounts.WizardStep.COMPANY:
    st.subheader("Your company")
    st.write("Your country and province decide the taxes on your invoices.")
    countries = accounts.countries()
    codes = [code for code, _ in countries]
    names = dict(countries)
    country = st.selectbox(
        "Country",
        codes,
        index=codes.index(organization.country or "CA"),
        format_func=lambda code: names[code],
        key="activate.country",
    )
    provinces = accounts.provinces(country)
    with st.form("activate.company"):
        errors = forms.FieldErrors()
        errors.slot("country")
        legal_name = st.text_input(
            "Legal name", value=organization.legal_name or organization.name, max_chars=200
        )
        errors.slot("legal_name")
        province = ""
        if provinces:
            province_codes = [code for code, _ in provinces]
            province_names = dict(provinces)
            province = (
                st.selectbox(
                    "Province or state",
                    province_codes,
                    index=None,
                    placeholder="Choose one",
                    format_func=lambda code: province_names[code],
                )
                or ""
            )
            errors.slot("province")
        address = st.text_input("Street address", max_chars=200, autocomplete="street-address")
        errors.slot("address_line")
        city_column, postal_column = st.columns(2)
        with city_column:
            city = st.text_input("City", max_chars=100, autocomplete="address-level2")
            errors.slot("city")
        with postal_column:
            postal = st.text_input("Postal code", max_chars=20, autocomplete="postal-code")
            errors.slot("postal_code")
        tax_id = st.text_input(
            "Tax id (optional)", max_chars=40, help="Your GST/HST, VAT or EIN number."
        )
        errors.slot("tax_id")
        submitted = st.form_submit_button("Save and continue", type="primary")
    if submitted:
        details = accounts.CompanyDetails(
            legal_name=legal_name,
            country=country,
            province=province,
            address_line=address,
            city=city,
            postal_code=postal,
            tax_id=tax_id,
        )

        def save_company() -> None:
            with resources.writing() as session:
                accounts.save_company(session, viewer.actor, details)

        if forms.attempt(errors, save_company):
            st.rerun()

elif step is accounts.WizardStep.BRAND:
    st.subheader("Your brand")
    st.write("The domain your customers know you by. You can add more later.")
    with st.form("activate.brand"):
        errors = forms.FieldErrors()
        brand_name = st.text_input("Brand name", value=organization.name, max_chars=120)
        errors.slot("brand_name")
        domain = st.text_input("Domain", placeholder="example.com", max_chars=253)
        errors.slot("domain")
        submitted = st.form_submit_button("Save and continue", type="primary")
    if submitted:

        def save_brand() -> None:
            with resources.writing() as session:
                accounts.add_brand_domain(session, viewer.actor, domain, brand_name=brand_name)

        if forms.attempt(errors, save_brand):
            st.rerun()

else:
    st.subheader("All set")
    st.write(f"**{organization.legal_name}** is ready to activate.")
    if st.button("Activate my account", type="primary", icon=":material/rocket_launch:"):
        with resources.writing() as session:
            accounts.activate(session, viewer.actor)
        state.flash("Welcome to SIPSTACK: your account is active.")
        st.switch_page("Home.py")
