"""The one choke point: the SDK base client's ``request`` method, sync and async.

Every Assistants surface ends in exactly one call of ``request`` per logical API request
(retries happen inside it), with the method and relative path in its options. Here each call
is routed to an operation (routes.py) and that operation's hooks (operations.py) are called
around it; what the request returned is classified once (sdk_results.py). The app's call always
runs exactly once and its result or exception is passed back untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from time import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from . import attributes as a
from . import fields as f
from .error_reasons import error_reason
from .failsafe import failsafe, report
from .operations import DEFAULT, HOOKS, Call
from .parse_later import observe_parse
from .routes import route
from .runstate import ClientInfo
from .sdk_results import STREAM_SHAPES, Shape, classify, payload
from .shutdown import ShutdownHook
from .spans import mark_exception, now_ns, seconds_between, set_present
from .streams import drain_dropped, dropped_observers, observe_run_stream
from .telemetry import Telemetry
from .tracker import RunTracker

CLIENT_CACHE = 256  # distinct client base URLs remembered

try:  # the keys opentelemetry-instrumentation's is_instrumentation_enabled() reads (0.48b0 to now)
    from opentelemetry.instrumentation.utils import _SUPPRESS_INSTRUMENTATION_KEY as _SUPPRESS
    from opentelemetry.instrumentation.utils import _SUPPRESS_INSTRUMENTATION_KEY_PLAIN as _SUPPRESS_PLAIN

    def suppressed() -> bool:
        """suppress_instrumentation() is in force: one context read where the helper makes four."""
        current = otel_context.get_current()
        return bool(current.get(_SUPPRESS) or current.get(_SUPPRESS_PLAIN))
except ImportError:  # a release that moved them: the public helper
    from opentelemetry.instrumentation.utils import is_instrumentation_enabled

    def suppressed() -> bool:
        return not is_instrumentation_enabled()


class Interceptor:
    def __init__(self, tracker: RunTracker, telemetry: Telemetry, azure_types: tuple[type, ...],
                 shutdown_hook: ShutdownHook, propagate_context: bool = False) -> None:
        # What the operation hooks use.
        self.tracker = tracker
        self.shutdown_hook = shutdown_hook
        self.propagate = propagate_context
        self._telemetry = telemetry
        self._azure_types = azure_types
        # (client class, id of its base URL) -> (that URL, what it says): a client's URL rarely
        # changes, so it is read once. The URL is held so that its id is not reused.
        self._clients: dict[tuple[type, int], tuple[Any, ClientInfo]] = {}

    # wrapt wrappers ------------------------------------------------------------------------

    def sync_request(self, wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        call = self._begin(instance, args, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as error:
            self._failed(call, error)
            raise
        finally:
            if call.token is not None:
                self._detach(call)
        return self._succeeded(call, result)

    async def async_request(self, wrapped: Callable[..., Awaitable[Any]], instance: Any, args: tuple,
                            kwargs: dict) -> Any:
        call = self._begin(instance, args, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as error:
            self._failed(call, error)
            raise
        finally:
            if call.token is not None:
                self._detach(call)
        return self._succeeded(call, result)

    # before the request ----------------------------------------------------------------------

    def _begin(self, instance: Any, args: tuple, kwargs: dict) -> Call | None:
        # The guard of failsafe.py, written out: this runs on every request the app makes.
        try:
            if suppressed():
                return None
            if dropped_observers:
                drain_dropped()  # streams collected inside a garbage collection end here, outside any lock
            options = args[1] if len(args) > 1 else kwargs.get("options")
            target = route(getattr(options, "method", None), getattr(options, "url", None))
            if target is None:
                return None
            tracker = self.tracker
            if time() >= tracker.next_sweep:  # sweep()'s own test, spared its call on most requests
                tracker.sweep()
            hooks = HOOKS.get(target.operation, DEFAULT)
            body = getattr(options, "json_data", None)
            call = Call(target, hooks, self._client_info(instance), body if isinstance(body, dict) else {},
                        kwargs.get("stream") is True, instance, options)
            hooks.before(self, call)
            return call
        except Exception as error:
            report("Interceptor._begin", error)
            return None

    def _client_info(self, instance: Any) -> ClientInfo:
        cls = type(instance)
        url = getattr(instance, "base_url", None)
        key = (cls, id(url))
        known = self._clients.get(key)
        if known is not None and known[0] is url:
            return known[1]
        provider = a.PROVIDER_AZURE if issubclass(cls, self._azure_types) else a.PROVIDER_OPENAI
        address = port = None
        if url is not None:
            address = getattr(url, "host", None) or None
            port = getattr(url, "port", None)
            if port is None:
                port = 443 if getattr(url, "scheme", "https") == "https" else 80
        info = ClientInfo(provider, address, port)
        if len(self._clients) >= CLIENT_CACHE:
            self._clients.clear()
        self._clients[key] = (url, info)
        return info

    def open_operation(self, call: Call, *, retroactive: bool = False) -> Span:
        """The request's CLIENT span, made current; ``retroactive``: started at the request's
        start, once its answer showed it is a plain operation (not made current then)."""
        target, body, hooks = call.route, call.body, call.hooks
        name = target.operation
        agent_name = hooks.agent_name(call)
        if agent_name:
            name = f"{name} {agent_name}"
        if retroactive:
            parent = call.parent
        else:
            parent = self.tracker.context_for(target.run_id)  # run operations are children of the run
            call.start_ns = now_ns()
        span = call.span = self._telemetry.tracer.start_span(
            name, context=parent, kind=SpanKind.CLIENT, start_time=call.start_ns,
            attributes=f.present({
                a.OPERATION_NAME: target.operation,
                a.PROVIDER_NAME: call.client.provider,
                a.AGENT_ID: target.assistant_id or f.as_text(body.get("assistant_id")),
                a.AGENT_NAME: agent_name,
                a.REQUEST_MODEL: hooks.request_model(call),
                a.CONVERSATION_ID: target.thread_id,
                a.RUN_ID: target.run_id,
                a.RUN_STEP_ID: target.step_id,
                a.MESSAGE_ID: target.message_id,
                a.DATA_SOURCE_ID: target.vector_store_id,
                a.FILE_ID: target.file_id,
                a.SERVER_ADDRESS: call.client.address,
                a.SERVER_PORT: call.client.port,
            }),
        )
        capture = self.tracker.capture
        if capture.enabled and span.is_recording():
            captured = hooks.captured_request(self, call)
            if captured:
                capture.record(span, captured)
        if not retroactive:
            call.token = otel_context.attach(trace.set_span_in_context(span))
        return span

    # after the request -----------------------------------------------------------------------

    @staticmethod
    def _detach(call: Call) -> None:
        """Called when ``call.token`` is set."""
        try:
            otel_context.detach(call.token)  # type: ignore[arg-type]
        except Exception as error:
            report("detach", error)
        call.token = None

    @failsafe()
    def _failed(self, call: Call, error: BaseException) -> None:
        if not isinstance(error, Exception):  # KeyboardInterrupt and friends: the run's fate is unknown
            if call.span is not None:
                call.span.end()
            return
        call.hooks.failed(self, call, error)
        if call.span is not None:
            reason = error_reason(error, self._telemetry.error_codes)
            self._end_operation(call, mark_exception(call.span, error, reason), reason)

    def _succeeded(self, call: Call, result: Any) -> Any:
        """Hand the result to the operation's hooks; returns it, a stream behind its proxy."""
        try:
            hooks = call.hooks
            if hooks.accepts:
                hooks.accepted(self, call)
            shape = classify(result)
            if shape is Shape.MODEL:
                self._observe(call, result)
            elif call.stream and shape in STREAM_SHAPES:
                result = self._observe_stream(call, result, shape)
            elif shape is Shape.UNREAD_RESPONSE:  # with_streaming_response: seen when parsed
                result = observe_parse(result, lambda parsed: self._observe(call, parsed))
            else:
                self._observe(call, payload(result, shape))
        except Exception as error:
            report("observe", error)
        finally:
            if call.span is not None:
                try:
                    self._end_operation(call, None)
                except Exception as error:
                    report("end_operation", error)
        return result

    def _observe_stream(self, call: Call, result: Any, shape: Shape) -> Any:
        """A run-event stream, or the raw / streaming response whose ``parse()`` makes one: handed
        back behind a transparent proxy that shows the events to the tracker."""
        run = call.run or call.followed or self.tracker.state_for(call.route.run_id)
        if run is None:
            return result
        self.tracker.mark_streamed(run)
        start = call.run.start_ns if call.run is not None else call.start_ns
        return observe_run_stream(self.tracker, run, start, result, shape)

    def _observe(self, call: Call, answer: Any) -> None:
        if answer is None:
            return
        hooks = call.hooks
        hooks.answered(self, call, answer)
        span = call.span
        if span is None:
            return
        if hooks.created is not None:  # the id the create answered with
            set_present(span, {hooks.created: f.text(answer, "id")})
        capture = self.tracker.capture
        if capture.enabled:
            captured = hooks.captured_answer(self, call, answer)
            if captured:
                capture.record(span, captured)

    def _end_operation(self, call: Call, error_type: str | None, reason: str | None = None) -> None:
        span = call.span
        assert span is not None
        end = now_ns()
        if self._telemetry.content.emits:
            self._telemetry.content.flush(span, end)
        span.end(end_time=end)
        if not self._telemetry.metered:
            return
        attributes = {a.OPERATION_NAME: call.route.operation, a.PROVIDER_NAME: call.client.provider}
        model = call.hooks.request_model(call)
        if model is not None:
            attributes[a.REQUEST_MODEL] = model
        if error_type is not None:
            attributes[a.ERROR_TYPE] = error_type
            if reason is not None:
                attributes[a.ERROR_REASON] = reason
        if call.client.address is not None:
            attributes[a.SERVER_ADDRESS] = call.client.address
        self._telemetry.operation_duration.record(seconds_between(call.start_ns, end),
                                                  self._telemetry.capped(attributes))
