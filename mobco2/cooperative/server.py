"""``mobco2 aggregate serve``: the cooperative's HTTP receiver (Starlette on uvicorn).

``POST /submissions`` (or ``/``) takes one signed document; the body is counted while it is read
and refused past ``max_body_bytes`` (413) without reading the rest. Answers, each a JSON object
with ``status`` and ``reason``:

=====  ==============================================================
201    stored (verified, written atomically under ``DIR/documents/``)
200    duplicate: the same document, or the same ``Idempotency-Key``
400    malformed: not UTF-8 JSON, duplicate keys, or against the schema
401    unsigned, unknown participant key, or bad signature
403    the participant is registered in another territory
409    the ``Idempotency-Key`` was already used for another document
413    the body is larger than the cap
=====  ==============================================================

``GET /health`` answers ``{"status": "ok"}``. Every request logs one line on stderr.
The registry is re-read when its file or folder changes, so registering a participant needs no
restart.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mobco2.cooperative.inbox import CONFLICT, STORED, Inbox
from mobco2.cooperative.registry import Registry
from mobco2.cooperative.verify import verify_bytes

DEFAULT_MAX_BODY_BYTES = 64 * 1024
IDEMPOTENCY_HEADER = "idempotency-key"


class _TooLarge(Exception):
    pass


class RegistryCache:
    """The registry, re-loaded when the file or folder's modification times change."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp = self._mtimes()
        self._checked = time.monotonic()
        self.registry = Registry.load(self.path)

    def _mtimes(self) -> tuple[int, ...]:
        paths = [self.path, *sorted(self.path.iterdir())] if self.path.is_dir() else [self.path]
        return tuple(p.stat().st_mtime_ns for p in paths)

    def current(self) -> Registry:
        now = time.monotonic()
        if now - self._checked < 1.0:  # a stat per file per second at most, not per request
            return self.registry
        self._checked = now
        stamp = self._mtimes()
        if stamp != self._stamp:
            with self._lock:
                try:
                    self.registry, self._stamp = Registry.load(self.path), stamp
                except Exception as e:  # a half-edited registry: keep serving the last good one
                    _log(f"registry reload failed, keeping the previous one: {e}")
        return self.registry


def _log(line: str) -> None:
    sys.stderr.write(f"{datetime.now(UTC).isoformat(timespec='milliseconds')} {line}\n")
    sys.stderr.flush()


def _answer(status: int, state: str, reason: str, **extra: Any) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse({"status": state, "reason": reason, **extra}, status_code=status)


async def _read_capped(request: Any, cap: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > cap):
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(directory: str | Path, registry: str | Path, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> Any:
    """The receiver as an ASGI app storing into ``directory`` and verifying with ``registry``."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.routing import Route

    if max_body_bytes < 1:
        from mobco2.errors import UsageError

        raise UsageError(f"--max-body-bytes {max_body_bytes} must be positive")
    inbox = Inbox(directory)
    keys = RegistryCache(registry)

    def accept(body: bytes, idempotency_key: str | None) -> Any:
        verdict = verify_bytes(body, keys.current())
        if not verdict.ok:
            return _answer(verdict.http_status, verdict.rejection, verdict.reason)
        outcome = inbox.put(verdict.body, verdict.sha256, idempotency_key)
        if outcome == CONFLICT:
            return _answer(409, "conflict", "this Idempotency-Key was used for another document")
        doc = verdict.document or {}
        status = 201 if outcome == STORED else 200
        reason = "stored" if outcome == STORED else "already received"
        return _answer(status, outcome, reason, document_sha256=verdict.sha256, period=doc.get("period"))

    async def submissions(request: Any) -> Any:
        try:
            body = await _read_capped(request, max_body_bytes)
        except _TooLarge:
            return _answer(413, "too-large", f"the body is larger than {max_body_bytes} bytes")
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None and not 1 <= len(key) <= 200:
            return _answer(400, "malformed", "Idempotency-Key must be 1 to 200 characters")
        return await run_in_threadpool(accept, body, key)

    async def health(request: Any) -> Any:
        return _answer(200, "ok", "ready", participants=len(keys.current()))

    app = Starlette(
        routes=[
            Route("/", submissions, methods=["POST"]),
            Route("/submissions", submissions, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )
    return _RequestLog(app)


class _RequestLog:
    """ASGI middleware: one line per HTTP request (method, path, status, bytes out, milliseconds)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen: dict[str, Any] = {"status": 0, "bytes": 0, "body": b""}

        async def send_logged(message: Any) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            elif message["type"] == "http.response.body":
                seen["bytes"] += len(message.get("body", b""))
                if len(seen["body"]) < 300:
                    seen["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            state = ""
            with contextlib.suppress(ValueError, AttributeError):
                state = json.loads(seen["body"]).get("status", "")
            client = (scope.get("client") or ("-",))[0]
            ms = (time.perf_counter() - started) * 1000
            _log(f"{client} {scope['method']} {scope['path']} {seen['status']} {state} {seen['bytes']}B {ms:.1f}ms")


def serve(
    directory: str | Path,
    registry: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8750,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> None:
    """Run the receiver until interrupted (SIGINT/SIGTERM finish requests in flight, then stop)."""
    import uvicorn

    app = create_app(directory, registry, max_body_bytes=max_body_bytes)
    _log(f"receiving submissions on http://{host}:{port}/submissions into {directory}")
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning", server_header=False)
