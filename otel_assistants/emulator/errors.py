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


def simulated_status(status: int, code: str | None = None) -> ApiError:
    """The answer a scenario's ``http_status`` asks for, with ``code`` (scenario ``http_code``) in
    its body; without one, 429 carries the rate-limit code, as the API's does."""
    if code is None and status == 429:
        code = "rate_limit_exceeded"
    return ApiError(status, f"Simulated HTTP {status} (scenario http_status).", code=code)


# --- the answers the real API gives for the errors Assistants apps meet most (contract 2.8) ---

def thread_has_active_run(thread_id: str, run_id: str, *, adding_message: bool) -> ApiError:
    """A message or a run created on a thread whose run is still active. Both texts come with
    code null (openai/openai-python#1023, srosro/deepspring-shellmate#135, openai/openai-dotnet#214)."""
    if adding_message:
        return bad_request(f"Can't add messages to {thread_id} while a run {run_id} is active.")
    return bad_request(f"Thread {thread_id} already has an active run {run_id}.")


# Model families that take no sampling settings (temperature, top_p) other than their default.
REASONING_MODELS = ("o1", "o3", "o4", "gpt-5")
SAMPLING_SETTINGS = ("temperature", "top_p")
SAMPLING_DEFAULT = 1.0


def _unsupported_parameter(setting: str, param: str, code: str) -> ApiError:
    return ApiError(400, f"Unsupported parameter: '{setting}' is not supported with this model.", param=param,
                    code=code)


def check_sampling(model: Any, sent: dict[str, Any], stored: dict[str, Any] | None = None) -> None:
    """Refuse sampling settings a reasoning model does not take: one ``sent`` in the request
    (param the setting, code unsupported_parameter: the chat API's confirmed body, seen on
    runs.create in openai/openai-node#1318), or one ``stored`` on an assistant that meets such a
    model (the same text with param "model" and code unsupported_model: RageAgainstThePixel/
    OpenAI-DotNet#431, openai/openai-python#2072). The default value (1) is taken, as the API takes it."""
    if not isinstance(model, str) or not model.startswith(REASONING_MODELS):
        return
    for setting in SAMPLING_SETTINGS:
        value = sent.get(setting)
        if value is not None and value != SAMPLING_DEFAULT:
            raise _unsupported_parameter(setting, setting, "unsupported_parameter")
    for setting in SAMPLING_SETTINGS:
        if stored is not None and sent.get(setting) is None and stored.get(setting) not in (None, SAMPLING_DEFAULT):
            raise _unsupported_parameter(setting, "model", "unsupported_model")


BATCH_PREFIX = "vsfb_"


def check_batch_id(batch_id: str) -> None:
    """A batch id that is not one (a vector store id, say). The API's id-prefix check, confirmed for
    assistant_id and thread_id (openai/openai-node#1545); this exact batch_id text is inferred from it."""
    if not batch_id.startswith(BATCH_PREFIX):
        raise ApiError(400, f"Invalid 'batch_id': '{batch_id}'. Expected an ID that begins with 'vsfb'.",
                       param="batch_id", code="invalid_value")


def no_files_provided() -> ApiError:
    """A file batch with no files. The contract's text: what the real API answers is not known (the
    Python SDK sends ``{"file_ids": []}`` unchecked; the text is the Node SDK's client-side error of
    v4.37.0, openai-node commit 0a1234dd), so this answer is inferred, not observed."""
    return bad_request("No 'files' provided to process.", "file_ids")
