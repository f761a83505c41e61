"""The one choke point: the SDK base client's ``request`` method, sync and async.

Every Assistants surface ends in exactly one call of ``request`` per logical API request
(retries happen inside it), with the method and relative path in its options. Here each call
is routed to an operation, given its span, and its result handed to the run tracker. The app's
call always runs exactly once and its result or exception is passed back untouched.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import Span, SpanKind

from . import attributes as a
from . import fields as f
from .failsafe import failsafe, report
from .propagation import write_traceparent
from .responses import observe_parse, unread_body
from .routes import Kind, Route, route
from .shutdown import ShutdownHook
from .spans import http_status_of, mark_exception, now_ns, set_present
from .streams import drain_dropped, is_event_stream, is_raw_response, observe_run_stream
from .telemetry import Telemetry
from .tracker import ClientInfo, RunState, RunTracker

CLIENT_CACHE = 256  # distinct client base URLs remembered
# Requests that act on a run: one this process does not follow yet is followed from them on.
RUN_ACTIONS = frozenset({"submit_tool_outputs", "cancel_run"})


class Call:
    """What the choke point knows about one request while it is in flight."""

    __slots__ = ("api", "began_following", "body", "client", "followed", "parent", "route", "run", "span",
                 "start_ns", "stream", "submitted", "token")

    def __init__(self, route: Route, client: ClientInfo, body: dict[str, Any], stream: bool, api: Any) -> None:
        self.route = route
        self.client = client
        self.body = body
        self.stream = stream
        self.api = api  # the app's client
        self.run: RunState | None = None  # the run this request creates
        self.followed: RunState | None = None  # the run this request acts on, when followed
        self.began_following = False  # this request made this process follow that run
        self.span: Span | None = None
        self.parent: Any = None  # a retrieve of a run not followed: where its span goes, if it gets one
        self.submitted: dict[str, Any] | None = None  # tool outputs sent (call id -> output)
        self.start_ns = 0
        self.token: object | None = None


class Interceptor:
    def __init__(self, tracker: RunTracker, telemetry: Telemetry, azure_types: tuple[type, ...],
                 shutdown_hook: ShutdownHook, propagate_context: bool = False) -> None:
        self._tracker = tracker
        self._shutdown_hook = shutdown_hook
        self._telemetry = telemetry
        self._azure_types = azure_types
        self._propagate = propagate_context
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
            self._detach(call)
        return self._succeeded(call, result)

    # before the request ----------------------------------------------------------------------

    @failsafe()
    def _begin(self, instance: Any, args: tuple, kwargs: dict) -> Call | None:
        if not is_instrumentation_enabled():
            return None
        drain_dropped()  # streams collected inside a garbage collection end here, outside any lock
        options = args[1] if len(args) > 1 else kwargs.get("options")
        target = route(getattr(options, "method", None), getattr(options, "url", None))
        if target is None:
            return None
        tracker = self._tracker
        tracker.sweep()
        body = f.mapping(getattr(options, "json_data", None))
        call = Call(target, self._client_info(instance), body, kwargs.get("stream") is True, instance)
        if target.kind is Kind.RUN_CREATE:
            self._shutdown_hook.follow()  # the app may have set its tracer provider since instrument()
            call.run = tracker.start(call.client, target.thread_id, body, instance)
            if self._propagate:
                write_traceparent(options, call.run.span)
            call.token = otel_context.attach(call.run.context)
            return call
        run_id = target.run_id
        followed = tracker.state_for(run_id)
        if target.kind is Kind.RUN_POLL:
            if followed is not None:
                # A poll: no span of its own; the run span is current so lower-level spans nest under it.
                call.followed = followed
                call.token = otel_context.attach(followed.context)
                return call
            if not tracker.has_ended(run_id):
                # Not followed yet: followed from now if the answer shows it unended, else it was a
                # plain look-up, whose span is made then, from what is known now.
                self._shutdown_hook.follow()
                call.start_ns = now_ns()
                call.parent = otel_context.get_current()
                return call
        elif run_id is not None and followed is None and target.operation in RUN_ACTIONS:
            self._shutdown_hook.follow()
            call.followed = tracker.follow(run_id, target.thread_id, call.client, instance)
            call.began_following = call.followed is not None
        if target.operation == "submit_tool_outputs":
            call.submitted = _submitted_outputs(body)
        call.span = self._start_operation(call)
        call.token = otel_context.attach(trace.set_span_in_context(call.span))
        return call

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

    def _start_operation(self, call: Call, *, retroactive: bool = False) -> Span:
        """The request's CLIENT span; ``retroactive``: started at the request's start, now that its
        answer showed it is a plain operation."""
        target, body = call.route, call.body
        name = target.operation
        agent_name = None
        if name == "create_agent":
            agent_name = body.get("name") if isinstance(body.get("name"), str) else None
            if agent_name:
                name = f"{name} {agent_name}"
        if retroactive:
            parent = call.parent
        else:
            parent = self._tracker.context_for(target.run_id)  # run operations are children of the run
            call.start_ns = now_ns()
        span = self._telemetry.tracer.start_span(
            name, context=parent, kind=SpanKind.CLIENT, start_time=call.start_ns,
            attributes={key: value for key, value in {
                a.OPERATION_NAME: target.operation,
                a.PROVIDER_NAME: call.client.provider,
                a.AGENT_ID: target.assistant_id or _text(body.get("assistant_id")),
                a.AGENT_NAME: agent_name,
                a.REQUEST_MODEL: _text(body.get("model")) if target.operation == "create_agent" else None,
                a.CONVERSATION_ID: target.thread_id,
                a.RUN_ID: target.run_id,
                a.RUN_STEP_ID: target.step_id,
                a.MESSAGE_ID: target.message_id,
                a.DATA_SOURCE_ID: target.vector_store_id,
                a.FILE_ID: target.file_id,
                a.SERVER_ADDRESS: call.client.address,
                a.SERVER_PORT: call.client.port,
            }.items() if value is not None},
        )
        capture = self._tracker.capture
        if capture.enabled and span.is_recording():
            if target.operation in ("create_agent", "update_agent"):
                capture.record(span, {a.SYSTEM_INSTRUCTIONS: capture.system_instructions(body.get("instructions"))})
            elif target.operation == "create_thread":
                capture.record(span, {a.INPUT_MESSAGES: capture.input_messages(body.get("messages"))})
            elif target.operation == "create_message":
                capture.record(span, {a.INPUT_MESSAGES: capture.input_messages([body])})
        return span

    # after the request -----------------------------------------------------------------------

    @staticmethod
    def _detach(call: Call) -> None:
        if call.token is not None:
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
        if call.run is not None:
            self._tracker.fail(call.run, error)
        elif call.route.kind is Kind.RUN_POLL:
            if call.followed is not None:
                self._tracker.poll_failed(call.route.run_id, error)
            elif call.span is None:
                call.span = self._start_operation(call, retroactive=True)
        if call.began_following and call.followed is not None and http_status_of(error) is not None:
            self._tracker.unfollow(call.followed)  # refused: the API did nothing to the run for it
        if call.span is not None:
            error_type = mark_exception(call.span, error)
            self._end_operation(call, error_type)

    def _succeeded(self, call: Call, result: Any) -> Any:
        """Hand the result to the tracker; returns it, a stream behind its proxy."""
        try:
            if call.submitted:  # accepted: this process answered those calls
                self._tracker.tool_outputs_submitted(call.route.run_id, call.submitted, call.start_ns)
            if call.stream and (is_event_stream(result) or is_raw_response(result)):
                result = self._observe_stream(call, result)
            elif not f.is_model(result) and unread_body(result):  # with_streaming_response: seen when parsed
                result = observe_parse(result, lambda parsed: self._observe(call, parsed))
            else:
                self._observe(call, result)
        except Exception as error:
            report("observe", error)
        finally:
            if call.span is not None:
                try:
                    self._end_operation(call, None)
                except Exception as error:
                    report("end_operation", error)
        return result

    def _observe_stream(self, call: Call, result: Any) -> Any:
        """A run-event stream, or the raw / streaming response whose ``parse()`` makes one: handed
        back behind a transparent proxy that shows the events to the tracker."""
        run = call.run or call.followed or self._tracker.state_for(call.route.run_id)
        if run is None:
            return result
        self._tracker.mark_streamed(run)
        start = call.run.start_ns if call.run is not None else call.start_ns
        return observe_run_stream(self._tracker, run, start, result)

    def _observe(self, call: Call, result: Any) -> None:
        payload = _payload(result)
        if payload is None:
            return
        target = call.route
        kind = target.kind
        tracker = self._tracker
        if kind is Kind.RUN_CREATE:
            assert call.run is not None
            tracker.created(call.run, payload)
        elif kind is Kind.RUN_POLL:
            if call.followed is not None:
                tracker.observe(payload, state=call.followed, poll=True)
            elif call.span is None and not tracker.met(payload, call.client, call.api, call.start_ns, call.parent):
                # A run already ended when first met here: a plain operation, nothing for the run.
                call.span = self._start_operation(call, retroactive=True)
        elif target.operation in ("submit_tool_outputs", "cancel_run", "update_run"):
            tracker.observe(payload, state=call.followed)
        elif target.operation == "list_runs":
            for run in f.items(payload, "data"):
                tracker.observe(run)
        elif target.operation == "list_run_steps":
            tracker.steps_seen(target.run_id, f.items(payload, "data"))
        elif target.operation == "retrieve_run_step":
            tracker.steps_seen(target.run_id, [payload])
        elif target.operation in ("create_agent", "retrieve_agent", "update_agent"):
            tracker.learn_agent(f.text(payload, "id"), f.text(payload, "name"))
        elif target.operation == "list_agents":
            for assistant in f.items(payload, "data"):
                tracker.learn_agent(f.text(assistant, "id"), f.text(assistant, "name"))
        if call.span is not None:
            self._describe_result(call, payload)

    def _describe_result(self, call: Call, payload: Any) -> None:
        """The ids a create answered with."""
        operation = call.route.operation
        object_id = f.text(payload, "id")
        created = {
            "create_agent": a.AGENT_ID,
            "create_thread": a.CONVERSATION_ID,
            "create_message": a.MESSAGE_ID,
            "create_vector_store": a.DATA_SOURCE_ID,
            "upload_file": a.FILE_ID,
            "create_vector_store_file": a.FILE_ID,
        }.get(operation)
        assert call.span is not None
        if created is not None and object_id is not None:
            set_present(call.span, {created: object_id})
        capture = self._tracker.capture
        if capture.enabled and operation in ("list_messages", "retrieve_message"):
            messages = f.items(payload, "data") if operation == "list_messages" else [payload]
            replies = [m for m in messages if f.text(m, "role") == "assistant"]
            capture.record(call.span, {a.OUTPUT_MESSAGES: capture.output_messages(replies)})

    def _end_operation(self, call: Call, error_type: str | None) -> None:
        span = call.span
        assert span is not None
        end = now_ns()
        self._telemetry.content.flush(span, end)
        span.end(end_time=end)
        attributes = {a.OPERATION_NAME: call.route.operation, a.PROVIDER_NAME: call.client.provider}
        model = _text(call.body.get("model")) if call.route.operation == "create_agent" else None
        if model is not None:
            attributes[a.REQUEST_MODEL] = model
        if error_type is not None:
            attributes[a.ERROR_TYPE] = error_type
        if call.client.address is not None:
            attributes[a.SERVER_ADDRESS] = call.client.address
        self._telemetry.operation_duration.record(max(end - call.start_ns, 0) / 1e9,
                                                  self._telemetry.capped(attributes))


def _payload(result: Any) -> Any:
    """The API object a request returned: the parsed model, or the JSON of a raw response whose
    body has already been read."""
    if f.is_model(result):
        return result
    http_response = getattr(result, "http_response", None)
    if http_response is None:
        return result
    parse = getattr(result, "parse", None)
    if not callable(parse):
        return result
    try:
        content = http_response.content  # raises while a streamed body is unread
    except Exception:
        return None
    if isinstance(getattr(result, "_parsed_by_type", None), dict) and not _parses_async(type(result)):
        # A sync response that keeps what it parsed (the SDK's own poll helpers parse every raw
        # retrieve they make): the object parsed here is the one the app's parse() is handed from
        # that cache, so the body is decoded and built once, not twice.
        try:
            return parse()
        except Exception:  # the app's own parse() meets the same problem: not ours to raise
            return None
    return f.decode_json(content)


_async_parse: dict[type, bool] = {}


def _parses_async(cls: type) -> bool:
    known = _async_parse.get(cls)
    if known is None:
        known = _async_parse[cls] = inspect.iscoroutinefunction(getattr(cls, "parse", None))
    return known


def _submitted_outputs(body: dict[str, Any]) -> dict[str, Any]:
    """tool_call_id -> output of a submit_tool_outputs request."""
    outputs = body.get("tool_outputs")
    if not isinstance(outputs, (list, tuple)):
        return {}
    return {call_id: f.get(item, "output") for item in outputs if (call_id := f.text(item, "tool_call_id"))}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
