"""Phone numbers as the portal reads them: what a partner typed, made into one E.164 number
with the facts the phone-number metadata knows about it
(docs/product.md, Smart CNAM lookups and scores).

What is accepted: every common way of writing a number — international (``+1 (416)
555-0123``), national with the region it is read in (``416.555.0123``, ``1-416-555-0123``
read in Canada), an RFC 3966 ``tel:`` URI, full-width digits, and any Unicode space or
invisible formatting mark a copy and paste brings along.

What is refused, each with a reason the partner can act on (``NotAPhoneNumber``):

- nothing typed, or more than 64 characters;
- text that is not a phone number, and numbers written with letters (``1-800-FLOWERS``):
  a caller's number is digits;
- without a ``+`` and with no region to read it in: the country code is needed;
- an emergency number of the region it is read in or of the number's own region (``911``,
  ``112``, ``999``): such a number is never looked up;
- a short code (``611``, ``36363``): it is not a caller's number;
- a number too short or too long to be possible where it belongs; a number possible only
  locally (without its area code) is too short;
- an extension (``ext. 22``, ``x22``, ``;ext=22``): a caller's number has none;
- digits whose E.164 form the metadata reads back as another number (zeros after the
  country code, ``000000`` read in Germany): no number is written so, and it could not be
  stored.

A number that is possible but not allocated (``+1 555-123-4567``) is *not* refused: the
metadata calls it not valid (``valid=False``) and its score says so.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import phonenumbers
from phonenumbers import (
    NumberParseException,
    PhoneNumber,
    PhoneNumberFormat,
    PhoneNumberType,
    ValidationResult,
    carrier,
    geocoder,
    shortnumberinfo,
    timezone,
)
from phonenumbers.phonemetadata import PhoneMetadata
from phonenumbers.phonenumberutil import _number_type_helper

from portal_core.errors import ValidationFailed

MAX_TYPED = 64
# What the metadata answers when it knows no time zone for a number: not a zone.
UNKNOWN_TIME_ZONE = "Etc/Unknown"
LANGUAGE = "en"


class LineType(StrEnum):
    """What the metadata says a number is, and what a Whois profile may declare it to be."""

    MOBILE = "mobile"
    FIXED = "fixed"
    FIXED_OR_MOBILE = "fixed_or_mobile"
    TOLL_FREE = "toll_free"
    VOIP = "voip"
    PREMIUM_RATE = "premium_rate"
    OTHER = "other"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    LineType.MOBILE: "Mobile",
    LineType.FIXED: "Fixed line",
    LineType.FIXED_OR_MOBILE: "Fixed line or mobile",
    LineType.TOLL_FREE: "Toll-free",
    LineType.VOIP: "VoIP",
    LineType.PREMIUM_RATE: "Premium rate",
    LineType.OTHER: "Other",
    LineType.UNKNOWN: "Unknown",
}

# A profile declares one of these; the metadata's "fixed line or mobile" and "unknown" are
# what it cannot tell, never what an owner says of their own line.
PROFILE_LINE_TYPES: tuple[LineType, ...] = (
    LineType.MOBILE,
    LineType.FIXED,
    LineType.TOLL_FREE,
    LineType.VOIP,
    LineType.OTHER,
)

# Pagers, universal access, voicemail, shared-cost and personal numbers are rare enough
# among callers that a partner's call flow need not tell them apart.
_LINE_TYPES: dict[int, LineType] = {
    PhoneNumberType.FIXED_LINE: LineType.FIXED,
    PhoneNumberType.MOBILE: LineType.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: LineType.FIXED_OR_MOBILE,
    PhoneNumberType.TOLL_FREE: LineType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE: LineType.PREMIUM_RATE,
    PhoneNumberType.VOIP: LineType.VOIP,
    PhoneNumberType.SHARED_COST: LineType.OTHER,
    PhoneNumberType.PERSONAL_NUMBER: LineType.OTHER,
    PhoneNumberType.PAGER: LineType.OTHER,
    PhoneNumberType.UAN: LineType.OTHER,
    PhoneNumberType.VOICEMAIL: LineType.OTHER,
    PhoneNumberType.UNKNOWN: LineType.UNKNOWN,
}


@dataclass(frozen=True)
class NumberFacts:
    """One number, in E.164, with what the phone-number metadata knows about it."""

    e164: str  # "+14169671111"
    valid: bool  # allocated, per the metadata
    country: str | None  # ISO 3166 alpha-2 of the number ("CA"), None if unknown
    place: str  # "Toronto, ON", "Ontario", "" if none
    carrier: str  # the carrier the number was allocated to, "" if unknown
    line_type: LineType
    time_zones: tuple[str, ...]

    @property
    def international(self) -> str:
        """ "+1 416-967-1111": how the portal shows a number."""
        return phonenumbers.format_number(
            phonenumbers.parse(self.e164, None), PhoneNumberFormat.INTERNATIONAL
        )


class NotAPhoneNumber(ValidationFailed):
    """What was typed cannot be looked up or registered as a caller's number; ``reason``
    says why, naming what was typed (as typed: whoever shows it escapes it)."""

    def __init__(self, reason: str, *, field: str = "number") -> None:
        super().__init__({field: reason})
        self.reason = reason
        self.field = field


def parse_number(text: str, *, default_region: str | None, field: str = "number") -> NumberFacts:
    """The number ``text`` writes, read in ``default_region`` (ISO 3166 alpha-2) when it has
    no ``+``; raises ``NotAPhoneNumber`` under ``field`` for what the module refuses."""
    return _parse(text, default_region, field)


# What was typed is read from a bounded cache: the same numbers come back again and again (a
# partner's own numbers as Source/Risk's destinations, the callers that call many of them),
# and reading one costs about 100 µs of the metadata's patterns. The facts are immutable and
# the metadata never changes while the portal runs; a refusal is not kept, only raised.
@lru_cache(maxsize=4096)
def _parse(text: str, default_region: str | None, field: str) -> NumberFacts:
    typed = _cleaned(text)
    if not typed:
        raise NotAPhoneNumber("Enter a phone number.", field=field)
    if len(typed) > MAX_TYPED:
        raise NotAPhoneNumber(
            f"A phone number has at most {MAX_TYPED} characters; this has {len(typed)}.",
            field=field,
        )
    region = _region(default_region)
    try:
        number = phonenumbers.parse(typed, region)
    except NumberParseException as error:
        if region and shortnumberinfo.is_emergency_number(typed, region):
            raise NotAPhoneNumber(_emergency(typed), field=field) from None
        raise NotAPhoneNumber(_unreadable(typed, error, region), field=field) from None
    if number.extension:
        raise NotAPhoneNumber(
            f"“{typed}” has an extension: enter the number without an extension.", field=field
        )
    if _has_letters(typed):
        raise NotAPhoneNumber(
            f"“{typed}” is not a phone number: type its digits, without words or letters.",
            field=field,
        )
    own, kind = _region_and_type(number)
    regions = _regions_of(number, region, own)
    national = phonenumbers.national_significant_number(number)
    if any(shortnumberinfo.is_emergency_number(national, each) for each in regions):
        raise NotAPhoneNumber(_emergency(typed), field=field)
    valid = kind != PhoneNumberType.UNKNOWN
    if not valid and any(
        shortnumberinfo.is_valid_short_number_for_region(number, each) for each in regions
    ):
        raise NotAPhoneNumber(f"“{typed}” is a short code, not a caller's number.", field=field)
    # An allocated number is taken as it is (Canada's seven-digit 310 numbers are dialled
    # without an area code); one the metadata does not know must at least have the length
    # of a whole number of its country.
    possible = phonenumbers.is_possible_number_with_reason(number)
    if not valid and possible != ValidationResult.IS_POSSIBLE:
        raise NotAPhoneNumber(_impossible(typed, possible), field=field)
    # Some unallocated digits (zeros after the country code) have an E.164 form the metadata
    # reads back as another number: stored, such a number could never be read again. An
    # allocated number always reads back, so only the others pay for the check.
    if not valid and not _reads_back(phonenumbers.format_number(number, PhoneNumberFormat.E164)):
        raise NotAPhoneNumber(f"“{typed}” is not a phone number.", field=field)
    return _facts(number, own, kind)


def _reads_back(e164: str) -> bool:
    try:
        read = phonenumbers.parse(e164, None)
    except NumberParseException:
        return False
    return phonenumbers.format_number(read, PhoneNumberFormat.E164) == e164


@lru_cache(maxsize=4096)
def facts_of(e164: str) -> NumberFacts:
    """The facts of a number already stored in E.164 (as ``parse_number`` gave it); kept in
    a bounded cache, as ``parse_number``'s are."""
    number = _stored(e164)
    return _facts(number, *_region_and_type(number))


def allocated(e164: str) -> bool:
    """Whether a number stored in E.164 is allocated: ``facts_of(e164).valid`` without the
    place, carrier and time zones, which a score does not need (the daily snapshot reads
    every registered number's)."""
    return _region_and_type(_stored(e164))[1] != PhoneNumberType.UNKNOWN


def _stored(e164: str) -> PhoneNumber:
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        raise NotAPhoneNumber(f"“{e164}” is not a number in E.164 form.") from None
    if phonenumbers.format_number(number, PhoneNumberFormat.E164) != e164:
        raise NotAPhoneNumber(f"“{e164}” is not a number in E.164 form.")
    return number


# The types whose carrier the metadata names (as ``carrier.name_for_number`` decides).
_CARRIER_TYPES = (
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.PAGER,
)


def _region_and_type(number: PhoneNumber) -> tuple[str | None, int]:
    """The number's region and type, each worked out once. The library's ``is_valid_number``,
    ``number_type``, geocoder, carrier and time-zone functions each work the region out again,
    which for a +1 number means trying the patterns of up to 25 regions: most of a lookup's
    reading of its number. This is what ``number_type`` does; a number is valid when its type
    is known (``is_valid_number``'s own test, in the region the number belongs to)."""
    region = phonenumbers.region_code_for_number(number)
    if region is None:  # no region has the country code: no metadata, as number_type finds
        return None, PhoneNumberType.UNKNOWN
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(number.country_code or 0, region)
    if metadata is None:
        return region, PhoneNumberType.UNKNOWN
    national = phonenumbers.national_significant_number(number)
    return region, _number_type_helper(national, metadata)


def _facts(number: PhoneNumber, region: str | None, kind: int) -> NumberFacts:
    """What ``geocoder.description_for_number``, ``carrier.name_for_number`` and
    ``timezone.time_zones_for_number`` answer, given the type found once."""
    known = kind != PhoneNumberType.UNKNOWN
    place: str = ""
    zones: Sequence[str] = ()
    if known and phonenumbers.is_number_type_geographical(kind, number.country_code or 0):
        place = geocoder.description_for_valid_number(number, LANGUAGE)
        zones = timezone.time_zones_for_geographical_number(number)
    elif known:  # toll-free, premium rate and the like: the country's name and zones
        place = geocoder.country_name_for_number(number, LANGUAGE)
        zones = timezone.time_zones_for_number(number)
    return NumberFacts(
        e164=phonenumbers.format_number(number, PhoneNumberFormat.E164),
        valid=known,
        country=region,
        place=place,
        carrier=carrier.name_for_valid_number(number, LANGUAGE) if kind in _CARRIER_TYPES else "",
        line_type=_LINE_TYPES.get(kind, LineType.UNKNOWN),
        time_zones=tuple(zone for zone in zones if zone != UNKNOWN_TIME_ZONE),
    )


def _cleaned(text: str) -> str:
    """What was typed, in the form the metadata reads: compatibility characters folded
    (full-width digits and signs), invisible formatting marks that copying from a web page or
    a spreadsheet brings (bidi marks, zero-width spaces) dropped, every kind of space one
    space, trimmed."""
    folded = unicodedata.normalize("NFKC", text)
    kept = "".join(
        " " if char.isspace() else char
        for char in folded
        if unicodedata.category(char) not in ("Cf", "Cc") or char.isspace()
    )
    return " ".join(kept.split())


def _region(default_region: str | None) -> str | None:
    # A region the metadata does not know reads no national number: the partner is asked
    # for the country code instead.
    if not default_region:
        return None
    region = default_region.strip().upper()
    return region if region in phonenumbers.SUPPORTED_REGIONS else None


# A tel: URI's scheme and its parameters (";phone-context=…") are letters the form allows.
_TEL_URI = re.compile(r"^tel:|;.*$", re.IGNORECASE)
_TEL_SCHEME = re.compile(r"^tel:", re.IGNORECASE)


def _has_letters(typed: str) -> bool:
    """Whether letters stand among the digits. The metadata reads letters as a keypad's
    digits and skips words around a number, so ``call 416 555 0123 please`` would become a
    longer number than the one meant: a partner is asked for the digits instead."""
    return any(char.isalpha() for char in _TEL_URI.sub("", typed))


def _regions_of(number: PhoneNumber, region: str | None, own: str | None) -> list[str]:
    """The regions whose emergency numbers and short codes the number is checked against:
    the region it was read in (when it has the same country code) and its own (``own``, as
    ``region_code_for_number`` gave it)."""
    country_code = number.country_code or 0
    regions = []
    if region and phonenumbers.country_code_for_region(region) == country_code:
        regions.append(region)
    own = own or phonenumbers.region_code_for_country_code(country_code)
    if own not in regions and own != phonenumbers.UNKNOWN_REGION:
        regions.append(own)
    return regions


def _emergency(typed: str) -> str:
    return f"“{typed}” is an emergency number, never looked up."


def _unreadable(typed: str, error: NumberParseException, region: str | None) -> str:
    if error.error_type == NumberParseException.INVALID_COUNTRY_CODE:
        if region is None and not _TEL_SCHEME.sub("", typed).startswith("+"):
            return f"“{typed}” has no country code: add the country code, e.g. +1 416 555 0123."
        return f"“{typed}” does not start with a country code that exists."
    if error.error_type in (
        NumberParseException.TOO_SHORT_AFTER_IDD,
        NumberParseException.TOO_SHORT_NSN,
    ):
        return f"“{typed}” is too short to be a phone number."
    if error.error_type == NumberParseException.TOO_LONG:
        return f"“{typed}” is too long to be a phone number."
    return f"“{typed}” is not a phone number."


def _impossible(typed: str, result: int) -> str:
    if result == ValidationResult.TOO_LONG:
        return f"“{typed}” is too long to be a phone number."
    if result == ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        return f"“{typed}” is too short: enter the whole number, with its area code."
    if result == ValidationResult.INVALID_COUNTRY_CODE:
        return f"“{typed}” does not start with a country code that exists."
    if result == ValidationResult.INVALID_LENGTH:
        return f"“{typed}” has a number of digits no phone number there has."
    return f"“{typed}” is too short to be a phone number."


def shown(e164: str) -> str:
    """A stored number as the portal shows it, "+1 416-967-1111"; what is not a number (a
    refused lookup's text, kept as typed) is shown as it is."""
    try:
        return phonenumbers.format_number(
            phonenumbers.parse(e164, None), PhoneNumberFormat.INTERNATIONAL
        )
    except NumberParseException:
        return e164
