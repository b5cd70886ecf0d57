"""The control plane over HTTP (loopback, JSON): what ``fakegc ctl`` and Docker users call.

=========================  =====================================================
``GET  /state``            cluster state, per-GC states, referral target, health
``GET  /endpoints``        the endpoints document
``GET  /journal?since=N``  journal entries after sequence N (``kind=`` filters)
``GET  /rules``            fault rules
``POST /fire``             ``{"event": "shutdown_begin", "gc": "gc01"}``
``POST /rules``            a fault rule as JSON → its id
``DELETE /rules/<id>``     remove a rule (404 ``{"removed": false}`` when there is none)
``POST /reset``            back to HEALTHY
=========================  =====================================================

Every request carries ``Authorization: Bearer <token>`` (RFC 6750 2.1); the token is
generated at start (or taken from ``FAKEGC_ADMIN_TOKEN``) and written into the endpoints
document.  Without it the answer is 401 with ``WWW-Authenticate: Bearer`` (RFC 6750 3).
A body that is not a JSON object, a key an event or rule does not take, a value of the
wrong type or an unknown event name is a 400 naming the problem (RFC 9110 15.5.1).
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import json
import os
import secrets
import typing
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fakegc.scenario.configcheck import describe, value_ok
from fakegc.scenario.events import EVENTS
from fakegc.scenario.rules import FaultRule
from fakegc.wire.http import HttpError, HttpLimits, content_length, read_body, read_head

__all__ = ["TOKEN_ENV", "AdminServer", "check_arguments"]

TOKEN_ENV = "FAKEGC_ADMIN_TOKEN"
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 408: "Request Timeout", 413: "Content Too Large",
            431: "Request Header Fields Too Large", 500: "Internal Server Error"}


def check_arguments(what: str, target: Any, data: dict[str, Any], skip: tuple[str, ...] = ()) -> None:
    """Keys and value types of ``data`` against ``target``'s signature; ValueError naming the key."""
    hints = typing.get_type_hints(target)
    params = {n: p for n, p in inspect.signature(target).parameters.items()
              if n not in ("self", "rule", "kw") and n not in skip
              and p.kind is not inspect.Parameter.VAR_KEYWORD}
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD
                     for p in inspect.signature(target).parameters.values())
    for key, value in data.items():
        if key not in params:
            if open_ended:
                continue
            raise ValueError(f"{what}: unknown key {key!r} (takes {', '.join(params) or 'nothing'})")
        hint = hints.get(key)
        if hint is not None and not value_ok(value, hint):
            raise ValueError(f"{what}: {key} must be {describe(hint)}, not {type(value).__name__}")


class AdminServer:
    """A tiny HTTP/1.1 server bound to the cluster."""

    def __init__(self, cluster: Any, host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None, limits: HttpLimits | None = None) -> None:
        self.cluster = cluster
        self.host = host
        self.port = port
        self.token = token or os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(24)
        self.limits = limits or HttpLimits(header_timeout=10.0, body_timeout=10.0)
        self._server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port,
                                                  limit=self.limits.max_header)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            self._server = None

    def _authorized(self, headers: dict[str, str]) -> bool:
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(credential.strip().encode(),
                                                                  self.token.encode())

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        extra = ""
        try:
            head = await read_head(reader, self.limits)
            if head is None:
                writer.close()
                return
            if not self._authorized(head.headers):
                status, payload = 401, {"error": "missing or wrong bearer token (see the endpoints "
                                                 "document's admin_token)"}
                extra = 'WWW-Authenticate: Bearer realm="fakegc"\r\n'
            else:
                body = await read_body(reader, content_length(head.headers, self.limits), self.limits)
                status, payload = await self._route(head.method, head.target, body)
        except HttpError as exc:
            status, payload = exc.status, {"error": exc.detail}
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        except (ValueError, KeyError, TypeError) as exc:
            status, payload = 400, {"error": _message(exc)}
        except Exception as exc:  # noqa: BLE001 (the plane answers every request; the cluster runs on)
            status, payload = 500, {"error": f"internal error: {_message(exc)}"}
        data = json.dumps(payload, default=str).encode()
        reason = _REASONS.get(status, "OK")
        writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n{extra}"
                     f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
        try:
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _route(self, method: str, target: str, body: bytes) -> tuple[int, Any]:
        url = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path.rstrip("/")
        try:
            data = json.loads(body) if body else {}
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            return 400, {"error": f"body is not JSON: {_message(exc)}"}
        if not isinstance(data, dict):
            return 400, {"error": f"body must be a JSON object, not {type(data).__name__}"}
        if method == "DELETE" and path.startswith("/rules/"):
            return self._remove_rule(path.rsplit("/", 1)[1])
        handler = _ROUTES.get((method, path))
        if handler is None:
            return 404, {"error": f"no route {method} {path}"}
        return await handler(self, query, data)

    # -- one handler per route: (query, JSON body) -> (status, payload) -----------------
    async def _state(self, query: dict[str, str], data: dict[str, Any]) -> tuple[int, Any]:
        c = self.cluster
        return 200, {"state": c.state.value, "referral": c.current_gc, "pinned": c.pinned_gc,
                     "gcs": {n: {"state": g.state.value, "server_guid": str(g.server_guid)}
                             for n, g in c.gcs.items()},
                     "kdc_clock_offset": c.kdc.clock_offset, **_health(c)}

    async def _endpoints(self, query: dict[str, str], data: dict[str, Any]) -> tuple[int, Any]:
        return 200, self.cluster.endpoints()

    async def _journal(self, query: dict[str, str], data: dict[str, Any]) -> tuple[int, Any]:
        since = int(query.get("since", "0"))
        entries = self.cluster.journal.entries(query.get("kind"), since=since)
        return 200, [e.to_dict() for e in entries[-int(query.get("limit", "1000")):]]

    async def _rules(self, query: dict[str, str], data: dict[str, Any]) -> tuple[int, Any]:
        return 200, [r.to_dict() for r in self.cluster.rules]

    async def _add_rule(self, query: dict[str, str], data: dict[str, Any]) -> tuple[int, Any]:
        if "kind" not in data:
            return 400, {"error": "add-rule: a rule needs a kind"}
        check_arguments("add-rule", FaultRule, data, skip=("id",))
        return 200, {"id": self.cluster.add_rule(**data).id}

    def _remove_rule(self, text: str) -> tuple[int, Any]:
        if not text.isdigit():
            return 400, {"error": f"rule id must be a number, not {text[:20]!r}"}
        rule_id = int(text)
        if not any(r.id == rule_id for r in self.cluster.rules):
            return 404, {"removed": False, "error": f"no rule {rule_id}"}
        self.cluster.remove_rule(rule_id)
        return 200, {"removed": True}

    async def _reset(self, query: dict[str, str], data: dict[str, Any]) -> tuple[int, Any]:
        c = self.cluster
        check_arguments("reset", c.reset, data)
        await c.reset(clear_journal=bool(data.get("clear_journal", True)))
        return 200, {"state": c.state.value}

    async def _fire(self, query: dict[str, str], data: dict[str, Any]) -> tuple[int, Any]:
        c = self.cluster
        event = data.pop("event", None)
        if not isinstance(event, str) or event not in EVENTS:
            return 400, {"error": f"fire: unknown event {event!r} (one of {', '.join(EVENTS)})"}
        check_arguments(f"fire {event}", getattr(c, f"_on_{event}"), data)
        return 200, await c.fire(event, **data)


_Route = Callable[[AdminServer, dict[str, str], dict[str, Any]], Awaitable[tuple[int, Any]]]
_ROUTES: dict[tuple[str, str], _Route] = {
    ("GET", "/state"): AdminServer._state, ("GET", "/endpoints"): AdminServer._endpoints,
    ("GET", "/journal"): AdminServer._journal, ("GET", "/rules"): AdminServer._rules,
    ("POST", "/fire"): AdminServer._fire, ("POST", "/rules"): AdminServer._add_rule,
    ("POST", "/reset"): AdminServer._reset}


def _health(cluster: Any) -> dict[str, Any]:
    """``health``: ``ok`` or ``degraded`` with the reasons (a journal that cannot write …)."""
    problems = cluster.journal.health_problems()
    return {"health": "degraded" if problems else "ok", "problems": problems}


def _message(exc: BaseException) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return (text or type(exc).__name__).splitlines()[0][:300]
