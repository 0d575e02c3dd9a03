"""Errors of the client: the server's answer (status, stable code, message) or no answer at all."""

from __future__ import annotations

from typing import Any, Optional


class DiffusekitError(Exception):
    """Base class of this client's errors."""


class ApiError(DiffusekitError):
    """An error answer of the server (HTTP 4xx/5xx, or a job that ended in error).

    ``code`` is the server's stable error code (``unauthorized``, ``too_many_jobs``, ``invalid_request``,
    ``cancelled``, ``ERR_INVALID_ARG`` ...); ``job_id`` is set when the error is a job's.
    """

    def __init__(self, status: int, code: str, message: str, *, job_id: Optional[int] = None, body: Any = None, retry_after: Optional[float] = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.job_id = job_id
        self.body = body
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"ApiError(status={self.status}, code={self.code!r}, message={self.message!r})"


class DiffusekitConnectionError(DiffusekitError):
    """The server could not be reached, or its answer is not the API's JSON."""


def api_error(status: int, body: Any, retry_after: Optional[str] = None) -> ApiError:
    """The typed error for an error answer: code from the body, else cancelled/expired flags, else http_<status>."""
    data = body if isinstance(body, dict) else {}
    code = data.get("code")
    if not isinstance(code, str):
        code = "cancelled" if data.get("cancelled") else "output_expired" if data.get("expired") else f"http_{status}"
    message = data.get("message") if isinstance(data.get("message"), str) else f"HTTP {status}"
    job_id = data.get("id") if isinstance(data.get("id"), int) else None
    retry: Optional[float] = None
    try:
        retry = float(retry_after) if retry_after else None
    except ValueError:
        retry = None
    return ApiError(status, code, message, job_id=job_id, body=body, retry_after=retry)
