"""Reading API objects the same way whether they arrive as SDK models or as raw JSON dicts.

Every reader tolerates missing fields and wrong types: a response we cannot understand is
simply not described, it never breaks the app.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
    return as_text(get(obj, name))


def integer(obj: Any, name: str) -> int | None:
    return as_int(get(obj, name))


def as_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def present(values: dict[str, Any]) -> dict[str, Any]:
    """The entries that have a value."""
    return {key: value for key, value in values.items() if value is not None}


class _Attributes:
    """Attribute reads behind the mapping interface, for objects that are neither."""

    __slots__ = ("_obj",)

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def get(self, name: str, default: Any = None) -> Any:
        value = get(self._obj, name)
        return default if value is None else value


# Which classes are SDK models (pydantic v1 and v2), which keep their fields in the instance __dict__.
_models: dict[type, bool] = {}


def is_model(obj: Any) -> bool:
    """An SDK model (an API object), as opposed to a raw response, a stream or a plain value. A
    model answers an attribute it lacks slowly (pydantic raises inside ``__getattr__``), so
    asking this first spares the request path those misses."""
    cls = type(obj)
    known = _models.get(cls)
    if known is None:
        known = _models[cls] = hasattr(cls, "model_fields") or hasattr(cls, "__fields__")
    return known


def view(obj: Any) -> Mapping[str, Any] | _Attributes:
    """An object's fields for reading many of them at once: a dict as it is, an SDK model's own
    field storage (one dict lookup per field instead of an attribute read), attribute reads
    for anything else."""
    if isinstance(obj, dict):
        return obj
    model = _models.get(type(obj))  # is_model(), inline: this runs on every run object read
    if model is None:
        model = is_model(obj)
    if model:
        stored = getattr(obj, "__dict__", None)
        # Fields outside the model's declaration (pydantic v2 keeps them apart) are read by
        # attribute: openai 1.x builds an event it does not know as another event's model, with
        # the run's fields all undeclared.
        if isinstance(stored, dict) and not getattr(obj, "__pydantic_extra__", None):
            return stored
    return _Attributes(obj)


def number(obj: Any, name: str) -> float | None:
    return as_number(get(obj, name))


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
