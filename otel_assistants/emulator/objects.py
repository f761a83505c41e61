"""Builders for API objects shared by the endpoints and the run engine."""

from __future__ import annotations

from typing import Any

from .errors import bad_request
from .store import JsonObject, new_id, now


def text_part(value: str) -> JsonObject:
    return {"type": "text", "text": {"value": value, "annotations": []}}


def normalize_content(content: Any, param: str = "content") -> list[JsonObject]:
    """Message content as stored: the API accepts a string or a list of typed parts."""
    if isinstance(content, str):
        return [text_part(content)]
    if not isinstance(content, list) or not content:
        raise bad_request(f"Invalid value for '{param}': expected a string or a non-empty array.", param)
    parts: list[JsonObject] = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") not in ("text", "image_file", "image_url"):
            raise bad_request(f"Invalid content part in '{param}'.", param)
        if part["type"] == "text":
            text = part.get("text")
            parts.append(text_part(text if isinstance(text, str) else str(text)))
        else:
            parts.append(dict(part))
    return parts


def new_message(
    thread_id: str,
    *,
    role: str,
    content: list[JsonObject],
    attachments: list[Any] | None = None,
    metadata: dict[str, Any] | None = None,
    run_id: str | None = None,
    assistant_id: str | None = None,
    status: str = "completed",
) -> JsonObject:
    return {
        "id": new_id("msg_"),
        "object": "thread.message",
        "created_at": now(),
        "thread_id": thread_id,
        "status": status,
        "incomplete_details": None,
        "completed_at": None,
        "incomplete_at": None,
        "role": role,
        "content": content,
        "assistant_id": assistant_id,
        "run_id": run_id,
        "attachments": attachments or [],
        "metadata": metadata or {},
    }


def message_from_request(thread_id: str, body: Any, param: str = "messages") -> JsonObject:
    if not isinstance(body, dict):
        raise bad_request(f"Invalid value for '{param}': expected an object.", param)
    role = body.get("role")
    if role not in ("user", "assistant"):
        raise bad_request(f"Invalid value for '{param}.role': expected 'user' or 'assistant'.", f"{param}.role")
    if "content" not in body:
        raise bad_request(f"Missing required parameter: '{param}.content'.", f"{param}.content")
    return new_message(
        thread_id,
        role=role,
        content=normalize_content(body["content"], f"{param}.content"),
        attachments=body.get("attachments"),
        metadata=body.get("metadata"),
    )


def deleted(object_id: str, kind: str) -> JsonObject:
    return {"id": object_id, "object": kind, "deleted": True}
