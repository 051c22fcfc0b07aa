"""A Whois profile's fields: their tabs, labels and limits, which are required, and how
complete a profile is (docs/product.md, Whois Profiles).

The form has three tabs — General, Location, Additional — and every message about a field
names its tab and its label ("General › Caller name: …"), so a partner finds the field the
message is about. Completeness is the share of the optional fields filled in: the required
ones (number, caller name, line type) are always there. It raises the number's score and the
organization's carrier score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Tab(StrEnum):
    GENERAL = "General"
    LOCATION = "Location"
    ADDITIONAL = "Additional"


@dataclass(frozen=True)
class ProfileField:
    key: str
    label: str
    tab: Tab
    max_length: int | None = None
    required: bool = False

    def problem(self, message: str) -> str:
        """A message about this field, naming its tab and label."""
        return f"{self.tab} › {self.label}: {message}"


FIELDS: tuple[ProfileField, ...] = (
    ProfileField("number", "Phone number", Tab.GENERAL, required=True),
    ProfileField("caller_name", "Caller name", Tab.GENERAL, 15, required=True),
    ProfileField("business_name", "Business name", Tab.GENERAL, 120),
    ProfileField("line_type", "Line type", Tab.GENERAL, required=True),
    ProfileField("call_purpose", "Call purpose", Tab.GENERAL),
    ProfileField("address_line", "Address", Tab.LOCATION, 200),
    ProfileField("city", "City", Tab.LOCATION, 100),
    ProfileField("province", "Province / state", Tab.LOCATION, 100),
    ProfileField("postal_code", "Postal code", Tab.LOCATION, 20),
    ProfileField("country", "Country", Tab.LOCATION, 2),
    ProfileField("website", "Website", Tab.ADDITIONAL, 200),
    ProfileField("email", "E-mail", Tab.ADDITIONAL, 254),
    ProfileField("description", "Description", Tab.ADDITIONAL, 500),
    ProfileField("social_links", "Social links", Tab.ADDITIONAL, 1000),
    ProfileField("monthly_call_volume", "Monthly call volume", Tab.ADDITIONAL),
)
BY_KEY: Mapping[str, ProfileField] = {field.key: field for field in FIELDS}
# What completeness counts: every field a partner may leave empty.
COUNTED: tuple[ProfileField, ...] = tuple(field for field in FIELDS if not field.required)
MAX_SOCIAL_LINKS = 5
MAX_MONTHLY_CALL_VOLUME = 1_000_000_000


@dataclass(frozen=True)
class Completeness:
    permille: int  # 0–1000
    missing: tuple[ProfileField, ...]

    @property
    def percent(self) -> int:
        return self.permille // 10


def completeness(values: Mapping[str, Any] | Any) -> Completeness:
    """How complete a profile is: the share (‰, rounded down) of the optional fields that hold
    something, and which are missing. ``values`` is a mapping or an object with the fields as
    attributes (a ``WhoisProfile``)."""
    missing = tuple(field for field in COUNTED if _empty(_value(values, field.key)))
    filled = len(COUNTED) - len(missing)
    return Completeness(permille=filled * 1000 // len(COUNTED), missing=missing)


def _value(values: Mapping[str, Any] | Any, key: str) -> Any:
    if isinstance(values, Mapping):
        return values.get(key)
    return getattr(values, key, None)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
