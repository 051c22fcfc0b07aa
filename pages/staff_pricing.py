"""Staff › Plans, taxes & settings: the plans' prices, allowances and default credit limits,
Canada's sales tax rates, and the platform settings (card fee, billing time zone, SIPSTACK's
details on invoices), each edited through its service, which validates and audits it."""

import streamlit as st

from portal_core.money import format_cents, format_unit_price
from portal_core.queries import staff_billing as billing_queries
from portal_core.services import platform, staff_billing
from portal_core.services.staff_billing import PlanForm, percent_text
from portal_core.ui import forms, resources, shell

viewer = shell.open_page("staff.pricing")

DONE = "staff.pricing.done"  # the last edit's outcome, shown once
SETTING_LABELS = {
    platform.CARD_FEE: "Card convenience fee",
    platform.BILLING_TIME_ZONE: "Billing time zone",
    platform.SELLER_LEGAL_NAME: "Seller's legal name",
    platform.SELLER_ADDRESS: "Seller's address",
    platform.SELLER_GST_HST_NUMBER: "GST/HST registration number",
    platform.SELLER_QST_NUMBER: "QST registration number",
}


def dollars(cents: int | None) -> str:
    return "" if cents is None else format_cents(cents).removeprefix("$")


def unit_dollars(micros: int | None) -> str:
    return "" if micros is None else format_unit_price(micros).removeprefix("$")


def setting_label(key: str) -> str:
    return SETTING_LABELS.get(key, key.replace("_", " ").capitalize())


def saved(message: str) -> None:
    """After an edit: drop cached reference data (plans, tax rates, settings are the only
    data pages may cache, DESIGN.md rule 9), say what changed, and redraw from the database."""
    st.cache_data.clear()
    st.session_state[DONE] = message
    st.rerun()


with resources.reading() as session:
    plans = billing_queries.plans(session, viewer.actor)
    rates = billing_queries.tax_rates(session, viewer.actor)
    settings = billing_queries.platform_settings(session, viewer.actor, keys=platform.KEYS)
    time_zone = platform.billing_time_zone(session)

st.title("Plans, taxes & settings")
done = st.session_state.pop(DONE, None)
if done:
    st.success(done, icon=":material/check_circle:")

plans_tab, taxes_tab, settings_tab = st.tabs(["Plans", "Tax rates", "Platform settings"])

with plans_tab:
    st.caption(
        "Prices in USD, taxes excluded. A new price per additional request applies to "
        "requests from now on; new subscription prices to the next invoices. A new default "
        "credit limit applies at once to the plan's organizations without a limit of their "
        "own (those are set on Billing accounts)."
    )
    st.dataframe(
        [
            {
                "Plan": plan.name,
                "Monthly": "by contract"
                if plan.by_contract
                else format_cents(plan.monthly_cents or 0),
                "Yearly, per month": "by contract"
                if plan.by_contract
                else format_cents(plan.yearly_monthly_cents or 0),
                "Included requests": f"{plan.included_requests:,}",
                "Additional request": "by contract"
                if plan.by_contract
                else (
                    format_unit_price(plan.additional_request_micros)
                    if plan.additional_request_micros is not None
                    else "none (capped)"
                ),
                "Credit limit": "by contract"
                if plan.by_contract
                else format_cents(plan.credit_limit_cents or 0),
                "Organizations": plan.organizations,
            }
            for plan in plans
        ],
        hide_index=True,
        width="stretch",
    )
    by_code = {plan.code: plan for plan in plans}
    code = st.selectbox(
        "Edit the plan",
        list(by_code),
        format_func=lambda value: by_code[value].name,
        key="staff.pricing.plan",
    )
    plan = by_code[code]
    with st.form(f"staff.pricing.plan.{plan.code}"):
        if plan.by_contract:
            st.caption(
                f"{plan.name}'s prices, credit limit and lookups per second are each "
                "organization's contract (Billing accounts); here only its default allowance."
            )
        monthly_column, yearly_column = st.columns(2)
        monthly = monthly_column.text_input(
            "Monthly price (USD)",
            value=dollars(plan.monthly_cents),
            disabled=plan.by_contract,
            key=f"staff.pricing.plan.{plan.code}.monthly",
        )
        yearly = yearly_column.text_input(
            "Yearly price, per month (USD)",
            value=dollars(plan.yearly_monthly_cents),
            disabled=plan.by_contract,
            key=f"staff.pricing.plan.{plan.code}.yearly",
        )
        plan_errors = forms.FieldErrors()
        plan_errors.slot("monthly_price")
        plan_errors.slot("yearly_monthly_price")
        included_column, price_column = st.columns(2)
        included = included_column.text_input(
            "Included requests a month",
            value=f"{plan.included_requests:,}",
            key=f"staff.pricing.plan.{plan.code}.included",
        )
        price = price_column.text_input(
            "Price per additional request (USD)",
            value=unit_dollars(plan.additional_request_micros),
            disabled=plan.by_contract,
            key=f"staff.pricing.plan.{plan.code}.price",
            help="Up to six decimals; leave it empty for a capped plan (requests stop at the "
            "allowance, as on Free).",
        )
        plan_errors.slot("included_requests")
        plan_errors.slot("additional_request_price")
        limit = st.text_input(
            "Default credit limit (USD)",
            value=dollars(plan.credit_limit_cents),
            disabled=plan.by_contract,
            key=f"staff.pricing.plan.{plan.code}.credit_limit",
            help=f"A change applies at once to the {plan.following_plan_limit:,} of its "
            f"{plan.organizations:,} organizations that have no credit limit of their own.",
        )
        plan_errors.slot("credit_limit")
        plan_errors.general()
        if st.form_submit_button(
            f"Save {plan.name}", type="primary", key=f"staff.pricing.plan.{plan.code}.save"
        ):
            form = PlanForm(
                monthly_price=monthly,
                yearly_monthly_price=yearly,
                included_requests=included,
                additional_request_price=price,
                credit_limit=limit,
            )
            changed: list[staff_billing.PlanUpdate] = []

            def save_plan() -> None:
                with resources.writing() as session:
                    changed.append(
                        staff_billing.update_plan(session, viewer.actor, plan.code, form)
                    )

            if forms.attempt(plan_errors, save_plan):
                [update] = changed
                if not update.changes:
                    st.info(f"{plan.name} is unchanged.", icon=":material/info:")
                else:
                    following = (
                        f" The new credit limit applies to {update.organizations_following:,} "
                        "organizations."
                        if any(change.startswith("credit limit") for change in update.changes)
                        else ""
                    )
                    saved(f"{plan.name} saved: {'; '.join(update.changes)}.{following}")

with taxes_tab:
    st.caption(
        "Sales taxes of Canadian companies, by province, applied to the subtotal of each "
        "invoice from the next run; companies elsewhere pay none."
    )
    st.dataframe(
        [
            {
                "Province": rate.province,
                "Tax": rate.tax,
                "Rate": percent_text(rate.rate_millipercent),
                "Updated": rate.updated_at.astimezone(time_zone).strftime("%Y-%m-%d %H:%M"),
            }
            for rate in rates
        ],
        hide_index=True,
        width="stretch",
    )
    by_id = {str(rate.id): rate for rate in rates}
    chosen = st.selectbox(
        "Edit the tax",
        list(by_id),
        format_func=lambda value: (
            f"{by_id[value].province} · {by_id[value].tax} "
            f"({percent_text(by_id[value].rate_millipercent)})"
        ),
        key="staff.pricing.tax",
    )
    rate = by_id[chosen]
    with st.form(f"staff.pricing.tax.{rate.id}"):
        new_rate = st.text_input(
            f"{rate.province} {rate.tax} rate (%)",
            value=percent_text(rate.rate_millipercent).removesuffix(" %"),
            key=f"staff.pricing.tax.{rate.id}.rate",
            help="From 0 to 100, at most three decimals (9.975).",
        )
        tax_errors = forms.FieldErrors()
        tax_errors.slot("rate")
        tax_errors.general()
        if st.form_submit_button(
            "Save rate", type="primary", key=f"staff.pricing.tax.{rate.id}.save"
        ):

            def save_rate() -> None:
                with resources.writing() as session:
                    staff_billing.update_tax_rate(session, viewer.actor, rate.id, rate=new_rate)

            if forms.attempt(tax_errors, save_rate):
                saved(
                    f"{rate.province} {rate.tax} is now "
                    f"{percent_text(staff_billing.tax_rate_millipercent(new_rate))}."
                )

with settings_tab:
    st.caption(
        "Settings every organization's billing reads: the card convenience fee, the time "
        "zone whose months are invoiced, and SIPSTACK's details printed on invoices."
    )
    st.dataframe(
        [
            {
                "Setting": setting_label(setting.key),
                "Value": setting.value if setting.stored else "(the shipped default)",
                "Updated": setting.updated_at.astimezone(time_zone).strftime("%Y-%m-%d %H:%M")
                if setting.updated_at
                else "",
                "By": setting.updated_by or "",
            }
            for setting in settings
        ],
        hide_index=True,
        width="stretch",
    )
    by_key = {setting.key: setting for setting in settings}
    key = st.selectbox(
        "Edit the setting",
        list(by_key),
        format_func=setting_label,
        key="staff.pricing.setting",
    )
    setting = by_key[key]
    with st.form(f"staff.pricing.setting.{key}"):
        if setting.description:
            st.caption(setting.description)
        value = st.text_input(
            setting_label(key),
            value=setting.value,
            max_chars=500,
            key=f"staff.pricing.setting.{key}.value",
        )
        setting_errors = forms.FieldErrors()
        setting_errors.slot(key)
        setting_errors.general()
        if st.form_submit_button(
            "Save setting", type="primary", key=f"staff.pricing.setting.{key}.save"
        ):

            def save_setting() -> None:
                with resources.writing() as session:
                    platform.update_setting(session, viewer.actor, key, value)

            if forms.attempt(setting_errors, save_setting):
                saved(f"{setting_label(key)} saved.")
