"""The control plane over HTTP (loopback, JSON): what ``fakegc ctl`` and Docker users call.

=========================  =====================================================
``GET  /state``            cluster state, per-GC states, referral target
``GET  /endpoints``        the endpoints document
``GET  /journal?since=N``  journal entries after sequence N (``kind=`` filters)
``GET  /rules``            fault rules
``POST /fire``             ``{"event": "shutdown_begin", "gc": "gc01"}``
``POST /rules``            a fault rule as JSON → its id
``DELETE /rules/<id>``     remove a rule
``POST /reset``            back to HEALTHY
=========================  =====================================================
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

__all__ = ["AdminServer"]


class AdminServer:
    """A tiny HTTP/1.1 server bound to the cluster."""

    def __init__(self, cluster: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.cluster = cluster
        self.host = host
        self.port = port
        self._server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            length = int(headers.get("content-length", "0") or 0)
            if length > 1 << 20:
                raise ValueError("body too large")
            body = await reader.readexactly(length) if length else b""
            status, payload = await self._route(method, target, body)
        except (TimeoutError, ValueError, KeyError, json.JSONDecodeError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            status, payload = 400, {"error": str(exc) or type(exc).__name__}
        data = json.dumps(payload, default=str).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "OK")
        writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
        try:
            await writer.drain()
        finally:
            writer.close()

    async def _route(self, method: str, target: str, body: bytes) -> tuple[int, Any]:
        url = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path.rstrip("/")
        data = json.loads(body) if body else {}
        if method == "DELETE" and path.startswith("/rules/"):
            self.cluster.remove_rule(int(path.rsplit("/", 1)[1]))
            return 200, {"removed": True}
        handler = self._ROUTES.get((method, path))
        if handler is None:
            return 404, {"error": f"no route {method} {path}"}
        return 200, await handler(self, query, data)

    # -- one handler per route: (query, JSON body) -> payload ---------------------------
    async def _state(self, query: dict[str, str], data: dict[str, Any]) -> Any:
        c = self.cluster
        return {"state": c.state.value, "referral": c.current_gc, "pinned": c.pinned_gc,
                "gcs": {n: {"state": g.state.value, "server_guid": str(g.server_guid)}
                        for n, g in c.gcs.items()},
                "kdc_clock_offset": c.kdc.clock_offset}

    async def _endpoints(self, query: dict[str, str], data: dict[str, Any]) -> Any:
        return self.cluster.endpoints()

    async def _journal(self, query: dict[str, str], data: dict[str, Any]) -> Any:
        since = int(query.get("since", "0"))
        entries = self.cluster.journal.entries(query.get("kind"), since=since)
        return [e.to_dict() for e in entries[-int(query.get("limit", "1000")):]]

    async def _rules(self, query: dict[str, str], data: dict[str, Any]) -> Any:
        return [r.to_dict() for r in self.cluster.rules]

    async def _fire(self, query: dict[str, str], data: dict[str, Any]) -> Any:
        event = data.pop("event")
        return await self.cluster.fire(event, **data)

    async def _add_rule(self, query: dict[str, str], data: dict[str, Any]) -> Any:
        return {"id": self.cluster.add_rule(**data).id}

    async def _reset(self, query: dict[str, str], data: dict[str, Any]) -> Any:
        await self.cluster.reset(clear_journal=bool(data.get("clear_journal", True)))
        return {"state": self.cluster.state.value}

    _ROUTES: ClassVar[dict[tuple[str, str], Callable[[AdminServer, dict[str, str], dict[str, Any]],
                                                      Awaitable[Any]]]] = {
        ("GET", "/state"): _state, ("GET", "/endpoints"): _endpoints, ("GET", "/journal"): _journal,
        ("GET", "/rules"): _rules, ("POST", "/fire"): _fire, ("POST", "/rules"): _add_rule,
        ("POST", "/reset"): _reset}
