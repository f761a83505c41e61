"""The error shape of the OpenAI HTTP API."""

from __future__ import annotations

from typing import Any

# Error `type` the real API uses for a given HTTP status.
_TYPE_BY_STATUS = {
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    429: "requests",
}


def error_type_for(status: int) -> str:
    if status >= 500:
        return "server_error"
    return _TYPE_BY_STATUS.get(status, "invalid_request_error")


class ApiError(Exception):
    """An error answered to the client as `{"error": {...}}` with an HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str | None = None,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type or error_type_for(status)
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, message, param=param)


def not_found(kind: str, object_id: str) -> ApiError:
    return ApiError(404, f"No {kind} found with id '{object_id}'.")


def server_error() -> ApiError:
    return ApiError(500, "The server had an error while processing your request. Sorry about that!")


def missing(param: str) -> ApiError:
    return bad_request(f"Missing required parameter: '{param}'.", param)


def simulated_status(status: int) -> ApiError:
    """The answer a scenario's ``http_status`` asks for (429 carries the rate-limit code, as the API's)."""
    code = "rate_limit_exceeded" if status == 429 else None
    return ApiError(status, f"Simulated HTTP {status} (scenario http_status).", code=code)
