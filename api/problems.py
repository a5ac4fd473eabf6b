"""Errors as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import GraphServerError, LoreError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
OPENAI_PATHS = frozenset({"/v1/chat/completions", "/v1/models"})
OPENAI_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error", 429: "rate_limit_error",
                      503: "overloaded_error"}


class Problem(BaseModel):
    """A problem details body (RFC 9457)."""

    type: str = Field(default="about:blank", description="A URI naming the kind of problem.")
    title: str = Field(examples=["Forbidden"])
    status: int = Field(examples=[403])
    detail: str | None = Field(default=None, examples=["this key lacks the 'ingest' scope"])
    instance: str | None = Field(default=None, description="The request path.")
    errors: list[dict[str, Any]] | None = Field(default=None, description="Field errors of a 422 response.")
    error: dict[str, Any] | None = Field(
        default=None, description="On the OpenAI-compatible routes, the same problem as OpenAI's error object, "
                                  "so OpenAI clients show its message.")


def problem_response(
    status: int, detail: str | None = None, *, instance: str | None = None, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    if instance in OPENAI_PATHS:
        error_type = OPENAI_ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
        extra["error"] = {"message": detail or HTTPStatus(status).phrase, "type": error_type, "param": None, "code": status}
    body = Problem(title=HTTPStatus(status).phrase, status=status, detail=detail, instance=instance, **extra)
    return JSONResponse(
        jsonable_encoder(body, exclude_none=True), status_code=status, headers=headers, media_type=PROBLEM_JSON
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting problem bodies for these statuses."""
    return {s: {"model": Problem, "description": HTTPStatus(s).phrase, "content": {PROBLEM_JSON: {}}} for s in statuses}


async def _http_exception(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem_response(exc.status_code, detail, instance=request.url.path, headers=getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
    ]
    fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
    return problem_response(422, fields or "invalid request", instance=request.url.path, errors=errors)


async def _lore_error(request: Request, exc: LoreError) -> JSONResponse:
    # The graph server being unreachable is a temporary condition, not a bug in the request.
    status = 503 if isinstance(exc, GraphServerError) else 500
    log.error("%s on %s: %s", type(exc).__name__, request.url.path, exc)
    return problem_response(status, str(exc), instance=request.url.path)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s", request.url.path)
    return problem_response(500, "an unexpected error occurred; see the server log", instance=request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(LoreError, _lore_error)
    app.add_exception_handler(Exception, _unexpected)
