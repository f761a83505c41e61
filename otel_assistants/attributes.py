"""Attribute and instrument names from the telemetry contract, in one place."""

# GenAI semantic conventions
OPERATION_NAME = "gen_ai.operation.name"
PROVIDER_NAME = "gen_ai.provider.name"
AGENT_ID = "gen_ai.agent.id"
AGENT_NAME = "gen_ai.agent.name"
CONVERSATION_ID = "gen_ai.conversation.id"
DATA_SOURCE_ID = "gen_ai.data_source.id"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_TOP_P = "gen_ai.request.top_p"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_STREAM = "gen_ai.request.stream"
USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
TOKEN_TYPE = "gen_ai.token.type"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_NAME = "gen_ai.tool.name"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_CALL_RESULT = "gen_ai.tool.call.result"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"

# General conventions
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
HTTP_STATUS_CODE = "http.response.status_code"

# This instrumentation's own namespace
RUN_ID = "openai.assistants.run.id"
RUN_STATUS = "openai.assistants.run.status"
RUN_POLL_COUNT = "openai.assistants.run.poll_count"
RUN_INCOMPLETE_REASON = "openai.assistants.run.incomplete_reason"
RUN_STEP_ID = "openai.assistants.run_step.id"
RUN_STEP_TYPE = "openai.assistants.run_step.type"
RUN_STEP_STATUS = "openai.assistants.run_step.status"
MESSAGE_ID = "openai.assistants.message.id"
FILE_ID = "openai.assistants.file.id"
FILE_BATCH_ID = "openai.assistants.file_batch.id"
FILE_USAGE_BYTES = "openai.assistants.file.usage_bytes"
INGESTION_STATUS = "openai.assistants.ingestion.status"
INGESTION_POLL_COUNT = "openai.assistants.ingestion.poll_count"
INGESTION_FILES_COMPLETED = "openai.assistants.ingestion.files.completed"
INGESTION_FILES_FAILED = "openai.assistants.ingestion.files.failed"
INGESTION_FILES_CANCELLED = "openai.assistants.ingestion.files.cancelled"
INGESTION_FILES_TOTAL = "openai.assistants.ingestion.files.total"
FILE_SEARCH_RESULT_COUNT = "openai.assistants.file_search.result_count"
ERROR_REASON = "openai.assistants.error.reason"
OWN_REQUEST_TYPE = "openai.assistants.instrumentation.request.type"
OWN_REQUEST_OUTCOME = "openai.assistants.instrumentation.request.outcome"

# Events
RUN_STATUS_EVENT = "openai.assistants.run.status"
VECTOR_STORE_NOT_READY_EVENT = "openai.assistants.vector_store.not_ready"

# Values
PROVIDER_OPENAI = "openai"
PROVIDER_AZURE = "azure.ai.openai"
INVOKE_AGENT = "invoke_agent"
AWAIT_RUN = "await_run"
EXECUTE_TOOL = "execute_tool"
ERROR_EXPIRED = "expired"
ERROR_ABANDONED = "abandoned"
ERROR_TOOL_OUTPUT_NOT_SUBMITTED = "tool_output_not_submitted"
ERROR_FILES_FAILED = "files_failed"
INGEST_FILE = "ingest_file"
INGEST_FILE_BATCH = "ingest_file_batch"
OTHER_VALUE = "_OTHER"
OWN_REQUEST_RUN_LOOKUP = "run_lookup"
OWN_REQUEST_STEP_FETCH = "step_fetch"
OWN_REQUEST_INGESTION_LOOKUP = "ingestion_lookup"

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "expired", "incomplete"})
# An ingestion job's (a vector store file's or file batch's) terminal statuses.
INGESTION_TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})

# A tool call's type in the API -> its gen_ai.tool.type.
TOOL_TYPES = {"function": "function", "code_interpreter": "extension", "file_search": "datastore"}
# Tools the server runs itself: their calls are known only from the run's steps.
BUILTIN_TOOLS = frozenset(TOOL_TYPES) - {"function"}
# The include[] value that makes a step listing carry file_search result text.
FILE_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"

# Instruments
METRIC_RUNS = "openai.assistants.runs"
METRIC_RUN_DURATION = "openai.assistants.run.duration"
METRIC_QUEUE_DURATION = "openai.assistants.run.queue_duration"
METRIC_RUN_POLLS = "openai.assistants.run.polls"
METRIC_RUNS_ACTIVE = "openai.assistants.runs.active"
METRIC_STEP_DURATION = "openai.assistants.run_step.duration"
METRIC_TOOL_DURATION = "openai.assistants.tool_call.duration"
METRIC_TOKEN_USAGE = "gen_ai.client.token.usage"
METRIC_OPERATION_DURATION = "gen_ai.client.operation.duration"
METRIC_TIME_TO_FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"
METRIC_INGESTION_DURATION = "openai.assistants.ingestion.duration"
METRIC_INGESTION_FILES = "openai.assistants.ingestion.files"
# Not in the contract's table: the instrumentation's own requests, for watching the instrumentation itself.
METRIC_OWN_REQUESTS = "openai.assistants.instrumentation.requests"

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200)
TOKEN_BUCKETS = tuple(4**i for i in range(14))  # 1, 4, 16, ... 67108864
POLL_BUCKETS = (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)
