"""Community reports over the API (docs/product.md, The REST API's contract): a partner's
system reports a number as spam or safe under ``services.reports``' rules (one report per
number every 30 days, never one's own numbers), and the report is in Logs with the token.
"""

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from portal_core import db
from portal_core.api.auth import Authorizer
from portal_core.api.management import ShownNumber, iso, live_caller, responses
from portal_core.models.products import ReportKind
from portal_core.services import rate_limits, reports
from portal_core.services.api_tokens import Caller, Scope


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(description="The number, in any common form.")
    kind: ReportKind = Field(description="spam, or safe.")
    comment: str = Field("", description=f"At most {reports.MAX_COMMENT} characters.")


class ReportAnswer(BaseModel):
    id: uuid.UUID
    number: ShownNumber
    kind: ReportKind
    comment: str | None
    created_at: datetime


def router(engine: Callable[[], Engine], clock: Callable[[], datetime]) -> APIRouter:
    routes = APIRouter(tags=["Community reports"])
    reporter = live_caller(Authorizer(engine, clock), rate_limits.MEDIUM, Scope.REPORTS_WRITE)

    @routes.post(
        "/v1/reports",
        summary="Report a number to the community as spam or safe",
        status_code=201,
        response_model=ReportAnswer,
        responses=responses(rate_limits.MEDIUM, 409, ok=201),
    )
    def report(body: ReportRequest, caller: Annotated[Caller, Depends(reporter)]) -> dict[str, Any]:
        with db.write_session(engine()) as session:
            created = reports.report(
                session,
                caller.actor,
                number=body.number,
                kind=body.kind,
                comment=body.comment,
                now=clock(),
            )
            return {
                "id": created.id,
                "number": ShownNumber.of(created.number),
                "kind": created.kind,
                "comment": created.comment,
                "created_at": iso(created.created_at),
            }

    return routes
