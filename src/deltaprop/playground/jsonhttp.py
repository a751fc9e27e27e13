"""JSON over HTTP/1.1 for the playground: each request read within time limits, every refusal
a one-line JSON answer, nothing a client declares allocated or waited for without bound.

A socket's timeout restarts with every byte received, so a client dripping a byte every few
seconds holds its connection (and the server's thread for it) forever; :class:`DeadlineReader`
gives a whole request one deadline instead. :func:`body_length` reads the body's size from the
headers strictly, so that nothing is read past what the server accepts, and no two readers of
the same bytes (a proxy, this server) can disagree on where a body ends.
:class:`JSONServer` and :class:`JSONRequestHandler` put these together; the playground's API
(:mod:`deltaprop.playground.server`) adds the routes.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MAX_BODY_BYTES = 64 * 1024
MAX_LINE_BYTES = 64 * 1024  # the request line, as the standard library bounds it
# A request's bytes (line, headers, body: a few hundred bytes from the page) must all arrive
# within REQUEST_TIMEOUT seconds of its first; the next request on a kept-alive connection may
# be waited for IDLE_TIMEOUT seconds (a tab idles between its requests, and a browser opens a
# new connection when the server has closed one). IDLE_TIMEOUT also bounds each write.
REQUEST_TIMEOUT = 20.0
IDLE_TIMEOUT = 60.0
_DIGITS = re.compile(r"[0-9]+")


class RequestError(Exception):
    """A request the server refuses: answered ``{"error": message, "field": field}``."""

    def __init__(self, status: HTTPStatus, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.field = status, field


class ReadTimeout(TimeoutError):
    """The request did not arrive before its deadline."""


class DeadlineReader(io.RawIOBase):
    """The bytes a connection receives, every read bounded by one deadline set by :meth:`limit`.

    Each read waits only for the time left until the deadline (not a fresh timeout per read),
    then raises :class:`ReadTimeout`. Wrap it in :class:`io.BufferedReader` for ``readline``.
    """

    def __init__(self, connection: socket.socket) -> None:
        super().__init__()
        self._connection = connection
        self._deadline = math.inf

    def limit(self, seconds: float) -> None:
        """Reads from now on must be done within ``seconds``."""
        self._deadline = time.monotonic() + seconds

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise ReadTimeout("the deadline has passed")
        self._connection.settimeout(left)
        try:
            return self._connection.recv_into(buffer)
        except TimeoutError:
            raise ReadTimeout("the deadline has passed") from None


def body_length(headers: Message, limit: int) -> int:
    """The body's length in bytes, from 1 to ``limit``, as its one Content-Length header says.

    Raises
    ------
    RequestError
        411 without a Content-Length or with a Transfer-Encoding (chunked bodies are not read:
        their end is not where Content-Length says); 400 for a value that is not one whole
        number of bytes, or 0; 413 beyond ``limit`` (nothing of it is read or allocated).
    """
    values = headers.get_all("Content-Length") or []
    if headers.get("Transfer-Encoding") is not None or not values:
        raise RequestError(HTTPStatus.LENGTH_REQUIRED, "the request needs a JSON body sent with a "
                           "Content-Length header (and no Transfer-Encoding)")
    written = sorted({value.strip() for value in values})
    if len(written) > 1 or not _DIGITS.fullmatch(written[0]):
        shown = ", ".join(repr(value[:40]) for value in written)
        raise RequestError(HTTPStatus.BAD_REQUEST,
                           f"Content-Length must be one whole number of bytes, got {shown}")
    digits = written[0].lstrip("0") or "0"
    # More digits than the limit has is more than the limit: never parse a number of any size.
    if len(digits) > len(str(limit)) or int(digits) > limit:
        raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body's Content-Length "
                           f"{digits[:40]} is over the {limit} bytes the server reads")
    if digits == "0":
        raise RequestError(HTTPStatus.BAD_REQUEST, "the request needs a JSON body; "
                           "its Content-Length is 0")
    return int(digits)


def announces_body(headers: Message) -> bool:
    """Whether the headers announce a body (which a GET's handler never reads)."""
    return headers.get("Transfer-Encoding") is not None or any(
        value.strip() not in ("", "0") for value in headers.get_all("Content-Length") or [])


def shorten(text: str) -> str:
    """A client's text in an error message, cut short (a path or a method: no line breaks)."""
    return text if len(text) <= 60 else text[:57] + "..."


class JSONServer(ThreadingHTTPServer):
    """A threading HTTP server with a deep listen backlog, time limits for its handlers, and
    :meth:`close_connections` to end the kept-alive ones.

    ``request_timeout`` bounds the time a request takes to arrive, from its first byte to the
    end of its body (a slower one is answered 408 and its connection closed); ``idle_timeout``
    bounds the wait for the next request on a kept-alive connection, and each write.
    """

    daemon_threads = True
    # The listen backlog: connections the kernel completes before the serving thread accepts
    # them. socketserver's 5 is overrun when a page load and a few busy tabs connect at once
    # (the serving thread shares the interpreter with training requests): beyond it the kernel
    # drops or resets connections. The kernel caps the value at net.core.somaxconn.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[JSONRequestHandler], *,
                 request_timeout: float = REQUEST_TIMEOUT,
                 idle_timeout: float = IDLE_TIMEOUT) -> None:
        for name, seconds in (("request_timeout", request_timeout), ("idle_timeout", idle_timeout)):
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (
                    0 < seconds < math.inf):
                raise ValueError(f"{name} must be a positive number of seconds, got {seconds!r}")
        super().__init__(address, handler)
        self.request_timeout, self.idle_timeout = float(request_timeout), float(idle_timeout)
        self._connections: set[socket.socket] = set()  # open keep-alive connections
        self._connections_lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (closed tab, reload) is not an error worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def track(self, connection: socket.socket, is_open: bool) -> None:
        """Note a handler's connection opening or closing (for :meth:`close_connections`)."""
        with self._connections_lock:
            (self._connections.add if is_open else self._connections.discard)(connection)

    def close_connections(self) -> None:
        """End every open connection: after :meth:`shutdown`, a kept-alive connection would
        otherwise go on being served by its thread."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its client
                connection.shutdown(socket.SHUT_RDWR)


class JSONRequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; each request read within the server's time limits; every
    refusal (a :class:`RequestError`, the standard library's own, an unexpected exception) a
    JSON answer, after which the connection is closed.

    A subclass answers with :meth:`routes` (method -> callable) and may refuse a request in
    :meth:`check`.
    """

    server: JSONServer
    protocol_version = "HTTP/1.1"  # keep-alive: the page's request loop reuses its connection
    # The headers and the body leave in two writes; with Nagle's algorithm the body would wait
    # for the client's delayed ACK of the headers (40 ms a request on Linux).
    disable_nagle_algorithm = True

    def routes(self) -> dict[str, Callable[[], None]]:
        """The answer to each method the handler takes (others are refused with 405)."""
        raise NotImplementedError

    def check(self) -> None:
        """Raise :class:`RequestError` to refuse the request before it is routed."""

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the socket's own reader: its timeout restarts with every byte
        self._reader = DeadlineReader(self.connection)
        self._buffered = io.BufferedReader(self._reader)
        self.rfile = self._buffered
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    # -- reading -------------------------------------------------------------------------------
    def handle_one_request(self) -> None:
        """Read one request and answer it (the standard library's method, with time limits).

        The next request's first byte may be waited for ``server.idle_timeout`` seconds; from
        then on the whole request must arrive within ``server.request_timeout``, however
        slowly it is dripped, or it is answered 408 and the connection closed.
        """
        self.close_connection = True  # until a request line says otherwise
        # what an answer before the request line is parsed (408, 414) is written with
        self.command = self.requestline = self.request_version = ""
        if not self._request_arrives():
            return
        self._reader.limit(self.server.request_timeout)
        try:
            self._read_and_answer()
        except ReadTimeout:
            self.close_connection = True
            with contextlib.suppress(OSError):  # a client that slow may be gone as well
                self.send_error(HTTPStatus.REQUEST_TIMEOUT, "the request did not arrive within "
                                f"{self.server.request_timeout:g} s")
        except (TimeoutError, ConnectionError):  # an answer no one reads; a client gone
            self.close_connection = True

    def _request_arrives(self) -> bool:
        """Wait for the next request's first byte; False at the end of the connection or
        after ``server.idle_timeout`` seconds without one."""
        self._reader.limit(self.server.idle_timeout)
        try:
            return bool(self._buffered.peek(1))
        except (ReadTimeout, ConnectionError):
            return False

    def _read_and_answer(self) -> None:
        self.raw_requestline = self.rfile.readline(MAX_LINE_BYTES + 1)
        if len(self.raw_requestline) > MAX_LINE_BYTES:
            self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG,
                            f"the request line is longer than {MAX_LINE_BYTES} bytes")
            return
        if not self.parse_request():  # a malformed line or headers (answered), or no request
            return
        if self.request_version == "HTTP/0.9":  # "GET /": its answer would have no status line
            self.send_error(HTTPStatus.BAD_REQUEST, "the request line must end in its HTTP "
                            "version (HTTP/1.1)")
            return
        if self.command != "POST" and announces_body(self.headers):
            self.close_connection = True  # its body is never read: not to be taken for a request
        self._answer(self.routes().get(self.command, self._refuse_method))
        self.wfile.flush()

    def handle_expect_100(self) -> bool:
        """"Expect: 100-continue": refuse a body the server would not read before it is sent."""
        if self.command == "POST":
            try:
                body_length(self.headers, MAX_BODY_BYTES)
            except RequestError as error:
                self.close_connection = True
                self.send_json(error.status, {"error": str(error), "field": error.field})
                return False
        return super().handle_expect_100()

    def read_json(self) -> dict[str, Any]:
        """The request's body: a JSON object of at most MAX_BODY_BYTES bytes."""
        length = body_length(self.headers, MAX_BODY_BYTES)
        data = self.rfile.read(length)
        if len(data) < length:  # the client has stopped sending, and may wait for an answer
            raise RequestError(HTTPStatus.BAD_REQUEST, f"the body ended after {len(data)} of "
                               f"the {length} bytes its Content-Length announced")
        try:
            body = json.loads(data)
        except (ValueError, RecursionError) as error:  # not UTF-8, not JSON, too deep, too long
            raise RequestError(HTTPStatus.BAD_REQUEST,
                               f"the body is not JSON the server can read: {error}") from None
        if not isinstance(body, dict):
            raise RequestError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        return body

    def target(self) -> SplitResult:
        """The request's target as a URL (path, query)."""
        try:
            return urlsplit(self.path)
        except ValueError as error:  # "http://[/": a bracket that opens no IPv6 address
            raise RequestError(HTTPStatus.BAD_REQUEST, f"the request's target "
                               f"{shorten(self.path)} is not a URL: {error}") from None

    # -- answering -----------------------------------------------------------------------------
    def _refuse_method(self) -> None:
        allowed = " and ".join(self.routes())
        raise RequestError(HTTPStatus.METHOD_NOT_ALLOWED,
                           f"the server answers {allowed}, not {shorten(self.command)}")

    def _answer(self, respond: Callable[[], None]) -> None:
        """Run ``respond``; a refused request or an unexpected failure becomes a JSON error.

        After an error the connection is closed: a refused POST's body may be unread, and
        must not be taken for the next request on the connection. A connection that fails or
        times out is left to :meth:`handle_one_request`.
        """
        try:
            self.check()
            respond()
        except RequestError as error:
            self.close_connection = True
            self.send_json(error.status, {"error": str(error), "field": error.field})
        except (ConnectionError, TimeoutError):
            raise
        except Exception as error:  # the page shows it; the server and other tabs go on
            self.close_connection = True
            self.log_error("%s failed: %r", self.path, error)
            self.send_json(HTTPStatus.INTERNAL_SERVER_ERROR,
                           {"error": f"the server failed: {type(error).__name__}: {error}",
                            "field": None})

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's refusals (a malformed request line or headers) as JSON, like
        the others, and the connection closed."""
        status = HTTPStatus(code)
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # the line's version is unread or not 1.x:
            self.request_version = ""  # answer with a status line and headers all the same
        detail = f": {explain}" if explain else ""  # "Too many headers: got more than 100 headers"
        self.send_json(status, {"error": (message or status.phrase) + detail, "field": None})

    def send_json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, allow_nan=False, separators=(",", ":")).encode()
        self.send_data(status, data, "application/json")

    def send_data(self, status: HTTPStatus, data: bytes, content_type: str,
                  attachment: str | None = None) -> None:
        self.connection.settimeout(self.server.idle_timeout)  # a write waits for its reader
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        if self.close_connection:  # tell the client, so it does not send on a closing line
            self.send_header("Connection", "close")
        if attachment:
            self.send_header("Content-Disposition", f'attachment; filename="{attachment}"')
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            self.send_header("Allow", ", ".join(self.routes()))
        self.end_headers()
        if self.command != "HEAD":  # an answer to HEAD has headers only
            self.wfile.write(data)
