"""Client side of the control plane (``fakegc ctl``): blocking calls to a running ``fakegc serve``.

The bearer token (RFC 6750 2.1) comes from the endpoints document ``serve`` wrote
(``admin_token``), else from ``FAKEGC_ADMIN_TOKEN``.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

__all__ = ["command", "request"]

TOKEN_ENV = "FAKEGC_ADMIN_TOKEN"


def request(url: str, method: str, path: str, body: Any = None, timeout: float = 10.0,
            token: str | None = None) -> Any:
    """One JSON request to the admin endpoint."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    token = token or os.environ.get(TOKEN_ENV)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url.rstrip("/") + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
        except (ValueError, AttributeError):
            detail = exc.reason
        raise RuntimeError(f"{method} {path}: {exc.code} {detail}") from None


def _value(text: str) -> Any:
    """``k=v`` values: JSON when they parse as JSON (numbers, true, lists), else text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def command(url: str, action: str, args: list[str], token: str | None = None) -> Any:
    """Run a ``fakegc ctl`` action: state, fire EVENT [k=v ...], reset, journal [kind], rules,
    add-rule JSON, remove-rule ID."""
    if action == "state":
        return request(url, "GET", "/state", token=token)
    if action == "fire":
        if not args:
            raise ValueError("fire needs an event name")
        body: dict[str, Any] = {"event": args[0]}
        for kv in args[1:]:
            key, eq, value = kv.partition("=")
            if not eq:
                raise ValueError(f"fire arguments are key=value; did you mean gc={kv}?")
            body[key] = _value(value)
        return request(url, "POST", "/fire", body, token=token)
    if action == "reset":
        return request(url, "POST", "/reset", {}, token=token)
    if action == "journal":
        query = f"?kind={args[0]}" if args else ""
        return request(url, "GET", "/journal" + query, token=token)
    if action == "rules":
        return request(url, "GET", "/rules", token=token)
    if action == "add-rule":
        if not args:
            raise ValueError("add-rule needs a rule as JSON")
        return request(url, "POST", "/rules", json.loads(args[0]), token=token)
    if action == "remove-rule":
        if not args or not args[0].isdigit():
            raise ValueError("remove-rule needs a rule id (a number)")
        return request(url, "DELETE", f"/rules/{int(args[0])}", token=token)
    raise ValueError(f"unknown ctl action {action!r}")
