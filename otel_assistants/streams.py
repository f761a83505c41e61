"""Streams: the SDK's stream object, observed in place by a transparent proxy.

The proxy passes every event through unchanged (``isinstance``, ``close()``, context managers and
attribute access all reach the real stream) and shows each one to the run tracker. Whatever way
the stream stops (its last event, an exception, ``close()``, leaving a ``with`` block, garbage
collection) the run learns of it once.
"""

from __future__ import annotations

from typing import Any

from wrapt import ObjectProxy

from .failsafe import report
from .tracker import RunState, RunTracker


class StreamObserver:
    """Feeds one stream's events to the tracker. Not a span owner: the tracker is."""

    __slots__ = ("_done", "_run", "_start_ns", "_tracker")

    def __init__(self, tracker: RunTracker, run: RunState | None, start_ns: int) -> None:
        self._tracker = tracker
        self._run = run
        self._start_ns = start_ns
        self._done = False

    def event(self, event: Any) -> None:
        try:
            run = self._run
            if run is None:
                return
            self._tracker.stream_event(run, getattr(event, "event", None), getattr(event, "data", None),
                                       self._start_ns)
        except Exception as error:
            report("stream_event", error)

    def finished(self, error: BaseException | None = None) -> None:
        """The stream stopped: at its end, by an exception, or given up early."""
        if self._done:
            return
        self._done = True
        try:
            if self._run is not None:
                self._tracker.stream_stopped(self._run, error=error)
        except Exception as failure:
            report("stream_stopped", failure)


def observe_run_stream(tracker: RunTracker, run: RunState | None, start_ns: int, stream: Any) -> Any:
    """Wrap a run-event stream (sync or async) so the tracker sees its events."""
    observer = StreamObserver(tracker, run, start_ns)
    if hasattr(stream, "__anext__"):
        return ObservedAsyncStream(stream, observer)
    return ObservedStream(stream, observer)


class ObservedStream(ObjectProxy):  # type: ignore[misc]
    def __init__(self, wrapped: Any, observer: StreamObserver) -> None:
        super().__init__(wrapped)
        self._self_observer = observer

    def __iter__(self) -> ObservedStream:
        return self

    def __next__(self) -> Any:
        try:
            event = self.__wrapped__.__next__()
        except StopIteration:
            self._self_observer.finished()
            raise
        except BaseException as error:
            self._self_observer.finished(error)
            raise
        self._self_observer.event(event)
        return event

    def __enter__(self) -> ObservedStream:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            self._self_observer.finished()

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            self._self_observer.finished()

    def __del__(self) -> None:
        observer = getattr(self, "_self_observer", None)
        if observer is not None:
            observer.finished()


class ObservedAsyncStream(ObjectProxy):  # type: ignore[misc]
    def __init__(self, wrapped: Any, observer: StreamObserver) -> None:
        super().__init__(wrapped)
        self._self_observer = observer

    def __aiter__(self) -> ObservedAsyncStream:
        return self

    async def __anext__(self) -> Any:
        try:
            event = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_observer.finished()
            raise
        except BaseException as error:
            self._self_observer.finished(error)
            raise
        self._self_observer.event(event)
        return event

    async def __aenter__(self) -> ObservedAsyncStream:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            self._self_observer.finished()

    async def close(self) -> Any:
        try:
            return await self.__wrapped__.close()
        finally:
            self._self_observer.finished()

    def __del__(self) -> None:
        observer = getattr(self, "_self_observer", None)
        if observer is not None:
            observer.finished()

