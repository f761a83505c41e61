"""Client classes whose own ``request`` hides the base client's, left there by another instrumentation.

The hook sits on ``SyncAPIClient.request`` / ``AsyncAPIClient.request``, which every client class
inherits. OpenInference's OpenAI instrumentation (openinference-instrumentation-openai 0.1.66)
wraps ``OpenAI.request`` and ``AsyncOpenAI.request`` instead, setting its wrapper on those classes;
when it is instrumented first, that attribute hides the base class's and the hook would never run
for any OpenAI or Azure client (its ``uninstrument()`` even leaves the plain function behind). So
each subclass whose own ``request`` is the SDK's base method under some wrapper gets the hook too.
The SDK itself never overrides ``request`` (openai 1.21 to 3.x), and a subclass's method that is
the app's own code is left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from wrapt import wrap_function_wrapper

from .interceptor import Interceptor


def _layers(method: Any) -> Iterator[Any]:
    """The method and everything under it, following wrapt's and functools' ``__wrapped__``."""
    seen: set[int] = set()
    while method is not None and id(method) not in seen:
        seen.add(id(method))
        yield method
        method = getattr(method, "__wrapped__", None)


def _innermost(method: Any) -> Any:
    last = method
    for last in _layers(method):  # noqa: B007 - the loop only walks down to the last layer
        pass
    return last


def shadowing_subclasses(base: type, hooked_by: Callable[[Any], bool]) -> list[type]:
    """Subclasses of ``base`` (at any depth) whose own ``request`` is ``base``'s original method,
    bare or wrapped, and does not already pass through a hook (``hooked_by`` tells a layer that is one)."""
    original = _innermost(base.__dict__["request"])
    found = []
    pending, seen = list(base.__subclasses__()), set()
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        pending.extend(cls.__subclasses__())
        own = cls.__dict__.get("request")
        if own is None:
            continue
        layers = list(_layers(own))
        if layers[-1] is original and not any(hooked_by(layer) for layer in layers):
            found.append(cls)
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def _is_hook(layer: Any) -> bool:
    wrapper = getattr(layer, "_self_wrapper", None)  # what wrapt calls, on its wrappers
    return isinstance(getattr(wrapper, "__self__", None), Interceptor)


def hook_shadowing_subclasses(interceptor: Interceptor) -> list[type]:
    """Put the interceptor's hooks on every client class that hides the base one; returns those classes."""
    from openai import _base_client

    hooked = []
    for base, hook in (
        (_base_client.SyncAPIClient, interceptor.sync_request),
        (_base_client.AsyncAPIClient, interceptor.async_request),
    ):
        for cls in shadowing_subclasses(base, _is_hook):
            wrap_function_wrapper(cls, "request", hook)
            hooked.append(cls)
    return hooked
