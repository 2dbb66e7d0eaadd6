"""Errors the server answers with, in OpenAI's envelope and with OpenAI's code strings."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from chatgauge.server._faults import Fault

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"


class ApiError(Exception):
    """A request the server refuses: ``status`` and the four envelope fields.

    The envelope is ``{"error": {"message", "type", "param", "code"}}`` with all four keys
    always present (``param`` and ``code`` may be null), as OpenAI sends it.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        error_type: str = INVALID_REQUEST,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.error_type = error_type
        self.headers: Mapping[str, str] = headers or {}

    def error_object(self) -> dict[str, Any]:
        """The inner object of the envelope."""
        return {
            "message": self.message,
            "type": self.error_type,
            "param": self.param,
            "code": self.code,
        }


def render_error(error: ApiError, faults: frozenset[str]) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body bytes for ``error``, with the error-related faults applied."""
    status = error.status
    headers = dict(error.headers)
    if status == 400 and Fault.SERVER_ERROR_ON_INVALID in faults:
        error = ApiError(
            500, "The server had an error while processing your request.", error_type=SERVER_ERROR
        )
        status = 500
    inner = error.error_object()
    if Fault.ERROR_MISSING_PARAM_KEY in faults:
        del inner["param"]
    body: dict[str, Any] = inner if Fault.FLAT_ERROR in faults else {"error": inner}
    if status == 400 and Fault.ERROR_AS_200 in faults:
        status = 200
    if status == 429 and Fault.NO_RETRY_AFTER in faults:
        headers.pop("Retry-After", None)
    headers["Content-Type"] = "application/json"
    return status, headers, json.dumps(body).encode()
