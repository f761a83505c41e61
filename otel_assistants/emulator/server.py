"""The HTTP side: a threaded HTTP/1.1 server, request parsing, routing and the `Emulator` handle."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import sys
import threading
import traceback
from dataclasses import asdict, dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .errors import ApiError, bad_request
from .faults import DROP, Exchange, Mutator, Raw, Reply, decode, mutate_events
from .resources import Api, JsonResponse, RawResponse, Request, Response, StreamResponse, Upload
from .runs import RunEngine
from .scenario import ScenarioError, parse_scenario
from .sse import StreamWriter
from .store import Store

# The OpenAI client puts /v1 in its base URL, the Azure client /openai.
_PREFIXES = ("/v1", "/openai")
_CONTROL_PREFIX = "/_emulator/"
_JSON_HINT = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
)


@dataclass(frozen=True)
class RequestRecord:
    """One API request the emulator answered (control endpoints are not recorded)."""

    method: str
    path: str
    status: int
    stream: bool
    request_id: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def strip_prefix(path: str) -> str:
    for prefix in _PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix) :] or "/"
    return path


def _header_param(header: str, name: str) -> str | None:
    match = re.search(rf'(?:^|;)\s*{name}="([^"]*)"', header, re.IGNORECASE)
    if match is None:
        match = re.search(rf"(?:^|;)\s*{name}=([^;\s]+)", header, re.IGNORECASE)
    return match.group(1) if match else None


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, Upload]]:
    """Form fields and uploaded files of a multipart/form-data body (enough for file uploads)."""
    boundary = _header_param(content_type, "boundary")
    if not boundary:
        raise bad_request("Missing boundary in multipart/form-data content type.")
    fields: dict[str, str] = {}
    uploads: dict[str, Upload] = {}
    for part in body.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):
            break
        head, separator, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            continue
        content = content.removesuffix(b"\r\n")
        disposition = ""
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if line.lower().startswith("content-disposition:"):
                disposition = line.split(":", 1)[1]
        name = _header_param(disposition, "name")
        if name is None:
            continue
        filename = _header_param(disposition, "filename")
        if filename is None:
            fields[name] = content.decode("utf-8", "replace")
        else:
            uploads[name] = Upload(filename, content)
    return fields, uploads


def _settled(answer: Any, status: int) -> Any:
    """A hook's answer as DROP or a Reply whose body is bytes, so it cannot fail halfway out."""
    if answer is DROP:
        return DROP
    if not isinstance(answer, Reply):
        answer = Reply(status, answer.content) if isinstance(answer, Raw) else Reply(status, answer)
    return replace(answer, body=answer.payload())


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # Hundreds of clients may connect at once (concurrency tests, load rehearsals); with the
    # socketserver default backlog of 5 the kernel resets the connections that do not fit.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall without DNS.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client dropping its connection is routine (closed pools, aborted streams); anything
        # else is a bug worth a traceback.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Wake handler threads parked on idle keep-alive connections or held streams."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this Nagle adds ~40 ms per response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.emulator.verbose:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    # --- request ----------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _parse(self, method: str, path: str, query: dict[str, list[str]], raw: bytes) -> Request:
        content_type = self.headers.get("Content-Type", "")
        if content_type.lower().startswith("multipart/form-data"):
            fields, uploads = parse_multipart(raw, content_type)
            return Request(method, path, query, dict(fields), uploads)
        if not raw.strip():
            return Request(method, path, query)
        try:
            body = json.loads(raw)
        except ValueError:
            raise bad_request(_JSON_HINT) from None
        if not isinstance(body, dict):
            raise bad_request(_JSON_HINT)
        return Request(method, path, query, body)

    def _handle(self) -> None:
        emulator = self.server.emulator
        request_id = "req_" + secrets.token_hex(16)
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        method = self.command
        try:
            raw = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send_json(json.dumps(bad_request("Unreadable request body.").body()).encode(), 400, request_id)
            return
        if split.path.startswith(_CONTROL_PREFIX):
            self._control(method, split.path, request_id)
            return
        path = strip_prefix(split.path)
        # The hook in force when the request arrived applies to its whole answer (see faults.py).
        mutate = emulator.mutate
        exchange = Exchange("request", method, path, split.query)
        response: Response
        fault: Any = None  # a hook's DROP or Reply, settled
        try:
            early = None if mutate is None else mutate(exchange, decode(raw or b"{}"))
            if early is DROP or isinstance(early, Reply):
                fault = _settled(early, 0)
            else:
                response = emulator.api.dispatch(self._parse(method, path, query, raw))
        except ApiError as error:
            response = JsonResponse(json.dumps(error.body()).encode(), error.status)
        except Exception:
            traceback.print_exc()
            error = ApiError(500, "The emulator failed while handling this request.")
            response = JsonResponse(json.dumps(error.body()).encode(), 500)
        if fault is not None:
            # Outside the handlers above: a client that gave up waiting for a held answer is gone,
            # and the server drops the socket error quietly.
            self._send_fault(fault, method, path, request_id)
            return
        if isinstance(response, StreamResponse):
            emulator._record(RequestRecord(method, path, 200, True, request_id))
            self._send_stream(response, request_id, mutate, replace(exchange, stage="event"))
            return
        if isinstance(response, RawResponse):
            emulator._record(RequestRecord(method, path, 200, False, request_id))
            self._send_bytes(response.content, 200, request_id, response.content_type)
            return
        if mutate is not None:
            answer = self._mutated(mutate, replace(exchange, stage="response", status=response.status), response)
            self._send_fault(answer, method, path, request_id)
            return
        emulator._record(RequestRecord(method, path, response.status, False, request_id))
        self._send_json(response.payload, response.status, request_id)

    @staticmethod
    def _mutated(mutate: Mutator, exchange: Exchange, response: JsonResponse) -> Any:
        """What the hook makes of a JSON answer: a Reply with its body encoded, or DROP."""
        try:
            return _settled(mutate(exchange, decode(response.payload)), response.status)
        except Exception:
            traceback.print_exc()
            error = ApiError(500, "The emulator's mutate hook failed.")
            return Reply(500, json.dumps(error.body()).encode())

    def _send_fault(self, answer: Any, method: str, path: str, request_id: str) -> None:
        """Send a hook's Reply, or drop the connection without an answer (recorded as status 0)."""
        emulator = self.server.emulator
        if answer is DROP:
            emulator._record(RequestRecord(method, path, 0, False, request_id))
            self.close_connection = True
            return
        emulator._record(RequestRecord(method, path, answer.status, False, request_id))
        self._common_headers(answer.status, request_id)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        payload = answer.payload()
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _control(self, method: str, path: str, request_id: str) -> None:
        emulator = self.server.emulator
        if method == "GET" and path == "/_emulator/requests":
            payload = json.dumps([record.to_dict() for record in emulator.requests]).encode()
            self._send_json(payload, 200, request_id)
        elif method == "POST" and path == "/_emulator/reset":
            emulator.reset()
            self._send_json(json.dumps({"reset": True}).encode(), 200, request_id)
        else:
            error = ApiError(404, f"Invalid URL ({method} {path})")
            self._send_json(json.dumps(error.body()).encode(), 404, request_id)

    # --- response ---------------------------------------------------------------------------

    def _common_headers(self, status: int, request_id: str) -> None:
        self.send_response(status)
        self.send_header("x-request-id", request_id)
        self.send_header("openai-poll-after-ms", str(self.server.emulator.poll_after_ms))
        self.send_header("openai-processing-ms", "1")
        if status == 429 or status >= 500:
            # The SDK honours this over its 0.5-8 s backoff, which keeps retried tests fast.
            self.send_header("retry-after-ms", str(max(1, self.server.emulator.poll_after_ms)))

    def _send_json(self, payload: bytes, status: int, request_id: str) -> None:
        self._send_bytes(payload, status, request_id, "application/json")

    def _send_bytes(self, payload: bytes, status: int, request_id: str, content_type: str) -> None:
        self._common_headers(status, request_id)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _send_stream(self, response: StreamResponse, request_id: str, mutate: Mutator | None = None,
                     exchange: Exchange | None = None) -> None:
        writer = StreamWriter(
            self._write_flush,
            cut_after=response.cut_after,
            cut_mode=response.cut_mode,
            stopping=self.server.emulator._stopping,
            done_marker=response.done_marker,
        )
        try:
            self._common_headers(200, request_id)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            if writer.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            events = response.events
            writer.run(events if mutate is None or exchange is None else mutate_events(mutate, exchange, events))
        except Exception:
            traceback.print_exc()
            writer.close_connection = True
        finally:
            response.events.close()
            if writer.close_connection:
                self.close_connection = True

    def _write_flush(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()


class Emulator:
    """An Assistants API v2 server on a background thread, for tests and rehearsals.

    >>> with Emulator(port=0) as emu:                       # doctest: +SKIP
    ...     client = openai.OpenAI(base_url=emu.base_url, api_key="test")
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        poll_after_ms: int = 100,
        default_scenario: str = "",
        *,
        verbose: bool = False,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.poll_after_ms = poll_after_ms
        self.verbose = verbose
        self.default_scenario = default_scenario
        # Fault injection: rewrites requests' answers and stream events (see faults.py); None is off.
        self.mutate: Mutator | None = None
        self._stopping = threading.Event()
        self._store = Store()
        self._engine = RunEngine(self._store, self._stopping)
        self.api = Api(self._store, self._engine, lambda: self._default_scenario)
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._bound_port: int | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> Emulator:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self._stopping.clear()
        server = _HttpServer((self.host, self._requested_port), self)
        self._server = server
        self._bound_port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"assistants-emulator:{self._bound_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    # --- addresses --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._bound_port if self._bound_port is not None else self._requested_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    # --- behaviour and inspection -----------------------------------------------------------

    @property
    def default_scenario(self) -> str:
        return self._default_scenario

    @default_scenario.setter
    def default_scenario(self, value: str) -> None:
        try:
            parse_scenario(value)
        except ScenarioError as error:
            raise ValueError(f"invalid default scenario: {error}") from None
        self._default_scenario = value

    @property
    def requests(self) -> list[RequestRecord]:
        with self._log_lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._log_lock:
            self._log.clear()

    def reset(self) -> None:
        """Forget every object and the request log."""
        self._store.clear()
        self.clear_requests()

    def _record(self, record: RequestRecord) -> None:
        with self._log_lock:
            self._log.append(record)
