"""An SDK exception to ``openai.assistants.error.reason`` (contract 2.8): a closed set of values.

Only the error answers Assistants apps meet most get a name of their own; any other answer is known
by the API's own ``code`` (held to 50 distinct values per ``instrument()``), else ``_OTHER``. Free
text never becomes a value. Runs only for failed requests, with plain string tests (no regular
expression that could backtrack on a hostile message).

What the SDK hands over (openai-python ``_client.py::_make_status_error`` and
``_exceptions.py::APIError.__init__``, the same from v1.21.0 to 3.x): ``status_code`` is the HTTP
status, and ``body`` is the *inner* error object ``{"message", "type", "param", "code"}`` of the
answer ``{"error": {...}}``; a body without ``"error"`` (e.g. FastAPI's ``{"detail": ...}``) is
handed over whole, and a non-JSON body is a str. An ``error`` event inside a 200 event stream is
raised as a bare ``openai.APIError`` with no status and that inner object as ``body``
(``_streaming.py``, v1.21.0 to 3.x).

Requests that got no answer at all (connection errors, timeouts: ``openai.APIConnectionError``,
whose ``body`` is None) and exceptions raised by the SDK before sending (e.g. its ``ValueError``
for an empty ``batch_id``) get no reason: there was no answer to classify, and ``error.type``
already names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import attributes as a
from .failsafe import failsafe
from .spans import http_status_of
from .telemetry import CappedValues

THREAD_HAS_ACTIVE_RUN = "thread_has_active_run"
UNSUPPORTED_PARAMETER = "unsupported_parameter"
INVALID_BATCH_ID = "invalid_batch_id"
NO_FILES_PROVIDED = "no_files_provided"
NOT_FOUND = "not_found"
RATE_LIMITED = "rate_limited"

# The reasons with a name of their own (each has a runbook page under docs/runbooks/errors/).
NAMED = frozenset({THREAD_HAS_ACTIVE_RUN, UNSUPPORTED_PARAMETER, INVALID_BATCH_ID, NO_FILES_PROVIDED, NOT_FOUND,
                   RATE_LIMITED})

# Only the head of a message is read: every pattern below is found in its first sentence.
MESSAGE_HEAD = 300
# An API code is an identifier; anything longer or with other characters is not taken as one.
CODE_MAX_LENGTH = 64
_CODE_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def _active_run(message: str) -> bool:
    # messages.create on a busy thread: "Can't add messages to thread_... while a run run_... is
    # active." (openai/openai-python#1023, openai/openai-dotnet#87); runs.create on it: "Thread
    # thread_... already has an active run run_..." (openai/openai-dotnet#214, TripSit/TripBot#939).
    # Both come with code null, so only the text tells them.
    return ("already has an active run" in message
            or (message.startswith("Can't add messages to ") and " while a run " in message))


def _unsupported_parameter(message: str, code: Any) -> bool:
    # A reasoning model given temperature/top_p: code unsupported_parameter, param the setting; an
    # assistant whose stored temperature meets such a model answers the same text with param
    # "model" and code unsupported_model (openai/openai-python#2072, RageAgainstThePixel/
    # OpenAI-DotNet#431, openai/openai-node#1318), hence the text as well as the code.
    return code == UNSUPPORTED_PARAMETER or message.startswith("Unsupported parameter")


def _invalid_batch_id(message: str, body: Mapping[str, Any]) -> bool:
    # The API's id-prefix check, seen for assistant_id and thread_id (openai/openai-node#1545):
    # "Invalid 'thread_id': '...'. Expected an ID that begins with 'thread'.", code invalid_value,
    # param the path parameter. The batch_id case is the same check on the file-batch paths.
    return message.startswith("Invalid 'batch_id'") or (
        body.get("param") == "batch_id" and body.get("code") == "invalid_value")


def _no_files_provided(message: str) -> bool:
    # The contract's text; the Node SDK raises the backtick form client-side since v4.52.5
    # ("No `files` provided to process. ...", openai-node src/lib/vector-store-upload.ts).
    return message.startswith("No 'files' provided to process") or message.startswith(
        "No `files` provided to process")


def _message(body: Mapping[str, Any]) -> str:
    message = body.get("message")
    return message[:MESSAGE_HEAD] if isinstance(message, str) else ""


def api_code(code: Any) -> str | None:
    """The body's ``code`` when it is a short identifier (never free text)."""
    if not isinstance(code, str) or not code or len(code) > CODE_MAX_LENGTH:
        return None
    return code if _CODE_CHARACTERS.issuperset(code) else None


@failsafe()  # a body this cannot read costs the reason only: error.type and the span's end still follow
def error_reason(error: BaseException, codes: CappedValues) -> str | None:
    """The reason of a failed request, or None when it got no error answer to classify.
    ``codes`` holds the API codes given so far to their cap."""
    status = http_status_of(error)
    body = getattr(error, "body", None)
    if status is None:
        if body is None:  # no answer: connection error, timeout, or not an API error at all
            return None
    elif status < 400:  # an answer that was not an error (e.g. one that failed validation)
        return None
    elif status == 404:
        return NOT_FOUND
    elif status == 429:
        return RATE_LIMITED
    if not isinstance(body, Mapping):  # text, or JSON that is not an object
        return a.OTHER_VALUE
    inner = body.get("error")
    if isinstance(inner, Mapping):  # a body handed over whole, as an SDK that did not unwrap it would
        body = inner
    code = body.get("code")
    if status == 400:
        message = _message(body)
        if _active_run(message):
            return THREAD_HAS_ACTIVE_RUN
        if _unsupported_parameter(message, code):
            return UNSUPPORTED_PARAMETER
        if _invalid_batch_id(message, body):
            return INVALID_BATCH_ID
        if _no_files_provided(message):
            return NO_FILES_PROVIDED
    own = api_code(code)
    if own is None:
        return a.OTHER_VALUE
    return codes.for_metrics(own) or a.OTHER_VALUE
