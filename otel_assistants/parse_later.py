"""Responses whose body is read only when the app parses them (``Shape.UNREAD_RESPONSE``).

Such a response is handed back behind a transparent proxy whose ``parse()`` shows the parsed
object to the tracker, the same way a response read at once is shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wrapt import ObjectProxy

from .failsafe import report
from .sdk_results import parses_async


def observe_parse(response: Any, on_parsed: Callable[[Any], None]) -> Any:
    if parses_async(type(response)):
        return AsyncParsedLater(response, on_parsed)
    return ParsedLater(response, on_parsed)


def _show(on_parsed: Callable[[Any], None], parsed: Any) -> None:
    try:
        on_parsed(parsed)
    except Exception as error:
        report("parsed_later", error)


class ParsedLater(ObjectProxy):  # type: ignore[misc]
    def __init__(self, wrapped: Any, on_parsed: Callable[[Any], None]) -> None:
        super().__init__(wrapped)
        self._self_on_parsed = on_parsed

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        parsed = self.__wrapped__.parse(*args, **kwargs)
        _show(self._self_on_parsed, parsed)
        return parsed


class AsyncParsedLater(ObjectProxy):  # type: ignore[misc]
    def __init__(self, wrapped: Any, on_parsed: Callable[[Any], None]) -> None:
        super().__init__(wrapped)
        self._self_on_parsed = on_parsed

    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        parsed = await self.__wrapped__.parse(*args, **kwargs)
        _show(self._self_on_parsed, parsed)
        return parsed
