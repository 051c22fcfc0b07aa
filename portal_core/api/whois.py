"""Whois Profiles over the API (docs/product.md, The REST API's contract).

The page's rules, through the page's services: a profile is checked by ``whois.clean``
field by field (a 422 names each field), registered by ``whois.save_registration`` (a number
another organization holds opens an ownership dispute and waits, ``"status": "pending"``,
``"disputed": true``), edited by ``whois.update`` (the number never changes), deleted by
``whois.delete``, and imported from CSV by ``whois_import.import_profiles`` (one unit of work:
a file refused whole writes nothing; each row's outcome is in the report). Each write is a
product event in Logs naming the token. Reads are light, writes medium, the import heavy.
"""

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from portal_core import db
from portal_core.api.auth import Authorizer
from portal_core.api.management import (
    ShownNumber,
    iso,
    list_query,
    live_caller,
    object_id,
    responses,
)
from portal_core.api.vocabulary import Page, PageRequest, page_request
from portal_core.errors import PortalError, ValidationFailed
from portal_core.models.products import WhoisProfile
from portal_core.queries import whois as whois_queries
from portal_core.queries.listing import fetch_page
from portal_core.rules.numbers import shown
from portal_core.rules.scoring import format_score
from portal_core.services import rate_limits, whois, whois_import
from portal_core.services.api_tokens import Caller, Scope
from portal_core.services.whois import ProfileForm

PREFIX = "/v1/whois/profiles"
_NOUN = "profile"
_CSV = "text/csv"
_MULTIPART = "multipart/form-data"


class TooLarge(PortalError):
    status = 413
    title = "Too large"


class Profile(BaseModel):
    id: uuid.UUID
    number: ShownNumber
    status: Literal["active", "pending"] = Field(
        description="pending: another organization holds the number; a dispute is open."
    )
    caller_name: str
    business_name: str | None
    line_type: str
    call_purpose: str | None
    address_line: str | None
    city: str | None
    province: str | None
    postal_code: str | None
    country: str | None = Field(description="ISO 3166 alpha-2.")
    website: str | None
    email: str | None
    description: str | None
    social_links: list[str]
    monthly_call_volume: int | None
    private: bool
    verified: bool
    completeness_percent: int = Field(ge=0, le=100)
    score: str | None = Field(description="0.000–5.000; none while pending (unscored).")
    score_millis: int | None
    created_at: datetime
    updated_at: datetime


class Registration(Profile):
    disputed: bool = Field(
        description="Another organization holds the number: the profile waits, pending, "
        "until its ownership is decided."
    )


class ProfileFields(BaseModel):
    """A profile's fields as the form takes them; what is left out of a PATCH keeps its
    value, and an empty string empties an optional field."""

    model_config = ConfigDict(extra="forbid")

    number: str | None = Field(None, description="Any common form; required to register.")
    caller_name: str | None = None
    business_name: str | None = None
    line_type: str | None = Field(None, description="mobile, fixed, toll_free, voip or other.")
    call_purpose: str | None = None
    address_line: str | None = None
    city: str | None = None
    province: str | None = None
    postal_code: str | None = None
    country: str | None = None
    website: str | None = None
    email: str | None = None
    description: str | None = None
    social_links: list[str] | None = None
    monthly_call_volume: int | str | None = None
    private: bool | None = None

    def form(self, start: ProfileForm | None = None) -> ProfileForm:
        values: dict[str, Any] = {} if start is None else dict(vars(start))
        for name in self.model_fields_set:
            value = getattr(self, name)
            if name == "private":
                values[name] = bool(value)
            elif name == "social_links":
                values[name] = "\n".join(value or ())
            else:
                values[name] = "" if value is None else str(value)
        return ProfileForm(**values)


class RowOutcome(BaseModel):
    row: int = Field(description="As a spreadsheet numbers it: the header is row 1.")
    number: str = Field(description="E.164 when the number could be read, else as typed.")
    shown: str
    outcome: Literal["added", "updated", "disputed", "refused"]
    message: str


class ImportAnswer(BaseModel):
    summary: str
    added: int
    updated: int
    disputed: int
    refused: int
    ignored_columns: list[str]
    rows: list[RowOutcome]


def profile_answer(profile: WhoisProfile) -> dict[str, Any]:
    return {
        "id": profile.id,
        "number": ShownNumber.of(profile.number),
        "status": str(profile.status),
        "caller_name": profile.caller_name,
        "business_name": profile.business_name,
        "line_type": profile.line_type,
        "call_purpose": profile.call_purpose,
        "address_line": profile.address_line,
        "city": profile.city,
        "province": profile.province,
        "postal_code": profile.postal_code,
        "country": profile.country,
        "website": profile.website,
        "email": profile.email,
        "description": profile.description,
        "social_links": (profile.social_links or "").split(),
        "monthly_call_volume": profile.monthly_call_volume,
        "private": profile.private,
        "verified": profile.verified_at is not None,
        "completeness_percent": profile.completeness_permille // 10,
        "score": None if profile.score_millis is None else format_score(profile.score_millis),
        "score_millis": profile.score_millis,
        "created_at": iso(profile.created_at),
        "updated_at": iso(profile.updated_at),
    }


Sort = Literal["created", "updated", "score", "caller_name"]
YesNo = Literal["yes", "no"]


def router(engine: Callable[[], Engine], clock: Callable[[], datetime]) -> APIRouter:
    routes = APIRouter(tags=["Whois Profiles"])
    authorizer = Authorizer(engine, clock)
    reader = live_caller(authorizer, rate_limits.LIGHT, Scope.WHOIS_READ)
    writer = live_caller(authorizer, rate_limits.MEDIUM, Scope.WHOIS_WRITE)
    importer = live_caller(authorizer, rate_limits.HEAVY, Scope.WHOIS_WRITE)

    @routes.get(
        PREFIX,
        summary="The organization's registered numbers, filtered, sorted and paged",
        response_model=Page[Profile],
        responses=responses(rate_limits.LIGHT),
    )
    def list_profiles(
        caller: Annotated[Caller, Depends(reader)],
        paging: Annotated[PageRequest, Depends(page_request)],
        search: Annotated[str | None, Query(description="Part of the number or a name.")] = None,
        line_type: Annotated[
            str | None, Query(description="mobile, fixed, toll_free, voip or other.")
        ] = None,
        private: YesNo | None = None,
        verified: YesNo | None = None,
        band: Annotated[str | None, Query(description="A score band's remark: Trusted…")] = None,
        status: Literal["active", "pending"] | None = None,
        sort: Sort = "created",
        order: Literal["asc", "desc"] = "desc",
    ) -> dict[str, Any]:
        listing = whois_queries.profiles_listing(caller.actor)
        query = list_query(
            paging,
            {
                "search": search,
                "line_type": line_type,
                "private": private,
                "verified": verified,
                "band": band,
                "status": status,
            },
            sort=sort,
            descending=order == "desc",
        )
        with db.read_session(engine()) as session:
            page = fetch_page(session, listing, query)
            by_id = {
                profile.id: profile
                for profile in session.exec(
                    select(WhoisProfile).where(col(WhoisProfile.id).in_(page.keys))
                )
            }
            items = [profile_answer(by_id[key]) for key in page.keys]
        return {
            "items": items,
            "total": page.total,
            "page": page.page,
            "page_size": page.page_size,
        }

    @routes.post(
        PREFIX,
        summary="Register a number (the form's rules; a held number opens a dispute)",
        status_code=201,
        response_model=Registration,
        responses=responses(rate_limits.MEDIUM, ok=201),
    )
    def register(
        fields: ProfileFields, caller: Annotated[Caller, Depends(writer)]
    ) -> dict[str, Any]:
        form = fields.form()
        with db.write_session(engine()) as session:
            region = whois.default_region(session, caller.organization_id)
            values = whois.clean(form, default_region=region)
            registered = whois.save_registration(session, caller.actor, values, now=clock())
            return {**profile_answer(registered.profile), "disputed": registered.disputed}

    @routes.get(
        f"{PREFIX}/{{profile_id}}",
        summary="One of the organization's profiles",
        response_model=Profile,
        responses=responses(rate_limits.LIGHT, 404),
    )
    def get_profile(profile_id: str, caller: Annotated[Caller, Depends(reader)]) -> dict[str, Any]:
        wanted = object_id(profile_id, _NOUN)
        with db.read_session(engine()) as session:
            return profile_answer(whois.get(session, caller.actor, wanted))

    @routes.patch(
        f"{PREFIX}/{{profile_id}}",
        summary="Change a profile's fields (its number stays what it is)",
        response_model=Profile,
        responses=responses(rate_limits.MEDIUM, 404),
    )
    def update_profile(
        profile_id: str, fields: ProfileFields, caller: Annotated[Caller, Depends(writer)]
    ) -> dict[str, Any]:
        wanted = object_id(profile_id, _NOUN)
        with db.write_session(engine()) as session:
            profile = whois.get(session, caller.actor, wanted)
            if fields.number is not None and fields.number.strip() not in ("", profile.number):
                raise ValidationFailed(
                    {
                        "number": "A registered number never changes: register the other "
                        "number as a profile of its own."
                    }
                )
            form = fields.model_copy(update={"number": None}).form(ProfileForm.of(profile))
            saved = whois.update(session, caller.actor, wanted, form, now=clock())
            return profile_answer(saved)

    @routes.delete(
        f"{PREFIX}/{{profile_id}}",
        summary="Delete a profile and its score history (the number is free again)",
        status_code=204,
        response_class=Response,
        responses=responses(rate_limits.MEDIUM, 404, ok=204),
    )
    def delete_profile(profile_id: str, caller: Annotated[Caller, Depends(writer)]) -> Response:
        wanted = object_id(profile_id, _NOUN)
        with db.write_session(engine()) as session:
            whois.delete(session, caller.actor, wanted, now=clock())
        return Response(status_code=204)

    @routes.post(
        f"{PREFIX}/import",
        summary="Import profiles from CSV (the template's or the export's columns)",
        response_model=ImportAnswer,
        responses=responses(rate_limits.HEAVY, 400, 413),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    _CSV: {"schema": {"type": "string"}},
                    _MULTIPART: {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {"file": {"type": "string", "format": "binary"}},
                        }
                    },
                },
            }
        },
    )
    async def import_profiles(
        request: Request, caller: Annotated[Caller, Depends(importer)]
    ) -> dict[str, Any]:
        data = await _file_of(request)
        report = await run_in_threadpool(
            whois_import.import_profiles, engine(), caller.actor, data, now=clock()
        )
        return {
            "summary": report.summary(),
            "added": report.added,
            "updated": report.updated,
            "disputed": report.disputed,
            "refused": report.refused,
            "ignored_columns": list(report.ignored_columns),
            "rows": [
                {
                    "row": row.row_number,
                    "number": row.number,
                    "shown": shown(row.number),
                    "outcome": row.outcome.value,
                    "message": row.message,
                }
                for row in report.rows
            ],
        }

    return routes


async def _file_of(request: Request) -> bytes:
    """The CSV sent as the body, or as the ``file`` part of a multipart form; a body larger
    than the import takes is refused before it is all read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > whois_import.MAX_BYTES + 64 * 1024:
        raise _too_large()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == _MULTIPART:
        async with request.form(max_files=1, max_fields=10) as form:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise ValidationFailed({"file": "Send the CSV file as the form's file part."})
            data = await upload.read(whois_import.MAX_BYTES + 1)
    else:
        data = b""
        async for chunk in request.stream():
            data += chunk
            if len(data) > whois_import.MAX_BYTES:
                raise _too_large()
    if len(data) > whois_import.MAX_BYTES:
        raise _too_large()
    if not data:
        raise ValidationFailed({"file": "The file is empty: send the CSV as the body."})
    return data


def _too_large() -> TooLarge:
    return TooLarge(
        f"An import takes files of at most {whois_import.MAX_BYTES // (1024 * 1024)} MB: "
        "split the file and import each part."
    )
