"""``fakegc ctl``: drive a running ``fakegc serve`` through its control plane.

Only the client (:mod:`fakegc.scenario.ctl`) and standard modules are imported, never the
cluster stack, so a call starts in well under 0.2 s.  Exit status: 0 done, 1 the server
said no (or could not be reached), 2 the command line or endpoints file is wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]

EPILOG = """\
examples:
  fakegc serve --endpoints-json fakegc.json          # in another terminal
  fakegc ctl --endpoints-json fakegc.json state
  fakegc ctl --endpoints-json fakegc.json fire shutdown_begin gc=gc01
  fakegc ctl --endpoints-json fakegc.json fire shutdown_begin gc=gc01 code:=6
  fakegc ctl --endpoints-json fakegc.json fire kdc_skew seconds=600
  fakegc ctl --endpoints-json fakegc.json add-rule kind=rpc_fault actor=gc01 op=NspiQueryRows value=0x1C00001A times=1
  fakegc ctl --endpoints-json fakegc.json journal state
  fakegc ctl --endpoints-json fakegc.json journal --follow
  fakegc ctl --url http://127.0.0.1:8080 reset --json

events and their arguments:
  shutdown_begin gc= code=   gc_down gc=   new_gc_ready gc=   gc_restart gc= keep_guid=
  kdc_skew seconds=   pin_referral gc= (none: unpin)   custom (any key=value)
rule fields (add-rule): kind= actor= interface= opnum= op= principal= service= msg= value=
  delay= name= after= times= probability= seed=

key=value passes a string (a number or boolean where the argument is declared one);
key:=JSON passes JSON as given.  Exit status: 0 done, 1 the server said no or could not
be reached, 2 a wrong command line or endpoints file.
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``ctl`` on the ``fakegc`` subparsers."""
    from fakegc.scenario.ctl import ACTIONS

    ctl: argparse.ArgumentParser = sub.add_parser(
        "ctl", help="control a running `fakegc serve`",
        description="Talk to the control plane (HTTP, loopback) of a running `fakegc serve`: "
                    "read its state and journal, fire events, add and remove fault rules.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ctl.add_argument("--url", help="control-plane URL (default: the 'admin' entry of "
                                   "--endpoints-json)")
    ctl.add_argument("--endpoints-json", type=Path, metavar="FILE",
                     help="the endpoints document `fakegc serve --endpoints-json FILE` wrote")
    ctl.add_argument("action", choices=ACTIONS, metavar="ACTION",
                     help="one of: " + ", ".join(ACTIONS))
    ctl.add_argument("args", nargs="*", metavar="ARG",
                     help="event name and key=value arguments / rule fields / rule id / journal kind")
    ctl.add_argument("--json", action="store_true", help="print the server's answer as JSON")
    ctl.add_argument("--follow", "-f", action="store_true",
                     help="journal: keep printing new entries until Ctrl-C")
    ctl.add_argument("--since", type=int, default=0, metavar="SEQ",
                     help="journal: only entries after this sequence number")
    ctl.add_argument("--limit", type=int, default=None, metavar="N",
                     help="journal: at most the newest N entries (server default 1000)")
    return ctl


def _fail(message: str, code: int) -> int:
    print(f"fakegc ctl: {message}", file=sys.stderr)
    return code


def _endpoint(args: argparse.Namespace) -> tuple[str, str | None]:
    """(url, token) from --url or the endpoints file; ValueError with one line if neither."""
    doc: dict[str, Any] = {}
    path = args.endpoints_json
    if path is not None:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"{path}: no such file; start the server with `fakegc serve "
                             f"--endpoints-json {path}` (it writes the file)") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not an endpoints document ({exc})") from None
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: not an endpoints document (a JSON object)")
    url = args.url or doc.get("admin")
    if not url:
        if path is not None:
            raise ValueError(f"{path}: no 'admin' URL in it (was it written by `fakegc serve`?)")
        raise ValueError("say where the server is: --endpoints-json FILE (written by "
                         "`fakegc serve --endpoints-json FILE`) or --url URL")
    token = doc.get("admin_token") or doc.get("token")
    return str(url), str(token) if token else None


def _entry_line(e: dict[str, Any]) -> str:
    fixed = ("seq", "t", "wall", "actor", "kind", "conn")
    details = " ".join(f"{k}={v}" for k, v in e.items() if k not in fixed)
    conn = f" conn={e['conn']}" if "conn" in e else ""
    return f"#{e.get('seq')} {e.get('t', 0):9.3f} {e.get('actor')} {e.get('kind')}{conn} {details}".rstrip()


def _render_state(answer: Any, args: list[str]) -> str | None:
    if not isinstance(answer, dict):
        return None
    lines = [(f"state {answer.get('state')}  referral {answer.get('referral')}  "
              f"pinned {answer.get('pinned') or '-'}  "
              f"kdc clock offset {answer.get('kdc_clock_offset')}s")]
    for name, gc in sorted(answer.get("gcs", {}).items()):
        lines.append(f"  {name:<8} {gc.get('state'):<14} server GUID {gc.get('server_guid')}")
    return "\n".join(lines)


def _render_fire(answer: Any, args: list[str]) -> str | None:
    if not isinstance(answer, dict):
        return None
    summary = " ".join(f"{k}={v}" for k, v in answer.items())
    return f"fired {args[0]}" + (f": {summary}" if summary else "")


def _render_journal(answer: Any, args: list[str]) -> str | None:
    if not isinstance(answer, list):
        return None
    return "\n".join(_entry_line(e) for e in answer) or "(no entries)"


_RULE_KEYS = ("kind", "actor", "interface", "op", "opnum", "principal", "service", "value",
              "after", "times", "fired")


def _render_rules(answer: Any, args: list[str]) -> str | None:
    if not isinstance(answer, list):
        return None
    return "\n".join(f"#{r.get('id')} " + " ".join(f"{k}={r[k]}" for k in _RULE_KEYS
                                                    if r.get(k) not in (None, "*", ""))
                     for r in answer) or "(no rules)"


def _render_add_rule(answer: Any, args: list[str]) -> str | None:
    return f"rule #{answer.get('id')} added" if isinstance(answer, dict) else None


def _render_remove_rule(answer: Any, args: list[str]) -> str | None:
    return f"rule #{args[0]} removed"


def _render_reset(answer: Any, args: list[str]) -> str | None:
    return f"reset: {answer.get('state')}" if isinstance(answer, dict) else None


_RENDER: dict[str, Callable[[Any, list[str]], str | None]] = {
    "state": _render_state, "fire": _render_fire, "journal": _render_journal,
    "rules": _render_rules, "add-rule": _render_add_rule, "remove-rule": _render_remove_rule,
    "reset": _render_reset}


def render(action: str, answer: Any, args: list[str]) -> str:
    """A readable form of the server's answer (JSON when no form fits)."""
    renderer = _RENDER.get(action)
    text = renderer(answer, args) if renderer is not None else None
    return text if text is not None else json.dumps(answer, indent=2)


def _follow(client: Any, args: argparse.Namespace) -> int:
    from fakegc.scenario.ctl import plan

    since = args.since
    try:
        while True:
            method, path, body = plan("journal", args.args, since=since)
            for entry in client.request(method, path, body):
                since = max(since, int(entry.get("seq", since)))
                print(json.dumps(entry) if args.json else _entry_line(entry), flush=True)
            time.sleep(0.2)
    except KeyboardInterrupt:
        return 0


def run(args: argparse.Namespace) -> int:
    """Run ``fakegc ctl``; returns the exit status."""
    from fakegc.scenario.ctl import Client, CtlError, UsageError, plan

    try:
        method, path, body = plan(args.action, args.args, since=args.since, limit=args.limit)
        url, token = _endpoint(args)
        client = Client(url, token)
    except (UsageError, ValueError) as exc:
        return _fail(str(exc), 2)
    try:
        if args.action == "journal" and args.follow:
            return _follow(client, args)
        answer = client.request(method, path, body)
    except CtlError as exc:
        return _fail(str(exc), 1)
    print(json.dumps(answer) if args.json else render(args.action, answer, args.args))
    return 0
