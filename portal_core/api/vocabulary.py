"""The REST API's words, in one place (docs/product.md, The REST API's contract).

- A lookup's ``type`` is one of ``risk``, ``cnam`` (the default), ``regional``, ``telco`` and
  ``profile``: Smart CNAM's lookup types as SIPSTACK's API names them, mapped here to the
  portal's ``LookupType`` (what the meter bills and Logs shows) and back.
- Money is integers: amounts in ``*_cents``, prices and metered costs in ``*_micros``
  (1 USD = 1,000,000), always beside ``"currency": "USD"``.
- Lists take ``page`` (from 1) and ``page_size`` (10, 20, 50 or 100) and answer the page's
  ``items`` with the ``total`` that the filters keep.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Generic, Literal, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field, field_validator

from portal_core.errors import ValidationFailed
from portal_core.models.billing import LookupType

CURRENCY: Literal["USD"] = "USD"
PAGE_SIZES: tuple[int, ...] = (10, 20, 50, 100)


class ApiLookupType(StrEnum):
    RISK = "risk"
    CNAM = "cnam"
    REGIONAL = "regional"
    TELCO = "telco"
    PROFILE = "profile"

    @property
    def lookup_type(self) -> LookupType:
        return _LOOKUP_TYPES[self]

    @property
    def has_text_answer(self) -> bool:
        """Only a score (``risk``) and a caller's name (``cnam``) fit the text answer."""
        return self in (ApiLookupType.RISK, ApiLookupType.CNAM)

    @classmethod
    def of(cls, lookup_type: LookupType) -> ApiLookupType:
        return _API_NAMES[lookup_type]


_LOOKUP_TYPES: dict[ApiLookupType, LookupType] = {
    ApiLookupType.RISK: LookupType.SOURCE_RISK,
    ApiLookupType.CNAM: LookupType.CALLER_ID,
    ApiLookupType.REGIONAL: LookupType.REGIONAL,
    ApiLookupType.TELCO: LookupType.TELCO_CARRIER,
    ApiLookupType.PROFILE: LookupType.ONLINE_PROFILES,
}
_API_NAMES = {lookup_type: name for name, lookup_type in _LOOKUP_TYPES.items()}

LookupTypeQuery = Annotated[
    ApiLookupType,
    Query(
        alias="type",
        description="risk (Source/Risk: a score of a call to one of your numbers), cnam "
        "(Caller ID), regional, telco (Telco/Carrier) or profile (Online Profiles).",
    ),
]

DEFAULT_PAGE_SIZE = 20
Item = TypeVar("Item")


class PageRequest(BaseModel):
    """``?page=…&page_size=…`` of a list."""

    page: int = Field(1, ge=1, description="The page, from 1.")
    page_size: int = Field(DEFAULT_PAGE_SIZE, description="Rows a page: 10, 20, 50 or 100.")

    @field_validator("page_size")
    @classmethod
    def _one_of_the_sizes(cls, page_size: int) -> int:
        if page_size not in PAGE_SIZES:
            raise ValueError(f"Show 10, 20, 50 or 100 rows a page, not {page_size}.")
        return page_size


def page_request(
    page: Annotated[int, Query(ge=1, description="The page, from 1.")] = 1,
    page_size: Annotated[
        int,
        Query(
            description="Rows a page: 10, 20, 50 or 100.",
            json_schema_extra={"enum": list(PAGE_SIZES)},
        ),
    ] = DEFAULT_PAGE_SIZE,
) -> PageRequest:
    """A list route's paging (a dependency: ``Depends(page_request)``); another page size is
    a 422 naming ``page_size``."""
    if page_size not in PAGE_SIZES:
        raise ValidationFailed(
            {"page_size": f"Show 10, 20, 50 or 100 rows a page, not {page_size}."}
        )
    return PageRequest(page=page, page_size=page_size)


class Page(BaseModel, Generic[Item]):
    """One page of a list: its items, where it is, and how many the filters keep in all."""

    items: list[Item]
    page: int
    page_size: int
    total: int


def word_key(label: str) -> str:
    """A label as a JSON key: "City / region" → "city_region", "E-mail" → "email"."""
    kept = "".join(char if char.isalnum() else " " for char in label.lower().replace("-", ""))
    return "_".join(kept.split())
