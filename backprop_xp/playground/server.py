"""The playground's HTTP server: the page's three static files and a small JSON API.

Standard library only (``http.server.ThreadingHTTPServer``): one thread per
request, so several tabs train at once. Every bad request gets a 4xx status
and ``{"error": "... expected ...; received ..."}``; a failure that is not the
request's fault gets a 500 with the same shape. Either way the server keeps
serving.

API (JSON in, JSON out)::

    GET    /api/options                  backend, device, choices, defaults, limits
    POST   /api/sessions                 settings -> 201 {id, info, view}
    GET    /api/sessions/ID              {id, info, view}
    POST   /api/sessions/ID/step         {"epochs": N} -> {losses, view}
    POST   /api/sessions/ID/reset        settings -> {id, info, view} (a new network, same id)
    DELETE /api/sessions/ID              204
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import webbrowser
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ..activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from ..backends import Backend, get_backend
from ..errors import InputError, SettingError
from ..initializers import INITIALIZERS
from ..losses import COMPATIBLE_OUTPUTS, LOSSES
from ..optimizers import OPTIMIZERS
from ..settings import Integer, check
from .sessions import (
    DATASETS,
    DEFAULTS,
    LIMITS,
    Limits,
    SessionDiverged,
    SessionNotFound,
    SessionStore,
    TooManySessions,
    check_epochs,
)

STATIC = Path(__file__).parent / "static"
FILES = {"/": "index.html", "/index.html": "index.html", "/app.js": "app.js", "/style.css": "style.css"}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
MAX_BODY = 64 * 1024  # bytes: settings are a few hundred


class _Reply(Exception):
    """Answer the request with this status and message (raised inside a handler)."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def _status(exc: InputError) -> HTTPStatus:
    if isinstance(exc, SessionNotFound):
        return HTTPStatus.NOT_FOUND
    if isinstance(exc, TooManySessions):
        return HTTPStatus.TOO_MANY_REQUESTS
    if isinstance(exc, SessionDiverged):
        return HTTPStatus.CONFLICT
    return HTTPStatus.BAD_REQUEST


class PlaygroundServer(ThreadingHTTPServer):
    """A threading HTTP server that holds the sessions and the backend they train on."""

    daemon_threads = True  # a request in flight does not keep the process alive on Ctrl-C

    def __init__(self, address: tuple[str, int], backend: Backend, limits: Limits = LIMITS) -> None:
        super().__init__(address, _Handler)
        self.backend, self.limits = backend, limits
        self.store = SessionStore(backend, limits)
        # Steps of different sessions may run at once, but no more of them than this.
        self.compute = threading.BoundedSemaphore(4)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/"


class _Handler(BaseHTTPRequestHandler):
    server: PlaygroundServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # one line per error only, not per request
        pass

    def do_GET(self) -> None:
        self._answer(self._get)

    def do_POST(self) -> None:
        self._answer(self._post)

    def do_DELETE(self) -> None:
        self._answer(self._delete)

    def do_PUT(self) -> None:
        self._answer(self._not_allowed)

    do_PATCH = do_PUT

    # --- routes -------------------------------------------------------------

    def _get(self, parts: list[str]) -> tuple[HTTPStatus, Any]:
        if self.path.split("?")[0] in FILES:
            return self._file(FILES[self.path.split("?")[0]])
        if parts == ["api", "options"]:
            return HTTPStatus.OK, self._options()
        if len(parts) == 3 and parts[:2] == ["api", "sessions"]:
            key = parts[2]
            session = self.server.store.get(key)
            with session.lock:
                return HTTPStatus.OK, {"id": key, "info": session.describe(), "view": session.view()}
        raise _Reply(HTTPStatus.NOT_FOUND, f"expected one of the page's files or /api/...; received GET {self.path!r}.")

    def _post(self, parts: list[str]) -> tuple[HTTPStatus, Any]:
        body = self._body()
        store = self.server.store
        if parts == ["api", "sessions"]:
            with self.server.compute:
                key, session = store.create(body)
                return HTTPStatus.CREATED, {"id": key, "info": session.describe(), "view": session.view()}
        if len(parts) == 4 and parts[:2] == ["api", "sessions"] and parts[3] in ("step", "reset"):
            key = parts[2]
            if parts[3] == "reset":
                with self.server.compute:
                    session = store.reset(key, body)
                    return HTTPStatus.OK, {"id": key, "info": session.describe(), "view": session.view()}
            if not isinstance(body, dict) or set(body) - {"epochs"}:
                raise _Reply(HTTPStatus.BAD_REQUEST, f'expected {{"epochs": N}}; received {json.dumps(body)[:200]}.')
            epochs = check_epochs(body.get("epochs", 1), self.server.limits)
            session = store.get(key)
            with self.server.compute, session.lock:
                losses = session.step(epochs, self.server.limits)
                return HTTPStatus.OK, {"losses": losses, "view": session.view()}
        raise _Reply(HTTPStatus.NOT_FOUND, f"expected POST /api/sessions[/ID/step|/ID/reset]; received POST {self.path!r}.")

    def _delete(self, parts: list[str]) -> tuple[HTTPStatus, Any]:
        if len(parts) == 3 and parts[:2] == ["api", "sessions"]:
            self.server.store.delete(parts[2])
            return HTTPStatus.NO_CONTENT, None
        raise _Reply(HTTPStatus.NOT_FOUND, f"expected DELETE /api/sessions/ID; received DELETE {self.path!r}.")

    def _not_allowed(self, parts: list[str]) -> tuple[HTTPStatus, Any]:
        raise _Reply(HTTPStatus.METHOD_NOT_ALLOWED, f"expected GET, POST or DELETE; received {self.command}.")

    # --- pieces -------------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        backend = self.server.backend
        return {
            "backend": backend.name, "device": str(backend.device), "defaults": DEFAULTS,
            "limits": dataclasses.asdict(self.server.limits),
            "choices": {
                "dataset": list(DATASETS), "hidden_activation": list(HIDDEN_ACTIVATIONS),
                "output_activation": list(OUTPUT_ACTIVATIONS), "loss": list(LOSSES),
                "init": sorted(INITIALIZERS), "optimizer": list(OPTIMIZERS),
                "compatible_outputs": {k: list(v) for k, v in COMPATIBLE_OUTPUTS.items()},
            },
        }

    def _file(self, name: str) -> tuple[HTTPStatus, Any]:
        data = (STATIC / name).read_bytes()
        self._send(HTTPStatus.OK, data, TYPES[Path(name).suffix])
        return HTTPStatus.OK, _SENT

    def _body(self) -> Any:
        length = self.headers.get("Content-Length")
        try:
            size = check("Content-Length", int(length or 0), Integer(0, MAX_BODY))
        except ValueError:
            self.close_connection = True  # the body, unread, would be taken for the next request
            raise _Reply(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"expected a body of at most {MAX_BODY} bytes; received Content-Length {length!r}.",
            ) from None
        raw = self.rfile.read(size) if size else b"{}"
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _Reply(HTTPStatus.BAD_REQUEST, f"expected a JSON body; received {raw[:80]!r} ({exc}).") from None

    def _answer(self, route: Callable[[list[str]], tuple[HTTPStatus, Any]]) -> None:
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        try:
            status, payload = route(parts)
            if payload is _SENT:
                return
            body = b"" if payload is None else json.dumps(payload, allow_nan=False).encode()
        except _Reply as reply:
            status, body = reply.status, self._error(str(reply))
        except InputError as exc:
            status, body = _status(exc), self._error(str(exc), type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 (not the request's fault: say so, and keep serving)
            print(f"backprop-xp playground: {self.command} {self.path}: {type(exc).__name__}: {exc}", file=sys.stderr)
            status, body = HTTPStatus.INTERNAL_SERVER_ERROR, self._error(f"the server failed: {type(exc).__name__}: {exc}")
        self._send(status, body, None if status == HTTPStatus.NO_CONTENT else "application/json")

    @staticmethod
    def _error(message: str, kind: str | None = None) -> bytes:
        return json.dumps({"error": message, **({"kind": kind} if kind else {})}).encode()

    def _send(self, status: HTTPStatus, data: bytes, content_type: str | None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


_SENT = object()  # a route that has written its own response


def make_server(host: str = "127.0.0.1", port: int = 8000, backend: str | None = None) -> PlaygroundServer:
    """A playground server bound to ``host:port`` (``port=0``: any free port), not yet serving.

    The backend is loaded first, so that a backend that cannot run here is
    refused (a :class:`~backprop_xp.errors.BackendUnavailableError`) before
    anything listens.
    """
    port = check("port", port, Integer(0, 65535))
    chosen = get_backend(backend)
    try:
        return PlaygroundServer((host, port), chosen)
    except OSError as exc:
        raise SettingError(
            f"expected a host and port to listen on; received {host}:{port} ({exc.strerror or exc}). "
            "Try another --port (0: any free one)."
        ) from None


def serve(host: str = "127.0.0.1", port: int = 8000, backend: str | None = None, *, open_browser: bool = False) -> None:
    """Serve the playground until interrupted (Ctrl-C raises KeyboardInterrupt, after the socket is closed)."""
    server = make_server(host, port, backend)
    try:
        print(f"backprop-xp playground on {server.backend.name} ({server.backend.device}): {server.url}  "
              "(Ctrl-C stops it)", flush=True)
        if open_browser:
            webbrowser.open(server.url)
        server.serve_forever()
    finally:
        server.server_close()
