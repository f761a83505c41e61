"""The guard between the app and the instrumentation: an error in here is logged once and swallowed."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger("otel_assistants")

_reported: set[str] = set()
_reported_lock = threading.Lock()

F = TypeVar("F", bound=Callable[..., Any])


def report(where: str, error: BaseException) -> None:
    """Log an internal failure the first time it happens at ``where``; later ones only at debug level."""
    with _reported_lock:
        first = where not in _reported
        _reported.add(where)
    if first:
        logger.warning("otel_assistants: internal error in %s ignored; the app is unaffected", where,
                       exc_info=error)
    else:
        logger.debug("otel_assistants: internal error in %s ignored", where, exc_info=error)


def failsafe(default: Any = None) -> Callable[[F], F]:
    """Decorate an instrumentation entry point so that no exception of ours can reach the app."""

    def decorate(function: F) -> F:
        where = function.__qualname__

        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except Exception as error:  # the whole point: nothing escapes into the app
                report(where, error)
                return default

        return guarded  # type: ignore[return-value]

    return decorate
