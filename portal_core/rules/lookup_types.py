"""Smart CNAM's lookup types in a partner's words, as invoices, charts and Logs name them
(docs/product.md, Smart CNAM lookups and scores)."""

from __future__ import annotations

from portal_core.models.billing import LookupType

LOOKUP_TYPE_NAMES: dict[str, str] = {lookup_type: lookup_type.label for lookup_type in LookupType}


def lookup_type_name(lookup_type: str) -> str:
    """The type's name; a type added later reads from its code until it gets one."""
    return LOOKUP_TYPE_NAMES.get(lookup_type, lookup_type.replace("_", " ").title())
