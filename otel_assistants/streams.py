"""Streams: the SDK's stream object, observed in place by a transparent proxy.

The proxy passes every event through unchanged (``isinstance``, ``close()``, context managers and
attribute access all reach the real stream) and shows each one to the run tracker. Whatever way
the stream stops (its last event, an exception, ``close()``, leaving a ``with`` block, garbage
collection) the run learns of it once.

``with_raw_response`` and ``with_streaming_response`` return a response object whose ``parse()``
makes the stream later; that response is handed back behind a proxy too, so the stream its
``parse()`` makes is observed the same way.

A proxy dropped without its stream being seen to stop tells the tracker from ``__del__``. Inside
a cyclic garbage collection that finalizer may run on any thread in the middle of any code,
including ours or an exporter's while they hold their locks, so there it only queues the
observer; the queue is drained on the next request through the choke point and at shutdown.
"""

from __future__ import annotations

import gc
import inspect
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any

from wrapt import ObjectProxy

from .failsafe import report
from .runstate import RunState
from .sdk_results import STREAM_SHAPES, Shape, is_event_stream, parses_async
from .tracker import RunTracker

_DELTA = "thread.message.delta"

# Observers whose proxy was collected inside a garbage collection, waiting for a safe moment.
dropped_observers: deque[StreamObserver] = deque()

# Open observers per run (keyed by id(run); the observers keep the run alive while counted):
# a run watched by two streams at once (a tool-output stream opened before the first one was
# closed) is left to the last one that stops.
_watchers: dict[int, int] = {}
_watchers_lock = threading.Lock()


class _Collection:
    """Whether the cyclic garbage collector is running (its finalizers must not do real work)."""

    running = False
    _hooked = False
    _lock = threading.Lock()

    @classmethod
    def hook(cls) -> None:
        if cls._hooked:
            return
        with cls._lock:
            if not cls._hooked:
                gc.callbacks.append(cls._callback)
                cls._hooked = True

    @classmethod
    def _callback(cls, phase: str, info: dict[str, Any]) -> None:
        cls.running = phase == "start"


def drain_dropped() -> None:
    """End the streams whose proxies were collected inside a garbage collection. Called where
    no lock of ours is held: the start of a request and shutdown."""
    while dropped_observers:
        try:
            observer = dropped_observers.popleft()
        except IndexError:  # another thread took the last one
            return
        observer.finished()


class StreamObserver:
    """Feeds one stream's events to the tracker. Not a span owner: the tracker is."""

    __slots__ = ("_pending", "_run", "_start_ns", "_tracker", "ignored")

    def __init__(self, tracker: RunTracker, run: RunState, start_ns: int) -> None:
        self._tracker = tracker
        # The events this stream passes by; message deltas join them after the first one (time
        # to first chunk), after which they tell the run nothing. The iterating loops read it too.
        self.ignored = set(tracker.ignored_stream_events)
        self._run = run
        self._start_ns = start_ns
        # One token, popped by whoever reports the stop first: list.pop is atomic, so exactly
        # one of several threads (or a finalizer) gets it, without a lock.
        self._pending = [True]

    def watch(self) -> None:
        """Count this stream among the run's watchers, once its proxy exists to report the stop."""
        with _watchers_lock:
            _watchers[id(self._run)] = _watchers.get(id(self._run), 0) + 1

    def event(self, event: Any) -> None:
        try:
            name = getattr(event, "event", None)
            if name in self.ignored:
                return
            if name == _DELTA:
                self.ignored.add(_DELTA)
            self._tracker.stream_event(self._run, name, getattr(event, "data", None), self._start_ns)
        except Exception as error:
            report("stream_event", error)

    def finished(self, error: BaseException | None = None) -> None:
        """The stream stopped: at its end, by an exception, or given up early."""
        try:
            self._pending.pop()
        except IndexError:
            return
        try:
            run = self._run
            with _watchers_lock:
                left = _watchers.get(id(run), 1) - 1
                if left > 0:
                    _watchers[id(run)] = left
                else:
                    _watchers.pop(id(run), None)
            if left > 0:
                return  # another stream still watches this run and will report
            # A cancelled task or an interrupt stops the stream, but says nothing about the run.
            failure = error if isinstance(error, Exception) else None
            self._tracker.stream_stopped(run, error=failure)
        except Exception as failure:
            report("stream_stopped", failure)

    def dropped(self) -> None:
        """The proxy carrying this stream was collected; called from ``__del__``, so it never raises."""
        try:
            if not self._pending:
                return
            if _Collection.running:
                dropped_observers.append(self)  # deque.append takes no lock: safe in a finalizer
            else:
                self.finished()
        except Exception:  # interpreter shutdown: module globals may already be gone
            return


def observe_run_stream(tracker: RunTracker, run: RunState, start_ns: int, result: Any, shape: Shape) -> Any:
    """Wrap a run-event stream (sync or async), or the raw response that will make one, so the
    tracker sees its events. Returns ``result`` itself when its shape is not one we know."""
    if shape is Shape.EVENT_STREAM:
        maker: Any = _stream_proxy
    elif shape in STREAM_SHAPES:
        maker = _response_proxy_class(result)
        if maker is None:
            return result
    else:
        return result
    _Collection.hook()
    observer = StreamObserver(tracker, run, start_ns)
    proxy = maker(result, observer)
    observer.watch()
    return proxy


def _stream_proxy(stream: Any, observer: StreamObserver) -> Any:
    # Asked of the class the stream reports: another instrumentation's proxy around a sync Stream may
    # define __anext__ as well (OpenInference's, openinference-instrumentation-openai 0.1.66).
    if not hasattr(stream.__class__, "__next__") and hasattr(stream, "__anext__"):
        return ObservedAsyncStream(stream, observer)
    return ObservedStream(stream, observer)


class ObservedStream(ObjectProxy):  # type: ignore[misc]
    def __init__(self, wrapped: Any, observer: StreamObserver) -> None:
        super().__init__(wrapped)
        self._self_observer = observer

    def __iter__(self) -> Iterator[Any]:
        # A generator of its own, as the SDK's __iter__ is: closing it (a `yield from` in an
        # event handler being collected) does not close the stream. The body repeats __next__
        # inline: this loop runs once per event.
        step = self.__wrapped__.__next__
        observer = self._self_observer
        see = observer.event
        ignored = observer.ignored  # most events (every delta after the first): passed by without a call
        while True:
            try:
                event = step()
            except StopIteration:
                observer.finished()
                return
            except BaseException as error:
                observer.finished(error)
                raise
            try:
                passed_by = getattr(event, "event", None) in ignored
            except Exception:  # an event of an odd shape: event() reports it
                passed_by = False
            if not passed_by:
                see(event)
            yield event

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
        try:
            self._self_observer.dropped()
        except Exception:  # an __init__ that never finished, or interpreter shutdown
            return


class ObservedAsyncStream(ObjectProxy):  # type: ignore[misc]
    def __init__(self, wrapped: Any, observer: StreamObserver) -> None:
        super().__init__(wrapped)
        self._self_observer = observer

    async def __aiter__(self) -> AsyncIterator[Any]:
        # As the SDK's: an async generator of its own, whose closing leaves the stream alone.
        step = self.__wrapped__.__anext__
        observer = self._self_observer
        see = observer.event
        ignored = observer.ignored
        while True:
            try:
                event = await step()
            except StopAsyncIteration:
                observer.finished()
                return
            except BaseException as error:
                observer.finished(error)
                raise
            try:
                passed_by = getattr(event, "event", None) in ignored
            except Exception:  # an event of an odd shape: event() reports it
                passed_by = False
            if not passed_by:
                see(event)
            yield event

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
        try:
            self._self_observer.dropped()
        except Exception:
            return


# ----- raw and streaming responses ----------------------------------------------------------------

def _response_proxy_class(response: Any) -> type | None:
    """The proxy matching the response's own API: ``parse`` sync or async, with or without ``close``."""
    cls = type(response)
    parse_is_async = parses_async(cls)
    close = getattr(cls, "close", None)
    if close is None:
        return None if parse_is_async else ObservedResponse
    if inspect.iscoroutinefunction(close):
        return ObservedAsyncResponse if parse_is_async else None
    return None if parse_is_async else ObservedClosableResponse


class ObservedResponse(ObjectProxy):  # type: ignore[misc]
    """A raw response to a run-event stream request; the stream its ``parse()`` makes is observed
    (one proxy per stream object, so parsing twice hands back the same proxy, as the SDK does)."""

    def __init__(self, wrapped: Any, observer: StreamObserver) -> None:
        super().__init__(wrapped)
        self._self_observer = observer
        self._self_streams: dict[int, Any] = {}

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        return _observed(self, self.__wrapped__.parse(*args, **kwargs))

    def __del__(self) -> None:
        # Once a stream was handed out, that stream's proxy reports when it goes.
        try:
            if not self._self_streams:
                self._self_observer.dropped()
        except Exception:
            return


class ObservedClosableResponse(ObservedResponse):
    """``with_streaming_response``: leaving its ``with`` block closes the response, and the stream."""

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            self._self_observer.finished()


class ObservedAsyncResponse(ObservedResponse):
    async def parse(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return _observed(self, await self.__wrapped__.parse(*args, **kwargs))

    async def close(self) -> Any:
        try:
            return await self.__wrapped__.close()
        finally:
            self._self_observer.finished()


def _observed(response: ObservedResponse, parsed: Any) -> Any:
    try:
        if not is_event_stream(parsed):
            return parsed
        streams = response._self_streams
        proxy = streams.get(id(parsed))  # the SDK caches what it parsed, so the id stays taken
        if proxy is None:
            proxy = streams[id(parsed)] = _stream_proxy(parsed, response._self_observer)
        return proxy
    except Exception as error:
        report("observe_parse", error)
        return parsed
