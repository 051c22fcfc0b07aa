"""The carrier score's company and brand factors (docs/product.md, Carrier score): +0.250
for complete company details, +0.250 for at least one verified brand domain, each shown with
its effect and suggested while missing; the score stays within 0–5."""

from __future__ import annotations

from decimal import Decimal

from portal_core.rules.carrier_score import CarrierInputs, carrier_score, model
from portal_core.rules.company import company_complete, missing_company_fields

BARE = CarrierInputs(numbers=1, completeness_permille_sum=0, verified=0)


def _effects(inputs: CarrierInputs) -> dict[str, int]:
    scored = carrier_score(inputs)
    assert scored is not None
    assert sum(factor.effect_millis for factor in scored.factors) == scored.millis
    return {factor.key: factor.effect_millis for factor in scored.factors}


def test_the_figures_come_from_the_model() -> None:
    figures = model()
    assert (figures.company_complete, figures.verified_domain) == (
        Decimal("0.25"),
        Decimal("0.25"),
    )


def test_complete_details_and_a_verified_domain_add_a_quarter_each() -> None:
    assert (_effects(BARE)["company"], _effects(BARE)["brand"]) == (0, 0)
    both = CarrierInputs(
        numbers=1,
        completeness_permille_sum=0,
        verified=0,
        company_complete=True,
        verified_domains=3,
    )
    assert (_effects(both)["company"], _effects(both)["brand"]) == (250, 250)
    bare, raised = carrier_score(BARE), carrier_score(both)
    assert bare is not None and raised is not None
    assert raised.millis - bare.millis == 500


def test_what_is_missing_is_suggested_and_what_is_done_is_not() -> None:
    bare = carrier_score(BARE)
    assert bare is not None
    assert "Complete your company's legal details (Organization › Company): +0.250" in (
        bare.raise_by
    )
    assert "Verify a brand domain with its DNS record (Organization › Brand): +0.250" in (
        bare.raise_by
    )
    done = carrier_score(
        CarrierInputs(
            numbers=2,
            completeness_permille_sum=2000,
            verified=2,
            company_complete=True,
            verified_domains=1,
        )
    )
    assert done is not None and done.raise_by == ()


def test_everything_at_its_best_is_kept_at_five() -> None:
    best = CarrierInputs(
        numbers=1,
        completeness_permille_sum=1000,
        verified=1,
        safe_reports=10,
        company_complete=True,
        verified_domains=1,
    )
    scored = carrier_score(best)
    assert scored is not None and scored.millis == 5000
    assert _effects(best)["clamp"] == -250


def test_complete_details_need_the_province_and_postal_code_where_they_exist() -> None:
    canadian = {
        "legal_name": "Northwind Voice Inc.",
        "country": "CA",
        "province": "ON",
        "address_line": "1 Front Street West",
        "city": "Toronto",
        "postal_code": "M5J 2X2",
        "tax_id": None,
    }
    assert company_complete(canadian)
    assert missing_company_fields({**canadian, "province": None, "postal_code": " "}) == [
        "province",
        "postal_code",
    ]
    british = {**canadian, "country": "GB", "province": None, "postal_code": None}
    assert company_complete(british)
    assert missing_company_fields({**british, "legal_name": "", "city": None}) == [
        "legal_name",
        "city",
    ]
