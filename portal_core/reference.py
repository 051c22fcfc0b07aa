"""Reference data shipped in ``data/``: SIPSTACK's plans, Canada's sales taxes, and the
platform settings' defaults. Migrations seed the tables from these files; staff edit the rows
afterwards, so code reads the tables, never the files.

Figures are parsed here, once, from the published decimal text into integers
(docs/architecture.md, rule 4): plan prices in cents, the price per additional request in
micro-dollars, tax rates in thousandths of a percent.
"""

from __future__ import annotations

import csv
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert

from portal_core.settings import DATA_DIR


def _rows(name: str, folder: Path) -> list[dict[str, str]]:
    with (folder / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _scaled(text: str, scale: int) -> int | None:
    """ "0.0030" dollars at scale 1,000,000 → 3000; empty → None. Refuses anything inexact."""
    if not text.strip():
        return None
    value = Decimal(text) * scale
    if value != value.to_integral_value():
        raise ValueError(f"{text!r} is finer than 1/{scale}")
    return int(value)


def plans(folder: Path = DATA_DIR) -> list[dict[str, Any]]:
    """SIPSTACK's published plans (``plans.csv``); empty cells are "by contract" or "none"."""
    result = []
    for position, row in enumerate(_rows("plans.csv", folder)):
        monthly = _scaled(row["monthly_usd"], 100)
        result.append(
            {
                "code": row["code"],
                "name": row["name"],
                "position": position,
                "monthly_cents": monthly,
                "yearly_monthly_cents": _scaled(row["yearly_usd_per_month"], 100),
                "included_requests": int(row["included_requests_per_month"]),
                "additional_request_micros": _scaled(row["additional_request_usd"], 1_000_000),
                "credit_limit_cents": _scaled(row["credit_limit_usd"], 100),
                "lookups_per_second": int(row["lookups_per_second"])
                if row["lookups_per_second"]
                else None,
                "support_sla": row["support_sla"],
                "by_contract": monthly is None,
            }
        )
    return result


def tax_rates(folder: Path = DATA_DIR) -> list[dict[str, Any]]:
    """Canada's sales taxes by province (``canada_sales_tax.csv``), rates in 1/1000 %."""
    return [
        {
            "country": "CA",
            "province": row["province"],
            "tax": row["tax"],
            "rate_millipercent": _scaled(row["rate_percent"], 1000),
        }
        for row in _rows("canada_sales_tax.csv", folder)
    ]


def platform_settings(folder: Path = DATA_DIR) -> list[dict[str, str]]:
    """The platform settings' defaults (``platform_settings.csv``)."""
    return [
        {"key": row["key"], "value": row["value"], "description": row["description"]}
        for row in _rows("platform_settings.csv", folder)
    ]


def install(connection: Connection, folder: Path = DATA_DIR) -> None:
    """Insert the reference data into a database built from the models (tests, benchmarks);
    a migrated database already has it from its migrations."""
    from portal_core.models.base import utcnow
    from portal_core.models.billing import (
        SINCE_ALWAYS,
        Plan,
        PlanPrice,
        PlatformSetting,
        TaxRate,
        TaxRateChange,
    )

    now = utcnow()
    connection.execute(insert(Plan), plans(folder))
    connection.execute(
        insert(PlanPrice),
        [
            {
                "id": uuid.uuid4(),
                "plan_code": row["code"],
                "effective_from": SINCE_ALWAYS,
                "monthly_cents": row["monthly_cents"],
                "yearly_monthly_cents": row["yearly_monthly_cents"],
            }
            for row in plans(folder)
        ],
    )
    connection.execute(
        insert(TaxRate),
        [{"id": uuid.uuid4(), "updated_at": now, **row} for row in tax_rates(folder)],
    )
    connection.execute(
        insert(TaxRateChange),
        [{"id": uuid.uuid4(), "effective_from": SINCE_ALWAYS, **row} for row in tax_rates(folder)],
    )
    connection.execute(
        insert(PlatformSetting),
        [{"updated_at": now, **row} for row in platform_settings(folder)],
    )
