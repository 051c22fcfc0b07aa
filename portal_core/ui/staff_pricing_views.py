"""Staff › Plans, taxes & settings drawn: each tab's table, and the form that edits one row of
it (a plan's prices, allowance and default credit limit; a province's tax rate; a platform
setting) through its service, which validates and audits it.

After an edit the page redraws from the database, saying once what changed; cached reference
data is dropped first (plans, tax rates and settings are the only data pages may cache,
docs/architecture.md, rule 9).
"""

from __future__ import annotations

from datetime import tzinfo

import streamlit as st

from portal_core.money import (
    editable_dollars,
    editable_unit_price,
    format_cents,
    format_percent,
    format_unit_price,
)
from portal_core.queries.staff_billing import PlanRow, SettingRow, TaxRateRow
from portal_core.services import platform, staff_billing
from portal_core.services.sessions import SessionView
from portal_core.services.staff_billing import PlanForm
from portal_core.ui import forms, resources

DONE = "staff.pricing.done"  # the last edit's outcome, shown once
SETTING_LABELS = {
    platform.CARD_FEE: "Card convenience fee",
    platform.BILLING_TIME_ZONE: "Billing time zone",
    platform.SELLER_LEGAL_NAME: "Seller's legal name",
    platform.SELLER_ADDRESS: "Seller's address",
    platform.SELLER_GST_HST_NUMBER: "GST/HST registration number",
    platform.SELLER_QST_NUMBER: "QST registration number",
    platform.LOG_RETENTION_DAYS: "Log retention (days)",
}


def last_edit() -> None:
    """What the last edit changed, once."""
    done = st.session_state.pop(DONE, None)
    if done:
        st.success(done, icon=":material/check_circle:")


def _saved(message: str) -> None:
    st.cache_data.clear()
    st.session_state[DONE] = message
    st.rerun()


# --- Plans -------------------------------------------------------------------------------------


def plans(viewer: SessionView, rows: list[PlanRow]) -> None:
    st.caption(
        "Prices in USD, taxes excluded. A new price per additional request applies to "
        "requests from now on; new subscription prices to the next invoices. A new default "
        "credit limit applies at once to the plan's organizations without a limit of their "
        "own (those are set on Billing accounts)."
    )
    st.dataframe(
        [_plan_cells(plan) for plan in rows],
        hide_index=True,
        width="stretch",
    )
    by_code = {plan.code: plan for plan in rows}
    code = st.selectbox(
        "Edit the plan",
        list(by_code),
        format_func=lambda value: by_code[value].name,
        key="staff.pricing.plan",
    )
    _plan_form(viewer, by_code[code])


def _plan_cells(plan: PlanRow) -> dict[str, object]:
    by_contract = "by contract"
    return {
        "Plan": plan.name,
        "Monthly": by_contract if plan.by_contract else format_cents(plan.monthly_cents or 0),
        "Yearly, per month": by_contract
        if plan.by_contract
        else format_cents(plan.yearly_monthly_cents or 0),
        "Included requests": f"{plan.included_requests:,}",
        "Additional request": by_contract
        if plan.by_contract
        else (
            format_unit_price(plan.additional_request_micros)
            if plan.additional_request_micros is not None
            else "none (capped)"
        ),
        "Credit limit": by_contract
        if plan.by_contract
        else format_cents(plan.credit_limit_cents or 0),
        "Organizations": plan.organizations,
    }


def _plan_form(viewer: SessionView, plan: PlanRow) -> None:
    key = f"staff.pricing.plan.{plan.code}"
    with st.form(key):
        if plan.by_contract:
            st.caption(
                f"{plan.name}'s prices, credit limit and lookups per second are each "
                "organization's contract (Billing accounts); here only its default allowance."
            )
        monthly_column, yearly_column = st.columns(2)
        monthly = monthly_column.text_input(
            "Monthly price (USD)",
            value=editable_dollars(plan.monthly_cents),
            disabled=plan.by_contract,
            key=f"{key}.monthly",
        )
        yearly = yearly_column.text_input(
            "Yearly price, per month (USD)",
            value=editable_dollars(plan.yearly_monthly_cents),
            disabled=plan.by_contract,
            key=f"{key}.yearly",
        )
        errors = forms.FieldErrors()
        errors.slot("monthly_price")
        errors.slot("yearly_monthly_price")
        included_column, price_column = st.columns(2)
        included = included_column.text_input(
            "Included requests a month",
            value=f"{plan.included_requests:,}",
            key=f"{key}.included",
        )
        price = price_column.text_input(
            "Price per additional request (USD)",
            value=editable_unit_price(plan.additional_request_micros),
            disabled=plan.by_contract,
            key=f"{key}.price",
            help="Up to six decimals; leave it empty for a capped plan (requests stop at the "
            "allowance, as on Free).",
        )
        errors.slot("included_requests")
        errors.slot("additional_request_price")
        limit = st.text_input(
            "Default credit limit (USD)",
            value=editable_dollars(plan.credit_limit_cents),
            disabled=plan.by_contract,
            key=f"{key}.credit_limit",
            help=f"A change applies at once to the {plan.following_plan_limit:,} of its "
            f"{plan.organizations:,} organizations that have no credit limit of their own.",
        )
        errors.slot("credit_limit")
        errors.general()
        if st.form_submit_button(f"Save {plan.name}", type="primary", key=f"{key}.save"):
            form = PlanForm(
                monthly_price=monthly,
                yearly_monthly_price=yearly,
                included_requests=included,
                additional_request_price=price,
                credit_limit=limit,
            )
            _save_plan(viewer, plan, form, errors)


def _save_plan(
    viewer: SessionView, plan: PlanRow, form: PlanForm, errors: forms.FieldErrors
) -> None:
    changed: list[staff_billing.PlanUpdate] = []

    def save_plan() -> None:
        with resources.writing() as session:
            changed.append(staff_billing.update_plan(session, viewer.actor, plan.code, form))

    if not forms.attempt(errors, save_plan):
        return
    [update] = changed
    if not update.changes:
        st.info(f"{plan.name} is unchanged.", icon=":material/info:")
        return
    following = (
        f" The new credit limit applies to {update.organizations_following:,} organizations."
        if any(change.startswith("credit limit") for change in update.changes)
        else ""
    )
    _saved(f"{plan.name} saved: {'; '.join(update.changes)}.{following}")


# --- Tax rates ---------------------------------------------------------------------------------


def tax_rates(viewer: SessionView, rates: list[TaxRateRow], *, time_zone: tzinfo) -> None:
    st.caption(
        "Sales taxes of Canadian companies, by province, applied to the subtotal of each "
        "invoice from the next run; companies elsewhere pay none."
    )
    st.dataframe(
        [
            {
                "Province": rate.province,
                "Tax": rate.tax,
                "Rate": format_percent(rate.rate_millipercent),
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
            f"({format_percent(by_id[value].rate_millipercent)})"
        ),
        key="staff.pricing.tax",
    )
    _tax_rate_form(viewer, by_id[chosen])


def _tax_rate_form(viewer: SessionView, rate: TaxRateRow) -> None:
    with st.form(f"staff.pricing.tax.{rate.id}"):
        new_rate = st.text_input(
            f"{rate.province} {rate.tax} rate (%)",
            value=format_percent(rate.rate_millipercent).removesuffix(" %"),
            key=f"staff.pricing.tax.{rate.id}.rate",
            help="From 0 to 100, at most three decimals (9.975).",
        )
        errors = forms.FieldErrors()
        errors.slot("rate")
        errors.general()
        if st.form_submit_button(
            "Save rate", type="primary", key=f"staff.pricing.tax.{rate.id}.save"
        ):

            def save_rate() -> None:
                with resources.writing() as session:
                    staff_billing.update_tax_rate(session, viewer.actor, rate.id, rate=new_rate)

            if forms.attempt(errors, save_rate):
                _saved(
                    f"{rate.province} {rate.tax} is now "
                    f"{format_percent(staff_billing.tax_rate_millipercent(new_rate))}."
                )


# --- Platform settings -------------------------------------------------------------------------


def platform_settings(
    viewer: SessionView, settings: list[SettingRow], *, time_zone: tzinfo
) -> None:
    st.caption(
        "Settings every organization's billing reads: the card convenience fee, the time "
        "zone whose months are invoiced, and SIPSTACK's details printed on invoices; and how "
        "many days Logs keeps product events."
    )
    st.dataframe(
        [
            {
                "Setting": _setting_label(setting.key),
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
        format_func=_setting_label,
        key="staff.pricing.setting",
    )
    _setting_form(viewer, by_key[key])


def _setting_form(viewer: SessionView, setting: SettingRow) -> None:
    key = setting.key
    with st.form(f"staff.pricing.setting.{key}"):
        if setting.description:
            st.caption(setting.description)
        value = st.text_input(
            _setting_label(key),
            # A setting newer than the database's seed is edited from its shipped default.
            value=setting.value if setting.stored else platform.shipped_default(key),
            max_chars=500,
            key=f"staff.pricing.setting.{key}.value",
        )
        errors = forms.FieldErrors()
        errors.slot(key)
        errors.general()
        if st.form_submit_button(
            "Save setting", type="primary", key=f"staff.pricing.setting.{key}.save"
        ):

            def save_setting() -> None:
                with resources.writing() as session:
                    platform.update_setting(session, viewer.actor, key, value)

            if forms.attempt(errors, save_setting):
                _saved(f"{_setting_label(key)} saved.")


def _setting_label(key: str) -> str:
    return SETTING_LABELS.get(key, key.replace("_", " ").capitalize())
