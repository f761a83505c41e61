"""Server-sent events as the Assistants and Responses APIs send them, framed for chunked transfer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from .faults import DROP, Raw, Signal
from .runs import Event, Pause

DONE = b"event: done\ndata: [DONE]\n\n"
LAST_CHUNK = b"0\r\n\r\n"


def encode_event(name: str, data: str) -> bytes:
    """One SSE frame; `data` is JSON text without newlines."""
    return f"event: {name}\ndata: {data}\n\n".encode()


def chunk(payload: bytes) -> bytes:
    """Frame `payload` as one HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(payload), payload)


class StreamWriter:
    """Writes a run's events as one chunked SSE body, applying the scenario's `cut_after`.

    After a cut or a client disconnect the remaining events are still consumed (without
    sleeping), so the run reaches the same state as if the client had read them all; only a
    held run is left where it is, for polled retrieves or a cancel to pick up.
    """

    def __init__(
        self,
        write: Callable[[bytes], None],
        *,
        cut_after: int | None = None,
        cut_mode: str = "close",
        stopping: threading.Event | None = None,
        done_marker: bool = True,
    ) -> None:
        self._write = write
        self._done_marker = done_marker
        self._cut_after = cut_after
        self._cut_mode = cut_mode
        self._stopping = stopping or threading.Event()
        self._open = True
        self._sent = 0
        # A clean cut ends the body only once the rest of the run was consumed, so that a client's
        # next request, however soon, finds the run where the stream left it to go on.
        self._end_after_consuming = False
        self.close_connection = cut_after is not None

    def run(self, items: Iterable[Event | Pause | Raw | Signal]) -> None:
        """Write the items: events, pauses, and (from a fault-injection hook) raw frames and drops."""
        last = None
        for item in items:
            if item is DROP:
                # The connection goes without the body's last chunk: the client sees it cut mid-stream.
                self._open = False
                self.close_connection = True
                continue
            if isinstance(item, Raw):
                # Empty content is sent as nothing: an empty chunk would end the body.
                if item.content and self._open and self._send(item.content):
                    last = None
                continue
            if isinstance(item, Pause):
                if not self._open:
                    if item.hold:
                        self._end_cut_body()
                        return
                    continue
                if self._stopping.is_set():
                    # Shutting down: drop the connection mid-body.
                    self._open = False
                    self.close_connection = True
                    return
                time.sleep(item.seconds)
                continue
            if self._open and self._send(encode_event(item.name, item.data)):
                last = item.name
        # The SDK stops reading at an `error` event; the real service sends no `done` after it.
        if self._done_marker and last != "error":
            self._send(DONE)
        if self._open:
            self._put(LAST_CHUNK)
        self._end_cut_body()

    def _end_cut_body(self) -> None:
        if self._end_after_consuming:
            self._end_after_consuming = False
            self._put(LAST_CHUNK)

    def _send(self, frame: bytes) -> bool:
        if not self._open:
            return False
        if self._cut_after is not None and self._sent >= self._cut_after:
            self._open = False
            if self._cut_mode == "close":
                # A clean end of the body: the SDK sees the stream finish without a terminal event.
                self._end_after_consuming = True
            return False
        if self._put(chunk(frame)):
            self._sent += 1
            return True
        return False

    def _put(self, data: bytes) -> bool:
        try:
            self._write(data)
        except OSError:
            self._open = False
            self.close_connection = True
            return False
        return True
