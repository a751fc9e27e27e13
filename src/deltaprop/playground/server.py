"""The playground's HTTP server: its JSON API and the page, on :mod:`.jsonhttp`'s server.

Each browser tab is a session (an id the page draws), kept in a bounded registry; requests of
one session are serialized by its lock, different sessions train at once in their own threads.
The protocol is written down in docs/playground-protocol.md.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from deltaprop.engine.threads import blas_threads_for
from deltaprop.playground.config import ConfigError, parse_config
from deltaprop.playground.export import model_bytes, python_code
from deltaprop.playground.jsonhttp import (
    IDLE_TIMEOUT,
    REQUEST_TIMEOUT,
    JSONRequestHandler,
    JSONServer,
    RequestError,
    shorten,
)
from deltaprop.playground.landscape import check_radius, check_size
from deltaprop.playground.session import MAX_STEPS_PER_REQUEST, Session

MAX_SESSIONS = 32  # tabs kept at once; the least recently used one goes first
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8"}
# The keys each call reads (of its JSON body; of its query for the exports): any other is refused.
BODY_KEYS = {"/api/reset": ("session", "config"), "/api/train": ("session", "max_ms", "max_steps"),
             "/api/step": ("session",), "/api/trace": ("session", "row"),
             "/api/landscape": ("session", "size", "radius"), "/api/gradcheck": ("session",),
             "/api/export/model": ("session",), "/api/export/code": ("session",)}
_STATIC_NAME = re.compile(r"[A-Za-z0-9_-]+\.(html|js|css)")  # no folders, no dot files


@dataclass
class _Entry:
    session: Session
    lock: threading.Lock


class Sessions:
    """The sessions by id, at most ``capacity`` (least recently used dropped)."""

    def __init__(self, capacity: int = MAX_SESSIONS) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def replace(self, session_id: str, session: Session) -> None:
        """Make ``session`` the tab's run (a reset); the oldest sessions go beyond capacity."""
        with self._lock:
            self._entries[session_id] = _Entry(session, threading.Lock())
            self._entries.move_to_end(session_id)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def get(self, session_id: str) -> _Entry:
        """The tab's session and its lock; RequestError (404) for an id not held."""
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is None:
                raise RequestError(HTTPStatus.NOT_FOUND, "this session is unknown to the server "
                                   "(it restarted, or too many tabs are open): press Reset")
            self._entries.move_to_end(session_id)
            return entry

    def __len__(self) -> int:
        return len(self._entries)


class PlaygroundServer(JSONServer):
    """The HTTP server with its sessions; :attr:`url` is the page's address.

    ``request_timeout`` bounds the time a request takes to arrive, from its first byte to the
    end of its body (a slower one is answered 408 and its connection closed);
    ``idle_timeout`` bounds the wait for the next request on a kept-alive connection, and
    each write of an answer.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8000, *, verbose: bool = False,
                 request_timeout: float = REQUEST_TIMEOUT,
                 idle_timeout: float = IDLE_TIMEOUT) -> None:
        super().__init__((host, port), PlaygroundHandler, request_timeout=request_timeout,
                         idle_timeout=idle_timeout)
        self.sessions = Sessions()
        self.verbose = verbose
        self.loopback = ipaddress.ip_address(str(self.server_address[0])).is_loopback

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/"


class PlaygroundHandler(JSONRequestHandler):
    """The playground's API and page (docs/playground-protocol.md)."""

    server: PlaygroundServer

    def routes(self) -> dict[str, Callable[[], None]]:
        return {"GET": self._route_get, "POST": self._route_post}

    def check(self) -> None:
        """On loopback, answer only requests addressed to loopback: a web page elsewhere whose
        name is made to resolve to 127.0.0.1 (DNS rebinding) must not reach the sessions."""
        if len(self.headers.get_all("Host") or []) > 1:  # which one would a proxy have read?
            raise RequestError(HTTPStatus.BAD_REQUEST, "the request has more than one Host header")
        if not self.server.loopback:
            return
        host = _host_name(self.headers.get("Host") or "")
        if host != "localhost" and not _is_loopback(host):
            shown = repr(host) if host else "a request without a Host header"
            raise RequestError(HTTPStatus.FORBIDDEN, "this server answers requests addressed to "
                               f"localhost or a loopback address only, not to {shown}")

    # -- routing -------------------------------------------------------------------------------
    def _route_get(self) -> None:
        url = self.target()
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        if url.path in BODY_KEYS:
            _check_keys(query, BODY_KEYS[url.path], f"GET {url.path}")
        if url.path == "/api/export/model":
            self._export_model(query)
        elif url.path == "/api/export/code":
            self._export_code(query)
        else:
            self._static(url.path)

    def _route_post(self) -> None:
        routes: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "/api/reset": self._reset, "/api/train": self._train, "/api/step": self._step,
            "/api/trace": self._trace, "/api/landscape": self._landscape,
            "/api/gradcheck": self._gradcheck,
        }
        path = self.target().path
        if path not in routes:
            raise RequestError(HTTPStatus.NOT_FOUND, f"no such API call: POST {shorten(path)}")
        body = self.read_json()
        _check_keys(body, BODY_KEYS[path], f"POST {path}")
        try:
            answer = routes[path](body)
        except ConfigError as error:  # a value the call cannot use, named (row, size, bn ...)
            raise RequestError(HTTPStatus.BAD_REQUEST, str(error), error.field) from None
        self.send_json(HTTPStatus.OK, answer)

    # -- API -----------------------------------------------------------------------------------
    def _reset(self, body: dict[str, Any]) -> dict[str, Any]:
        session_id = _session_id(body)
        try:
            config = parse_config(body.get("config", {}))
            session = Session(config)
        except ConfigError as error:
            raise RequestError(HTTPStatus.BAD_REQUEST, str(error), error.field) from None
        state = session.state(with_data=True)  # before the session is published: no other
        # request can use it yet
        self.server.sessions.replace(session_id, session)
        return {"config": config.as_dict(), "query": config.query(), "state": state}

    def _train(self, body: dict[str, Any]) -> dict[str, Any]:
        max_ms = _bounded_number(body, "max_ms", 100, 1, 2000, "a number of milliseconds")
        max_steps = _bounded_number(body, "max_steps", MAX_STEPS_PER_REQUEST, 1,
                                    MAX_STEPS_PER_REQUEST, "a whole number of minibatches",
                                    integer=True)
        entry = self.server.sessions.get(_session_id(body))
        with entry.lock:
            entry.session.train(float(max_ms), int(max_steps))
            return {"state": entry.session.state()}

    def _step(self, body: dict[str, Any]) -> dict[str, Any]:
        entry = self.server.sessions.get(_session_id(body))
        with entry.lock:
            result = entry.session.step()
            return {"state": entry.session.state(result)}

    def _trace(self, body: dict[str, Any]) -> dict[str, Any]:
        entry = self.server.sessions.get(_session_id(body))
        with entry.lock:
            return {"trace": entry.session.trace(body.get("row"))}

    def _landscape(self, body: dict[str, Any]) -> dict[str, Any]:
        size, radius = check_size(body.get("size", 21)), check_radius(body.get("radius", 1.0))
        entry = self.server.sessions.get(_session_id(body))
        with entry.lock:
            return {"landscape": entry.session.landscape(size, radius)}

    def _gradcheck(self, body: dict[str, Any]) -> dict[str, Any]:
        entry = self.server.sessions.get(_session_id(body))
        with entry.lock:
            return {"gradcheck": entry.session.gradcheck()}

    def _export_model(self, query: dict[str, str]) -> None:
        entry = self.server.sessions.get(_session_id(query))
        with entry.lock:
            data = model_bytes(entry.session)
        self.send_data(HTTPStatus.OK, data, "application/octet-stream", "playground.dp")

    def _export_code(self, query: dict[str, str]) -> None:
        entry = self.server.sessions.get(_session_id(query))
        with entry.lock:
            code = python_code(entry.session)
        self.send_data(HTTPStatus.OK, code.encode(), "text/x-python; charset=utf-8", "playground_run.py")

    # -- plumbing ------------------------------------------------------------------------------
    def _static(self, path: str) -> None:
        """The page and its files: plain names in the package's static folder, nothing else."""
        name = "index.html" if path in ("/", "/index.html") else path.removeprefix("/static/")
        if name == path or not _STATIC_NAME.fullmatch(name):
            raise RequestError(HTTPStatus.NOT_FOUND, f"no such page: {shorten(path)}")
        suffix = "." + name.rpartition(".")[2]
        resource = resources.files("deltaprop.playground").joinpath("static", name)
        if not resource.is_file():
            raise RequestError(HTTPStatus.NOT_FOUND, f"no such page: {shorten(path)}")
        self.send_data(HTTPStatus.OK, resource.read_bytes(), STATIC_TYPES[suffix])

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        if self.server.verbose:
            super().log_message(format, *args)


def _host_name(header: str) -> str:
    """The host of a Host header: "127.0.0.1:8000" -> "127.0.0.1", "[::1]:8000" -> "::1"."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bounded_number(body: dict[str, Any], key: str, default: float, low: float, high: float,
                    what: str, *, integer: bool = False) -> float:
    value = body.get(key, default)
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        raise RequestError(HTTPStatus.BAD_REQUEST,
                           f"{key} must be {what} from {low:g} to {high:g}, got {value!r}", key)
    return value


def _check_keys(body: dict[str, Any], known: tuple[str, ...], call: str) -> None:
    """Refuse a key the call does not read: a misspelt one would otherwise be ignored."""
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"{call} takes no {shorten(unknown[0])!r}; "
                           f"its keys: {', '.join(known)}", unknown[0])


def _session_id(values: dict[str, Any]) -> str:
    session_id = values.get("session")
    if not isinstance(session_id, str) or not 1 <= len(session_id) <= 100:
        raise RequestError(HTTPStatus.BAD_REQUEST, "the request must name its session "
                           "(a string of 1 to 100 characters)", "session")
    return session_id


def serve(port: int = 8000, host: str = "127.0.0.1", *, verbose: bool = False,
          ready: Callable[[PlaygroundServer], None] | None = None) -> None:
    """Serve the playground until interrupted (Ctrl-C); opens no browser.

    Parameters
    ----------
    port : int
        0 picks a free port.
    host : str
        127.0.0.1 by default: only this machine can reach it.
    verbose : bool
        Log every request to stderr.
    ready : callable, optional
        Called with the server once it listens (the CLI prints its address).
    """
    server = PlaygroundServer(host, port, verbose=verbose)
    if ready is not None:
        ready(server)
    try:
        with _one_blas_thread():
            server.serve_forever(poll_interval=0.2)
    finally:
        server.close_connections()
        server.server_close()


def _one_blas_thread() -> Any:
    """One BLAS thread while the server runs: its products are all small (at most 11,024 grid
    rows through 16 units), and with a second thread each waits for a core other processes keep
    busy (the same product was measured at 0.04 ms and at 5 ms). Set once, here: limits set and
    restored per request, from the request threads, did not restore reliably (OpenBLAS kept one
    thread after a burst of concurrent requests)."""
    try:
        return blas_threads_for(None, 0, 1)
    except ImportError:  # no threadpoolctl: BLAS as it is
        return contextlib.nullcontext()


class RunningServer:
    """A playground server in a background thread (tests, notebooks); :meth:`shutdown` ends it."""

    def __init__(self, server: PlaygroundServer, thread: threading.Thread) -> None:
        self.server, self.thread = server, thread
        self.url = server.url

    def shutdown(self) -> None:
        """Stop accepting, end the open connections, close the socket."""
        self.server.shutdown()
        self.server.close_connections()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_in_thread(port: int = 0, host: str = "127.0.0.1", *,
                    request_timeout: float = REQUEST_TIMEOUT,
                    idle_timeout: float = IDLE_TIMEOUT) -> RunningServer:
    """Start a playground server in a daemon thread and return it once it listens (the time
    limits as :class:`PlaygroundServer` takes them)."""
    server = PlaygroundServer(host, port, request_timeout=request_timeout,
                              idle_timeout=idle_timeout)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="deltaprop-playground", daemon=True)
    thread.start()  # the socket listens from the constructor on: requests wait, none fail
    return RunningServer(server, thread)
