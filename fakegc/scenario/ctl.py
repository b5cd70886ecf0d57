"""Client side of the control plane (``fakegc ctl``): checked, blocking calls to ``fakegc serve``.

A command line is checked against the scenario vocabulary (:mod:`fakegc.scenario.events`)
before anything is sent, so a typo is named locally.  Arguments are ``key=value`` (a string;
converted only when the parameter is declared a number or a boolean) or ``key:=json`` (JSON as
given), as HTTPie does.  Only light standard modules are imported: ``fakegc ctl`` starts fast.
The control plane's routes are listed in :mod:`fakegc.scenario.admin`.
"""

from __future__ import annotations

import http.client
import json
import os
from typing import Any
from urllib.parse import quote, urlsplit

from fakegc.scenario.events import EVENT_PARAMS, EVENTS, FREE_FORM, RULE_FIELDS, RULE_KINDS

__all__ = ["ACTIONS", "Client", "CtlError", "UsageError", "command", "parse_pairs", "plan",
           "request"]

ACTIONS = ("state", "fire", "reset", "journal", "rules", "add-rule", "remove-rule", "endpoints")


TOKEN_ENV = "FAKEGC_ADMIN_TOKEN"  # the control plane's bearer token when no endpoints file


class UsageError(ValueError):
    """A command line that cannot be sent (exit status 2)."""


class CtlError(RuntimeError):
    """The server said no, or could not be reached (exit status 1)."""


def _convert(key: str, text: str, want: type | None) -> Any:
    if want is None or want is str:
        return text
    if want is bool:
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise UsageError(f"{key}={text}: {key} is true or false")
    try:
        return int(text, 0) if want is int else float(text)
    except ValueError:
        kind = "an integer" if want is int else "a number"
        raise UsageError(f"{key}={text}: {key} is {kind}") from None


def parse_pairs(pairs: list[str], declared: dict[str, type] | None) -> dict[str, Any]:
    """``key=value`` / ``key:=json`` pairs → a dict; ``declared`` (None: anything goes) names
    the known keys and their types; an unknown key is a :class:`UsageError` naming it."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if pair.partition("=")[0].endswith(":"):
            key, _, raw = pair.partition(":=")
            try:
                value: Any = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{pair}: not JSON after ':=' ({exc.msg})") from None
        elif "=" in pair:
            key, _, text = pair.partition("=")
            value = _convert(key, text, declared.get(key) if declared is not None else None)
        else:
            raise UsageError(f"{pair!r}: expected key=value or key:=json")
        if not key:
            raise UsageError(f"{pair!r}: empty key")
        if declared is not None and key not in declared:
            known = ", ".join(declared) or "none"
            raise UsageError(f"unknown argument {key!r} (known: {known})")
        out[key] = value
    return out


_Plan = tuple[str, str, Any]
_FIXED: dict[str, _Plan] = {"state": ("GET", "/state", None),
                            "endpoints": ("GET", "/endpoints", None),
                            "reset": ("POST", "/reset", {}), "rules": ("GET", "/rules", None)}


def plan(action: str, args: list[str], since: int = 0, limit: int | None = None) -> _Plan:
    """Check a ``fakegc ctl`` command line; returns (method, path, body) to send."""
    fixed = _FIXED.get(action)
    if fixed is not None:
        method, path, body = fixed
        return method, path, dict(body) if isinstance(body, dict) else body
    if action == "fire":
        return _plan_fire(args)
    if action == "journal":
        return _plan_journal(args, since, limit)
    if action == "add-rule":
        return _plan_add_rule(args)
    if action == "remove-rule":
        if len(args) != 1 or not args[0].isdigit():
            raise UsageError("remove-rule needs one rule id (a number; see `fakegc ctl rules`)")
        return "DELETE", f"/rules/{int(args[0])}", None
    raise UsageError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")


def _plan_fire(args: list[str]) -> _Plan:
    if not args:
        raise UsageError(f"fire needs an event: one of {', '.join(EVENTS)}")
    event = args[0]
    if event not in EVENT_PARAMS:
        raise UsageError(f"unknown event {event!r} (one of {', '.join(EVENTS)})")
    declared = None if event in FREE_FORM else EVENT_PARAMS[event]
    body = parse_pairs(args[1:], declared)
    if "event" in body:
        raise UsageError("'event' is the event's name, not an argument")
    return "POST", "/fire", {"event": event, **body}


def _plan_journal(args: list[str], since: int, limit: int | None) -> _Plan:
    query = f"?since={since}"
    if args:
        query += f"&kind={quote(args[0])}"
    if len(args) > 1:
        raise UsageError(f"journal takes one KIND, got {' '.join(args)}")
    if limit is not None:
        query += f"&limit={limit}"
    return "GET", "/journal" + query, None


def _plan_add_rule(args: list[str]) -> _Plan:
    if len(args) == 1 and args[0].lstrip().startswith("{"):
        try:
            body = json.loads(args[0])
        except json.JSONDecodeError as exc:
            raise UsageError(f"add-rule: not a JSON object ({exc.msg})") from None
        unknown = sorted(set(body) - set(RULE_FIELDS))
        if unknown:
            raise UsageError(f"unknown argument {unknown[0]!r} (known: {', '.join(RULE_FIELDS)})")
    else:
        body = parse_pairs(args, RULE_FIELDS)
    if "kind" not in body:
        raise UsageError(f"add-rule needs kind=KIND (one of {', '.join(RULE_KINDS)})")
    if body["kind"] not in RULE_KINDS:
        raise UsageError(f"unknown rule kind {body['kind']!r} (one of {', '.join(RULE_KINDS)})")
    return "POST", "/rules", body


class Client:
    """JSON over HTTP/1.1 to the control plane at ``url`` (``token``: sent as a bearer)."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise UsageError(f"{url!r} is not an http:// URL of a fakegc control plane")
        self.url = url.rstrip("/")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.token = token or os.environ.get(TOKEN_ENV)  # the image's HEALTHCHECK uses the env
        self.timeout = timeout

    def headers(self, body: bytes | None) -> dict[str, str]:
        """Request headers (one place, so a new header is one line)."""
        out = {"Accept": "application/json"}
        if body is not None:
            out["Content-Type"] = "application/json"
        if self.token:
            out["Authorization"] = f"Bearer {self.token}"
        return out

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request; the decoded JSON answer, or :class:`CtlError`."""
        data = json.dumps(body).encode() if body is not None else None
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, self.prefix + path, body=data, headers=self.headers(data))
            resp = conn.getresponse()
            raw = resp.read()
        except ConnectionRefusedError:
            raise CtlError(f"nothing answers at {self.url} (connection refused); start the server "
                           f"with `fakegc serve --endpoints-json fakegc.json` and pass "
                           f"--endpoints-json fakegc.json") from None
        except (OSError, http.client.HTTPException) as exc:
            raise CtlError(f"{method} {self.url}{path}: {exc or type(exc).__name__}") from None
        finally:
            conn.close()
        try:
            answer = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            answer = raw.decode("utf-8", "replace")
        if resp.status >= 400:
            detail = answer.get("error") if isinstance(answer, dict) else answer
            raise CtlError(f"the server said no to {method} {path}: {resp.status} {resp.reason}"
                           f"{': ' + str(detail) if detail else ''}")
        return answer


def request(url: str, method: str, path: str, body: Any = None, timeout: float = 10.0,
            token: str | None = None) -> Any:
    """One JSON request to the control plane."""
    return Client(url, token, timeout).request(method, path, body)


def command(url: str, action: str, args: list[str], token: str | None = None) -> Any:
    """Check and run a ``fakegc ctl`` action: state, endpoints, fire EVENT [k=v ...], reset,
    journal [KIND], rules, add-rule kind=KIND [k=v ...], remove-rule ID."""
    method, path, body = plan(action, args)
    return Client(url, token).request(method, path, body)
