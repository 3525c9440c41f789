"""The gunicorn worker every app runs under (deploy/gunicorn.conf.py): gunicorn's
threaded worker, where a thread gets a connection only once its request has arrived
whole.

gthread hands a new or kept-alive connection to a thread, which then blocks reading
the request: a client that opens a connection and sends nothing, or trickles its
headers a line at a time, holds a thread for as long as it likes, and a few dozen
such clients stop a service. Here the worker's event loop reads requests itself
(non-blocking, like nginx's buffering) and hands a thread the complete request; a
request that has not arrived whole within REQUEST_TIMEOUT_S is answered 408 and
closed. What gunicorn itself refuses (a request line or header block too large,
a malformed request) is answered as problem+json too, like every other error.
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
CONTENT_LENGTH = re.compile(rb"^content-length:[ \t]*(\d+)[ \t]*$", re.I | re.M)
CHUNKED = re.compile(rb"^transfer-encoding:.*chunked", re.I | re.M)
EXPECT_CONTINUE = re.compile(rb"^expect:[ \t]*100-continue", re.I | re.M)


def request_state(received: bytes) -> str | None:
    """Whether `received` holds a whole request: "whole", or None while more is to
    come, or the problem code it is refused with."""
    end = received.find(HEADERS_END)
    if end < 0:
        first_line = received.split(b"\r\n", 1)[0]
        if len(first_line) > MAX_REQUEST_LINE:
            return "uri_too_long"
        return "headers_too_large" if len(received) > MAX_HEADER_BYTES else None
    head, body = received[:end], received[end + len(HEADERS_END):]
    if len(head) > MAX_HEADER_BYTES:
        return "headers_too_large"
    if EXPECT_CONTINUE.search(head):
        return "whole"  # the client sends its body once told to: the app's thread does
    if CHUNKED.search(head):
        return "whole" if b"0\r\n\r\n" in body or len(body) > MAX_BODY_BYTES else None
    length = CONTENT_LENGTH.search(head)
    wanted = int(length.group(1)) if length else 0
    # A body over the limit is refused by the app (413) before it reads any of it.
    return "whole" if wanted > MAX_BODY_BYTES or len(body) >= wanted else None


class BufferingThreadWorker(ThreadWorker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.arriving: dict[TConn, tuple[float, bytearray]] = {}  # conn -> deadline, bytes

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

    def receive(self, conn: TConn) -> None:
        conn.sock.setblocking(False)
        self.arriving[conn] = (time.monotonic() + REQUEST_TIMEOUT_S, bytearray())
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_bytes, conn))

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
        received = self.arriving[conn][1]
        received += data
        state = request_state(bytes(received))
        if state is None:
            return
        self.stop_receiving(conn)
        if state == "whole":
            self.hand_over(conn, bytes(received))
        else:
            self.refuse(conn, state, "the request is too large to read")

    def hand_over(self, conn: TConn, received: bytes) -> None:
        conn.buffered = received
        conn.data_ready = True
        self.enqueue_req(conn)

    def handle(self, conn: TConn):
        """In a thread: the parser reads the buffered request first, then the socket."""
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
        late = [c for c, (deadline, _) in self.arriving.items()
                if deadline <= now or not self.alive]
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
