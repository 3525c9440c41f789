"""The gunicorn worker every app runs under (deploy/gunicorn.conf.py): gunicorn's
threaded worker, where a thread gets a connection only once its request has arrived
whole, body included.

gthread hands a new or kept-alive connection to a thread, which then blocks reading
the request: a client that opens a connection and sends nothing, trickles its
headers a line at a time, or declares a body and sends it a byte at a time, holds a
thread for as long as it likes, and a few such clients stop a service. Here the
worker's event loop reads requests itself (non-blocking, like nginx's buffering) and
hands a thread the complete request: it answers `Expect: 100-continue` itself and
reads the body that follows, refuses a body over MAX_BODY_BYTES (413) before reading
it, and answers 408 to a request that has not arrived whole within REQUEST_TIMEOUT_S.
What gunicorn itself refuses (a request line or header block too large, a malformed
request) is answered as problem+json too, like every other error.
"""

from __future__ import annotations

import contextlib
import re
import selectors
import time
from functools import partial

from gunicorn.http.errors import LimitRequestHeaders, LimitRequestLine, ParseException
from gunicorn.workers.gthread import TConn, ThreadWorker

from services.common.http import MAX_BODY_BYTES, raw_problem

REQUEST_TIMEOUT_S = 10.0  # from the connection's first byte wanted to the request whole
MAX_REQUEST_LINE = 8190  # gunicorn's own ceiling for limit_request_line
MAX_HEADER_BYTES = 32 * 1024
HEADERS_END = b"\r\n\r\n"
CONTENT_LENGTH = re.compile(rb"^content-length:[ \t]*(\d+)[ \t]*\r?$", re.I | re.M)
CHUNKED = re.compile(rb"^transfer-encoding:.*chunked", re.I | re.M)
CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,8})(?:;[^\r\n]*)?")  # extensions allowed
EXPECT_CONTINUE = re.compile(rb"^expect:[ \t]*100-continue[ \t]*\r\n", re.I | re.M)
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
REFUSALS = {
    "uri_too_long": "the request is too large to read",
    "headers_too_large": "the request is too large to read",
    "payload_too_large": f"the request body is over {MAX_BODY_BYTES // 1024} KB",
    "bad_request": "the chunked request body is malformed",
}


class Arrival:
    """A request the event loop is reading: its bytes so far, and when it is due."""

    def __init__(self, deadline: float, received: bytes = b""):
        self.deadline = deadline
        self.received = bytearray(received)
        self.walked = 0  # the part of a chunked body already known to be whole chunks

    def state(self) -> str | None:
        """Whether the request is "whole"; None while more is to come; "continue" while
        the client waits to be told to send its body; or the code it is refused with."""
        received = self.received
        end = received.find(HEADERS_END)
        if end < 0:
            first_line = received.split(b"\r\n", 1)[0]
            if len(first_line) > MAX_REQUEST_LINE:
                return "uri_too_long"
            return "headers_too_large" if len(received) > MAX_HEADER_BYTES else None
        if end > MAX_HEADER_BYTES:
            return "headers_too_large"
        head, body_start = bytes(received[:end + 2]), end + len(HEADERS_END)
        if CHUNKED.search(head):
            state = self.chunked_state(body_start)
        else:
            length = CONTENT_LENGTH.search(head)
            wanted = int(length.group(1)) if length else 0
            if wanted > MAX_BODY_BYTES:
                return "payload_too_large"  # refused before a byte of it is read
            state = "whole" if len(received) - body_start >= wanted else None
        # HTTP/1.0 has no 100 Continue: such a client sends its body unasked.
        if (state is None and EXPECT_CONTINUE.search(head)
                and head.split(b"\r\n", 1)[0].endswith(b"HTTP/1.1")):
            return "continue"
        return state

    def chunked_state(self, body_start: int) -> str | None:
        """Walks the chunks arrived whole, each once (a body trickled in one-byte
        chunks costs no more than any other). The limit counts the body as sent,
        framing included: no client of ours sends a body near it."""
        received = self.received
        if len(received) - body_start > MAX_BODY_BYTES:
            return "payload_too_large"
        at = body_start + self.walked
        while (line_end := received.find(b"\r\n", at)) >= 0:
            size_line = CHUNK_SIZE.fullmatch(received, at, line_end)
            if size_line is None:
                return "bad_request"
            size = int(size_line.group(1), 16)
            if size == 0:  # the last chunk; then trailer lines, up to an empty one
                return "whole" if received.find(HEADERS_END, line_end) >= 0 else None
            at = line_end + 2 + size + 2
            if len(received) < at:
                return None
            if received[at - 2:at] != b"\r\n":
                return "bad_request"
            self.walked = at - body_start
        return None

    def drop_expect(self) -> None:
        """Forget `Expect: 100-continue` once it is answered (or moot, the body being
        here): gunicorn would otherwise answer it again from the thread."""
        end = self.received.find(HEADERS_END) + 2
        self.received[:end] = EXPECT_CONTINUE.sub(b"", bytes(self.received[:end]), count=1)


class BufferingThreadWorker(ThreadWorker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.arriving: dict[TConn, Arrival] = {}

    def accept(self, listener) -> None:
        try:
            client, address = listener.accept()
        except BlockingIOError:
            return  # another worker took it
        self.nr_conns += 1
        self.receive(TConn(self.cfg, client, address, listener.getsockname()))

    def on_client_socket_readable(self, conn: TConn, client) -> None:
        """A kept-alive connection's next request is arriving: buffer it too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self.receive(conn)

    def finish_request(self, conn: TConn, fs) -> None:
        """A kept-alive connection whose client has already sent (part of) its next
        request: gthread would hand that straight to a thread; buffer it here too."""
        ahead = b""
        if not fs.cancelled() and fs.exception() is None and fs.result() is True:
            ahead = conn.parser.unreader.take_buffered()
        if ahead:
            self.receive(conn, ahead)
        else:
            super().finish_request(conn, fs)

    def receive(self, conn: TConn, ahead: bytes = b"") -> None:
        conn.sock.setblocking(False)
        arrival = self.arriving[conn] = Arrival(time.monotonic() + REQUEST_TIMEOUT_S, ahead)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_bytes, conn))
        if ahead:
            self.examine(conn, arrival)

    def on_bytes(self, conn: TConn, client) -> None:
        try:
            data = client.recv(64 * 1024)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self.stop_receiving(conn)
            self.drop(conn)
            return
        arrival = self.arriving[conn]
        arrival.received += data
        self.examine(conn, arrival)

    def examine(self, conn: TConn, arrival: Arrival) -> None:
        state = arrival.state()
        if state == "continue":
            # The client sends its body once told to; this loop reads it as it comes.
            arrival.drop_expect()
            with contextlib.suppress(OSError):
                conn.sock.send(CONTINUE)
            return
        if state is None:
            return
        self.stop_receiving(conn)
        if state == "whole":
            arrival.drop_expect()
            self.hand_over(conn, bytes(arrival.received))
        else:
            self.refuse(conn, state, REFUSALS[state])

    def hand_over(self, conn: TConn, received: bytes) -> None:
        conn.buffered = received
        conn.data_ready = True
        self.enqueue_req(conn)

    def handle(self, conn: TConn):
        """In a thread: the parser reads the buffered request, which is whole."""
        buffered, conn.buffered = getattr(conn, "buffered", b""), b""
        if buffered:
            conn.sock.setblocking(True)
            conn.init()
            unreader = conn.parser.unreader
            unreader.unread(unreader.take_buffered() + buffered)
        return super().handle(conn)

    def stop_receiving(self, conn: TConn) -> None:
        self.arriving.pop(conn, None)
        self.poller.unregister(conn.sock)

    def murder_pending(self) -> None:
        """Answer 408 to requests that did not arrive whole in time (at once when the
        worker is stopping), as well as what gthread itself expires."""
        super().murder_pending()
        now = time.monotonic()
        late = [c for c, arrival in self.arriving.items()
                if arrival.deadline <= now or not self.alive]
        for conn in late:
            self.stop_receiving(conn)
            self.refuse(conn, "request_timeout",
                        f"the request did not arrive within {REQUEST_TIMEOUT_S:g} s")

    def refuse(self, conn: TConn, code: str, detail: str) -> None:
        with contextlib.suppress(OSError):  # the client may be gone already
            conn.sock.send(raw_problem(code, detail))
        self.drop(conn)

    def drop(self, conn: TConn) -> None:
        self.nr_conns -= 1
        conn.close()

    def handle_error(self, req, client, addr, exc) -> None:
        """What gunicorn refuses, as problem+json (its own answer is an HTML page)."""
        if isinstance(exc, LimitRequestLine):
            code = "uri_too_long"
        elif isinstance(exc, LimitRequestHeaders):
            code = "headers_too_large"
        elif isinstance(exc, ParseException):
            code = "bad_request"
        else:
            self.log.exception("Error handling request")
            code = "internal_error"
        detail = ("an unexpected error; it has been logged" if code == "internal_error"
                  else str(exc)[:200])
        with contextlib.suppress(OSError):
            client.sendall(raw_problem(code, detail))
