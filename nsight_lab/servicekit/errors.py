"""Domain errors that become one HTTP status each, with a body that says what to do.

State layers raise these without knowing about HTTP, so the same checks can run
inside a transaction; :func:`install_error_handlers` turns them, and FastAPI's
validation errors, into ``{"detail": "..."}`` answers.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


class ServiceError(Exception):
    status_code = 400

    def __init__(self, detail: str, status_code: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if status_code is not None:
            self.status_code = status_code


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409


class Invalid(ServiceError):
    status_code = 422


async def _service_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """One readable sentence per problem, naming the field, instead of FastAPI's list."""
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ()) if part not in ("body",)]
        where = ".".join(loc) or "request body"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return JSONResponse({"detail": "invalid request: " + "; ".join(problems)}, status_code=422)


async def _overflow(_request: Request, exc: Exception) -> JSONResponse:
    """A number past what the state files hold (SQLite: 64-bit) is the caller's error."""
    return JSONResponse(
        {"detail": "invalid request: a number is larger than 9223372036854775807 (2**63 - 1)"},
        status_code=422,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OverflowError, _overflow)
