"""Every refusal is one JSON shape, {"error": code, "message": sentence}, with the status that says why.

401 no or bad token, 403 wrong role or not your task, 404 unknown, 409 conflict with the task's state,
413 body too large, 422 malformed request (FastAPI's validation detail turned into one readable sentence), 423
locked out; 500 a failure on our side, 503 the database is unreachable. The error code is also kept on the
request, so the audit row records which refusal it was. Messages pass through the card-number mask, since some
echo what the caller sent.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from billing.care.rules.queue_model import TaskConflict, TaskNotFound
from billing.identity.rules.masking import mask_card_numbers
from billing.platform.logs import get_logger
from billing.platform.retry import TRANSIENT_ERRORS

log = get_logger("billing.api")


class ErrorBody(BaseModel):
    error: str
    message: str


# For the OpenAPI document: what each refusal looks like.
ERROR_RESPONSES: dict[int | str, dict] = {
    401: {"model": ErrorBody, "description": "No token, or an unknown or revoked one."},
    403: {"model": ErrorBody, "description": "The role may not do this, or the task or call is not held by you."},
    404: {"model": ErrorBody, "description": "No such task, call, invoice or line."},
    409: {"model": ErrorBody, "description": "The task's state does not allow this (e.g. the lease ran out)."},
    413: {"model": ErrorBody, "description": "The body is larger than API_MAX_BODY_BYTES."},
    422: {"model": ErrorBody, "description": "The body, a path id or a query value is malformed: which and why."},
    423: {"model": ErrorBody, "description": "Verification is locked for this account."},
    429: {"model": ErrorBody, "description": "Too many one-time codes are valid for this call already."},
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def unauthenticated(message: str = "send a valid agent token as 'Authorization: Bearer <token>'") -> ApiError:
    return ApiError(401, "unauthenticated", message)


def forbidden(code: str, message: str) -> ApiError:
    return ApiError(403, code, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def error_response(request: Request, status: int, code: str, message: str) -> JSONResponse:
    request.state.error_code = code
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": code, "message": mask_card_numbers(message)}, status_code=status, headers=headers)


def unavailable(request: Request) -> JSONResponse:
    response = error_response(request, 503, "unavailable", "the service cannot reach its database; try again shortly")
    response.headers["Retry-After"] = "1"
    return response


def failure_response(request: Request, exc: Exception) -> JSONResponse:
    """The answer to an exception no handler took: 503 when the database (or the network to it) is down, which is
    not the request's fault, else 500. Logged here, with the traceback for a 500."""
    if isinstance(exc, TRANSIENT_ERRORS):
        log.warning("api dependency unavailable", error=repr(exc), path=request.url.path)
        return unavailable(request)
    log.error("api request failed", exc_info=exc, path=request.url.path)
    return error_response(request, 500, "internal_error", "the request failed on our side; it was logged")


def readable_validation(exc: RequestValidationError) -> str:
    """'body.outcome: Input should be 'resolved', 'follow_up' or 'transferred'; body.pin: Field required'."""
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is malformed"


_STATUS_CODES = {404: "not_found", 405: "method_not_allowed"}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, 422, "malformed_request", readable_validation(exc))

    @app.exception_handler(TaskNotFound)
    async def _task_not_found(request: Request, exc: TaskNotFound) -> JSONResponse:
        return error_response(request, 404, "not_found", str(exc))

    @app.exception_handler(TaskConflict)
    async def _task_conflict(request: Request, exc: TaskConflict) -> JSONResponse:
        return error_response(request, 409, "conflict", str(exc))

    # No handler for Exception here: Starlette hands that one to its ServerErrorMiddleware, which re-raises after
    # answering, and uvicorn then drops the keep-alive connection. billing.entrypoints.api.audit answers 500 and 503 instead.

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's answer to a body json.loads cannot read: not UTF-8, or nested past Python's recursion limit.
            return error_response(request, 422, "malformed_request", "the body is not JSON this API can read")
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        message = "no such route" if exc.status_code == 404 else str(exc.detail)
        return error_response(request, exc.status_code, code, message)
