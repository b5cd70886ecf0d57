"""The ``fakegc`` command line.

Subcommands:

* ``serve``      — run the default cluster (or a scenario) until SIGINT/SIGTERM.
* ``kb929439``   — the KB 929439 matrix demo (the README's main job).
* ``directory``  — ``generate`` large directories, ``check`` a fixture.
* ``ctl``        — drive a running ``serve`` through its admin endpoint.
* ``docs``       — print the supported-operations table (generated from the registry).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from fakegc import __version__

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every subcommand has its own ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="fakegc",
        description="A protocol-level fake Active Directory Global Catalog for testing "
                    "MAPI clients (NSPI, referral, endpoint mapper, Kerberos KDC).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the fake cluster until interrupted",
                           description="Start the default cluster (ex01, gc01, gc02, KDC) on "
                                       "loopback ephemeral ports and print its endpoints.")
    serve.add_argument("--config", type=Path, help="cluster configuration (TOML)")
    serve.add_argument("--scenario", type=str,
                       help="scenario file or shipped name (e.g. kb929439) whose timeline runs")
    serve.add_argument("--time-scale", type=float, default=1.0,
                       help="multiply the scenario's step times (0.1 runs it ten times faster)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--endpoints-json", type=Path, help="write the endpoints document here")
    serve.add_argument("--admin-port", type=int, default=None,
                       help="admin HTTP port (default: the config's, else ephemeral)")
    serve.add_argument("--rpc-http-port", type=int, default=None,
                       help="RPC over HTTP v2 front port (0: ephemeral; off when omitted)")
    serve.add_argument("--directory", type=Path, help="directory fixture (YAML or LDIF)")
    serve.add_argument("--journal", type=Path, help="mirror the journal to this JSON Lines file")
    serve.add_argument("--json", action="store_true", help="print the endpoints as JSON only")

    kb = sub.add_parser("kb929439", help="run the KB 929439 matrix demo",
                        description="Run the emulated MAPI client in every cell of R x U x mode "
                                    "against the embedded cluster and compare with the KB.")
    kb.add_argument("--json", action="store_true", help="machine-readable output")
    kb.add_argument("--scenario", type=str, default="kb929439", help="scenario name or path")

    directory = sub.add_parser("directory", help="directory fixtures")
    dsub = directory.add_subparsers(dest="directory_command", metavar="ACTION")
    gen = dsub.add_parser("generate", help="generate a large directory fixture")
    gen.add_argument("--users", type=int, required=True, help="number of users")
    gen.add_argument("--seed", type=int, default=0, help="random seed")
    gen.add_argument("-o", "--output", type=Path,
                     help="output file: .json loads fastest, .yaml is readable (default: YAML on stdout)")
    chk = dsub.add_parser("check", help="load and validate a fixture")
    chk.add_argument("path", type=Path)
    chk.add_argument("--json", action="store_true")

    ctl = sub.add_parser("ctl", help="control a running `fakegc serve`",
                         description="Talk to the admin endpoint of a running server.")
    ctl.add_argument("--url", help="admin URL (default: from --endpoints-json)")
    ctl.add_argument("--endpoints-json", type=Path, help="endpoints document written by serve")
    ctl.add_argument("action", choices=["state", "fire", "reset", "journal", "rules", "add-rule",
                                        "remove-rule"])
    ctl.add_argument("args", nargs="*", help="event name / rule JSON / rule id")
    ctl.add_argument("--json", action="store_true")

    sub.add_parser("docs", help="print the supported-operations table (Markdown)")
    return parser


def _die(message: str, code: int = 2) -> int:
    print(f"fakegc: {message}", file=sys.stderr)
    return code


def _print_endpoints(doc: dict[str, Any]) -> None:
    print("fakegc cluster ready")
    print(f"  realm      {doc.get('realm', '')}")
    for name, actor in sorted(doc.get("actors", {}).items()):
        ports = ", ".join(f"{k}={v}" for k, v in sorted(actor.items())
                          if k not in ("host", "fqdn", "role", "server_guid", "state"))
        print(f"  {name:<10} {actor.get('fqdn', '')} {actor.get('host', '')} {ports}")
    kdc = doc.get("kdc")
    if kdc:
        print(f"  kdc        udp={kdc.get('udp')} tcp={kdc.get('tcp')}")
    if doc.get("admin"):
        print(f"  admin      {doc['admin']}")
    users = doc.get("users") or []
    if users:
        shown = ", ".join(f"{u['name']}/{u['password']}" for u in users[:3])
        print(f"  users      {shown}{' …' if len(users) > 3 else ''}")


async def _serve(args: argparse.Namespace) -> int:
    from fakegc.scenario.cluster import Cluster, ClusterConfig

    config = ClusterConfig.load(args.config) if args.config else ClusterConfig()
    config.host = args.host
    if args.directory:
        config.directory_path = args.directory
    if args.journal:
        config.journal_path = args.journal
    if args.admin_port is not None:
        config.admin_port = args.admin_port
    elif config.admin_port is None:
        config.admin_port = 0
    if args.rpc_http_port is not None:
        config.rpc_http_port = args.rpc_http_port
    cluster = await Cluster.start(config)
    try:
        if args.scenario:
            await cluster.run_scenario(args.scenario, args.time_scale)
        doc = cluster.endpoints()
        if args.endpoints_json:
            cluster.write_endpoints(args.endpoints_json)
        if args.json:
            print(json.dumps(doc, indent=2), flush=True)
        else:
            _print_endpoints(doc)
            print("press Ctrl-C to stop", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await cluster.close()
    print("fakegc stopped", file=sys.stderr)
    return 0


def _directory(args: argparse.Namespace) -> int:
    if args.directory_command == "generate":
        from fakegc.directory.generate import write_json, write_yaml

        if args.users < 1:
            return _die("--users must be at least 1")
        writer = write_json if args.output and args.output.suffix == ".json" else write_yaml
        out = args.output.open("w", encoding="utf-8") if args.output else sys.stdout
        try:
            writer(args.users, out, seed=args.seed, progress=sys.stderr if args.output else None)
        finally:
            if args.output:
                out.close()
        return 0
    if args.directory_command == "check":
        from fakegc.directory import loader

        try:
            directory = loader.load(args.path)
        except Exception as exc:  # noqa: BLE001 - the loader's message names file and line
            return _die(str(exc), 1)
        summary = directory.summary() if hasattr(directory, "summary") else {"objects": len(directory)}
        print(json.dumps(summary) if args.json else f"{args.path}: ok, {summary}")
        return 0
    return _die("directory: choose generate or check")


def _ctl(args: argparse.Namespace) -> int:
    from fakegc.scenario import ctl

    url = args.url
    if not url and args.endpoints_json:
        url = json.loads(args.endpoints_json.read_text())["admin"]
    if not url:
        return _die("ctl needs --url or --endpoints-json")
    try:
        result = ctl.command(url, args.action, args.args)
    except Exception as exc:  # noqa: BLE001 - any failure of the control call is one line, not a traceback
        return _die(f"ctl {args.action}: {exc}", 1)
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fakegc`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "serve":
        from fakegc.runner import new_event_loop

        loop = new_event_loop()
        try:
            return loop.run_until_complete(_serve(args))
        finally:
            loop.close()
    if args.command == "kb929439":
        from fakegc import kbdemo

        argv2 = ["--scenario", args.scenario] + (["--json"] if args.json else [])
        return int(kbdemo.main(argv2))
    if args.command == "directory":
        return _directory(args)
    if args.command == "ctl":
        return _ctl(args)
    if args.command == "docs":
        from fakegc import docs

        print(docs.render())
        return 0
    return _die(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
