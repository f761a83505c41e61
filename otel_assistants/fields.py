"""Reading API objects the same way whether they arrive as SDK models or as raw JSON dicts.

Every reader tolerates missing fields and wrong types: a response we cannot understand is
simply not described, it never breaks the app.
"""

from __future__ import annotations

import json
from typing import Any


def get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    try:
        return getattr(obj, name, None)
    except Exception:  # a model with a broken property
        return None


def text(obj: Any, name: str) -> str | None:
    value = get(obj, name)
    return value if isinstance(value, str) and value else None


def integer(obj: Any, name: str) -> int | None:
    value = get(obj, name)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def number(obj: Any, name: str) -> float | None:
    value = get(obj, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def items(obj: Any, name: str) -> list[Any]:
    value = get(obj, name)
    return list(value) if isinstance(value, (list, tuple)) else []


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def decode_json(raw: bytes | str | None) -> Any:
    """The JSON body of a raw response, or None when it is not JSON."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError):
        return None
