"""Client side of the control plane (``fakegc ctl``): blocking calls to a running ``fakegc serve``."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

__all__ = ["command", "request"]


def request(url: str, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
    """One JSON request to the admin endpoint."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url.rstrip("/") + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
        raise RuntimeError(f"{method} {path}: {exc.code} {detail}") from None


def command(url: str, action: str, args: list[str]) -> Any:
    """Run a ``fakegc ctl`` action: state, fire EVENT [k=v ...], reset, journal [kind], rules,
    add-rule JSON, remove-rule ID."""
    if action == "state":
        return request(url, "GET", "/state")
    if action == "fire":
        if not args:
            raise ValueError("fire needs an event name")
        body: dict[str, Any] = {"event": args[0]}
        for kv in args[1:]:
            key, _, value = kv.partition("=")
            body[key] = json.loads(value) if value[:1] in "0123456789[{tf" and value not in ("") else value
        return request(url, "POST", "/fire", body)
    if action == "reset":
        return request(url, "POST", "/reset", {})
    if action == "journal":
        query = f"?kind={args[0]}" if args else ""
        return request(url, "GET", "/journal" + query)
    if action == "rules":
        return request(url, "GET", "/rules")
    if action == "add-rule":
        return request(url, "POST", "/rules", json.loads(args[0]))
    if action == "remove-rule":
        return request(url, "DELETE", f"/rules/{int(args[0])}")
    raise ValueError(f"unknown ctl action {action!r}")
