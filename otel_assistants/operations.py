"""What the instrumentation does around each operation's request: one hooks object per operation.

routes.py says which operation a request is; this table says what happens for it. An
operation without an entry gets the defaults of ``Hooks``: one CLIENT span carrying the ids its
path named, and nothing more. The interceptor calls every hook from a guarded call site, so an
error in one is reported and swallowed, never seen by the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry.trace import Span

from . import attributes as a
from . import fields as f
from .ingestion import IngestionJob, job_key
from .propagation import write_traceparent
from .routes import Route
from .runstate import ClientInfo, RunState
from .spans import http_status_of, now_ns

if TYPE_CHECKING:
    from .interceptor import Interceptor


class Call:
    """What the choke point knows about one request while it is in flight."""

    # Class-level defaults: a request sets only what it uses (one is made per request).
    run: RunState | None = None  # the run this request creates
    followed: RunState | None = None  # the run this request acts on, when followed
    job: IngestionJob | None = None  # the ingestion job this request creates or polls
    began_following = False  # this request made this process follow that run
    span: Span | None = None
    parent: Any = None  # a retrieve of a run not followed: where its span goes, if it gets one
    submitted: dict[str, Any] | None = None  # tool outputs sent (call id -> output)
    start_ns = 0
    token: object | None = None

    def __init__(self, route: Route, hooks: Hooks, client: ClientInfo, body: dict[str, Any], stream: bool,
                 api: Any, options: Any) -> None:
        self.route = route
        self.hooks = hooks
        self.client = client
        self.body = body
        self.stream = stream
        self.api = api  # the app's client
        self.options = options  # the SDK's request options (the create's metadata is written there)


class Hooks:
    """The defaults: an operation span, nothing asked of the tracker, nothing captured."""

    # The span attribute that the answer's ``id`` fills (the id of what the operation created).
    created: str | None = None
    # Whether ``accepted`` does anything (it is asked on every request, so a no-op is not called).
    accepts = False

    def before(self, it: Interceptor, call: Call) -> None:
        """The request is about to be sent."""
        it.open_operation(call)

    def agent_name(self, call: Call) -> str | None:
        """The agent name the operation's span is named after."""
        return None

    def request_model(self, call: Call) -> str | None:
        return None

    def captured_request(self, it: Interceptor, call: Call) -> dict[str, Any] | None:
        """Content attributes from the request body (only asked when capture is on)."""
        return None

    def accepted(self, it: Interceptor, call: Call) -> None:
        """The API accepted the request (called before its answer is read, when ``accepts``)."""

    def answered(self, it: Interceptor, call: Call, answer: Any) -> None:
        """The API object the request returned."""

    def captured_answer(self, it: Interceptor, call: Call, answer: Any) -> dict[str, Any] | None:
        return None

    def failed(self, it: Interceptor, call: Call, error: Exception) -> None:
        """The SDK raised for the request."""


DEFAULT = Hooks()


class CreatesObject(Hooks):
    def __init__(self, created: str) -> None:
        self.created = created


class CreateRun(Hooks):
    """The run span opens now and ends with the run; the request gets no span of its own."""

    def before(self, it: Interceptor, call: Call) -> None:
        it.shutdown_hook.follow()  # the app may have set its tracer provider since instrument()
        run = call.run = it.tracker.start(call.client, call.route.thread_id, call.body, call.api)
        if it.propagate:
            write_traceparent(call.options, run.span)
        # Stores the run searches that this process last saw still indexing (contract 2.7).
        it.tracker.ingestion.not_ready(run.span, call.body, run.assistant_id, run.thread_id)
        call.token = otel_context.attach(run.context)

    def answered(self, it: Interceptor, call: Call, answer: Any) -> None:
        assert call.run is not None
        it.tracker.created(call.run, answer)

    def failed(self, it: Interceptor, call: Call, error: Exception) -> None:
        assert call.run is not None
        it.tracker.fail(call.run, error)


class RetrieveRun(Hooks):
    """A poll of a followed run is counted on its span and gets none of its own. A run not followed
    yet is followed from here if the answer shows it unended; else the retrieve was a plain
    look-up, whose span is made then, from the request's start."""

    def before(self, it: Interceptor, call: Call) -> None:
        tracker = it.tracker
        run_id = call.route.run_id
        followed = tracker.state_for(run_id)
        if followed is not None:
            # The run span is current so lower-level spans nest under it.
            call.followed = followed
            call.token = otel_context.attach(followed.context)
        elif tracker.has_ended(run_id):
            it.open_operation(call)
        else:
            it.shutdown_hook.follow()
            call.start_ns = now_ns()
            call.parent = otel_context.get_current()

    def answered(self, it: Interceptor, call: Call, answer: Any) -> None:
        tracker = it.tracker
        if call.followed is not None:
            tracker.polled(answer, call.followed)
        elif call.span is None and not tracker.met(answer, call.client, call.api, call.start_ns, call.parent):
            # A run already ended when first met here: a plain operation, nothing for the run.
            it.open_operation(call, retroactive=True)

    def failed(self, it: Interceptor, call: Call, error: Exception) -> None:
        if call.followed is not None:
            it.tracker.poll_failed(call.route.run_id, error)
        elif call.span is None:
            it.open_operation(call, retroactive=True)


class ActOnRun(Hooks):
    """A request that acts on a run (a cancel, a tool-output submission): a run this process does
    not follow yet is followed from it, unless the API refuses the request."""

    def before(self, it: Interceptor, call: Call) -> None:
        run_id = call.route.run_id
        if run_id is not None and it.tracker.state_for(run_id) is None:
            it.shutdown_hook.follow()
            call.followed = it.tracker.follow(run_id, call.route.thread_id, call.client, call.api)
            call.began_following = call.followed is not None
        it.open_operation(call)

    def answered(self, it: Interceptor, call: Call, answer: Any) -> None:
        it.tracker.answered(answer, call.followed)

    def failed(self, it: Interceptor, call: Call, error: Exception) -> None:
        if call.began_following and call.followed is not None and http_status_of(error) is not None:
            it.tracker.unfollow(call.followed)  # refused: the API did nothing to the run for it


class SubmitToolOutputs(ActOnRun):
    accepts = True

    def before(self, it: Interceptor, call: Call) -> None:
        call.submitted = _submitted_outputs(call.body)
        super().before(it, call)

    def accepted(self, it: Interceptor, call: Call) -> None:
        if call.submitted:  # this process answered those calls
            it.tracker.tool_outputs_submitted(call.route.run_id, call.submitted, call.start_ns)


class UpdateRun(Hooks):
    def answered(self, it: Interceptor, call: Call, answer: Any) -> None:
        it.tracker.answered(answer, None)


class ListRuns(Hooks):
    def answered(self, it: Interceptor, call: Call, answer: Any) -> None:
        it.tracker.listed(f.items(answer, "data"))


class ListSteps(Hooks):
    def answered(self, it: Interceptor, call: Call, answer: Any) -> None:
        it.tracker.steps_seen(call.route.run_id, f.items(answer, "data"))


class RetrieveStep(Hooks):
    def answered(self, it: Interceptor, call: Call, answer: Any) -> None:
        it.tracker.steps_seen(call.route.run_id, [answer])


class ReadAgent(Hooks):
    """An answer with an assistant: its name is remembered, so run spans can carry it, and the
    vector stores it searches, for the not-ready event."""

    def answered(self, it: Interceptor, call: Call, answer: Any) -> None:
        it.tracker.learn_agent(f.text(answer, "id"), f.text(answer, "name"))
        _resources_seen(it, answer)


class WriteAgent(ReadAgent):
    def captured_request(self, it: Interceptor, call: Call) -> dict[str, Any] | None:
        capture = it.tracker.capture
        return {a.SYSTEM_INSTRUCTIONS: capture.system_instructions(call.body.get("instructions"))}


class CreateAgent(WriteAgent):
    created = a.AGENT_ID

    def agent_name(self, call: Call) -> str | None:
        return f.as_text(call.body.get("name"))

    def request_model(self, call: Call) -> str | None:
        return f.as_text(call.body.get("model"))


class ListAgents(Hooks):
    def answered(self, it: Interceptor, call: Call, answer: Any) -> None:
        for assistant in f.items(answer, "data"):
            it.tracker.learn_agent(f.text(assistant, "id"), f.text(assistant, "name"))
            _resources_seen(it, assistant)


class ReadThread(Hooks):
    """An answer with a thread: the vector stores its runs search."""

    def answered(self, it: Interceptor, call: Call, answer: Any) -> None:
        _resources_seen(it, answer)


class CreateThread(ReadThread):
    created = a.CONVERSATION_ID

    def captured_request(self, it: Interceptor, call: Call) -> dict[str, Any] | None:
        return {a.INPUT_MESSAGES: it.tracker.capture.input_messages(call.body.get("messages"))}


class CreateMessage(Hooks):
    created = a.MESSAGE_ID

    def captured_request(self, it: Interceptor, call: Call) -> dict[str, Any] | None:
        return {a.INPUT_MESSAGES: it.tracker.capture.input_messages([call.body])}


class ReadMessages(Hooks):
    """The assistant's replies in a listing (or one retrieved message), captured as output."""

    def __init__(self, listing: bool) -> None:
        self._listing = listing

    def captured_answer(self, it: Interceptor, call: Call, answer: Any) -> dict[str, Any] | None:
        messages = f.items(answer, "data") if self._listing else [answer]
        replies = [m for m in messages if f.text(m, "role") == "assistant"]
        return {a.OUTPUT_MESSAGES: it.tracker.capture.output_messages(replies)}


class CreateIngestion(Hooks):
    """An ingestion job's span opens with its create request and ends with the job; the request
    gets no span of its own (contract 2.7)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def before(self, it: Interceptor, call: Call) -> None:
        it.shutdown_hook.follow()
        job = call.job = it.tracker.ingestion.start(self.kind, call.client, call.route.vector_store_id,
                                                    call.body, call.api)
        call.token = otel_context.attach(job.context)

    def answered(self, it: Interceptor, call: Call, answer: Any) -> None:
        assert call.job is not None
        it.tracker.ingestion.created(call.job, answer)

    def failed(self, it: Interceptor, call: Call, error: Exception) -> None:
        assert call.job is not None
        it.tracker.ingestion.fail(call.job, error)


class RetrieveIngestion(Hooks):
    """A poll of a followed job is counted on its span and gets none of its own; other retrieves
    are plain operations, except that with ``adopt_runs`` an unended job met here is owned."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def _key(self, call: Call) -> str | None:
        target = call.route
        return job_key(self.kind, target.vector_store_id,
                       target.batch_id if self.kind == a.INGEST_FILE_BATCH else target.file_id)

    def before(self, it: Interceptor, call: Call) -> None:
        ingestion = it.tracker.ingestion
        key = self._key(call)
        job = ingestion.state_for(key)
        if job is not None:
            call.job = job
            call.token = otel_context.attach(job.context)
        elif ingestion.adopting and not ingestion.has_ended(key):
            it.shutdown_hook.follow()
            call.start_ns = now_ns()
            call.parent = otel_context.get_current()
        else:
            it.open_operation(call)

    def answered(self, it: Interceptor, call: Call, answer: Any) -> None:
        ingestion = it.tracker.ingestion
        if call.job is not None:
            ingestion.polled(answer, call.job)
        elif call.span is None and not ingestion.met(answer, self.kind, call.route.vector_store_id, call.client,
                                                      call.api, call.start_ns, call.parent):
            it.open_operation(call, retroactive=True)

    def failed(self, it: Interceptor, call: Call, error: Exception) -> None:
        if call.job is not None:
            it.tracker.ingestion.poll_failed(call.job, error)
        elif call.span is None:
            it.open_operation(call, retroactive=True)


class CancelFileBatch(Hooks):
    def answered(self, it: Interceptor, call: Call, answer: Any) -> None:
        it.tracker.ingestion.answered(answer, a.INGEST_FILE_BATCH, call.route.vector_store_id)


class ListStoreFiles(Hooks):
    def answered(self, it: Interceptor, call: Call, answer: Any) -> None:
        it.tracker.ingestion.listed(call.route.vector_store_id, f.items(answer, "data"))


class ReadStore(Hooks):
    """Vector store objects: whether each is still indexing, for the not-ready event."""

    def __init__(self, created: str | None = None, listing: bool = False) -> None:
        self.created = created
        self._listing = listing

    def answered(self, it: Interceptor, call: Call, answer: Any) -> None:
        it.tracker.ingestion.stores_seen(f.items(answer, "data") if self._listing else [answer])


# Operation name (routes.py) -> its hooks; the rest take DEFAULT.
HOOKS: dict[str, Hooks] = {
    "invoke_agent": CreateRun(),
    "retrieve_run": RetrieveRun(),
    "cancel_run": ActOnRun(),
    "submit_tool_outputs": SubmitToolOutputs(),
    "update_run": UpdateRun(),
    "list_runs": ListRuns(),
    "list_run_steps": ListSteps(),
    "retrieve_run_step": RetrieveStep(),
    "create_agent": CreateAgent(),
    "update_agent": WriteAgent(),
    "retrieve_agent": ReadAgent(),
    "list_agents": ListAgents(),
    "create_thread": CreateThread(),
    "retrieve_thread": ReadThread(),
    "update_thread": ReadThread(),
    "create_message": CreateMessage(),
    "list_messages": ReadMessages(listing=True),
    "retrieve_message": ReadMessages(listing=False),
    "create_vector_store": ReadStore(created=a.DATA_SOURCE_ID),
    "retrieve_vector_store": ReadStore(),
    "update_vector_store": ReadStore(),
    "list_vector_stores": ReadStore(listing=True),
    "upload_file": CreatesObject(a.FILE_ID),
    "create_vector_store_file": CreateIngestion(a.INGEST_FILE),
    "retrieve_vector_store_file": RetrieveIngestion(a.INGEST_FILE),
    "list_vector_store_files": ListStoreFiles(),
    "create_vector_store_file_batch": CreateIngestion(a.INGEST_FILE_BATCH),
    "retrieve_vector_store_file_batch": RetrieveIngestion(a.INGEST_FILE_BATCH),
    "cancel_vector_store_file_batch": CancelFileBatch(),
    "list_vector_store_file_batch_files": ListStoreFiles(),
}


def _resources_seen(it: Interceptor, owner: Any) -> None:
    """An assistant's or thread's tools and the vector stores they search."""
    it.tracker.ingestion.resources_seen(f.text(owner, "id"), f.get(owner, "tools"), f.get(owner, "tool_resources"))


def _submitted_outputs(body: dict[str, Any]) -> dict[str, Any]:
    """tool_call_id -> output of a submit_tool_outputs request."""
    outputs = body.get("tool_outputs")
    if not isinstance(outputs, (list, tuple)):
        return {}
    return {call_id: f.get(item, "output") for item in outputs if (call_id := f.text(item, "tool_call_id"))}
