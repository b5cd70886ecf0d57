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
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fakegc import __version__

if TYPE_CHECKING:
    from fakegc.scenario.cluster import Cluster
    from fakegc.scenario.config import ClusterConfig

__all__ = ["build_parser", "main"]


SERVE_EPILOG = """\
examples:
  fakegc serve --endpoints-json fakegc.json
  fakegc serve --scenario kb929439 --time-scale 0.1        # prints each step as it fires
  fakegc serve --follow                                      # every journal entry, readable
  fakegc serve --directory big.json --journal journal.jsonl  # a generated directory
  fakegc serve --rpc-http-port 443                           # Outlook Anywhere (root for 443)

Directory files: .yaml/.yml (YAML), .json (JSON, fastest for large ones), .ldif/.ldf (LDIF).
Shipped scenarios: kb929439, gc_reboot_same_guid, flapping_gc, referral_pinned_dead_gc,
kdc_clock_skew, slow_then_faulting_gc (or a path to a .toml file).
Stop with Ctrl-C (SIGINT) or SIGTERM.
"""

KB_EPILOG = """\
examples:
  fakegc kb929439                          # the matrix, verdicts against KB 929439
  fakegc kb929439 --json                   # the same, machine-readable
  fakegc kb929439 --scenario flapping_gc   # codes per phase of another scenario, no verdicts

Exit status: 0 every judged cell agrees with the article (always 0 for other scenarios),
1 a judged cell disagrees, 2 no such scenario (one line naming it).
"""

DIRECTORY_EPILOG = """\
examples:
  fakegc directory generate --users 100000 -o big.json
  fakegc directory generate --users 50 > small.yaml
  fakegc directory check fixtures/directories/contoso.yaml
"""


def _formatted(**kw: Any) -> dict[str, Any]:
    return dict(kw, formatter_class=argparse.RawDescriptionHelpFormatter)


def _port(text: str) -> int:
    """A TCP port number (16 bits, RFC 793), for argparse."""
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is not 0..65535")
    return port


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every subcommand has its own ``--help`` with examples)."""
    parser = argparse.ArgumentParser(
        prog="fakegc",
        description="A protocol-level fake Active Directory Global Catalog for testing "
                    "MAPI clients (NSPI, referral, endpoint mapper, Kerberos KDC).",
        **_formatted(epilog="examples:\n  fakegc kb929439\n  fakegc serve --endpoints-json "
                            "fakegc.json\n  fakegc ctl --endpoints-json fakegc.json state\n\n"
                            "`fakegc COMMAND --help` describes each command."))
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the fake cluster until interrupted",
                           **_formatted(
                               description="Start the default cluster (ex01, gc01, gc02, KDC) on "
                                           "loopback ephemeral ports, print its endpoints and "
                                           "serve until interrupted.",
                               epilog=SERVE_EPILOG))
    serve.add_argument("--config", type=Path, metavar="FILE",
                       help="cluster configuration (TOML with a [cluster] table)")
    serve.add_argument("--scenario", type=str, metavar="NAME|FILE",
                       help="shipped scenario name or .toml file whose timeline runs; each "
                            "step, state change and rule hit is printed (--quiet: not)")
    serve.add_argument("--time-scale", type=float, default=1.0, metavar="X",
                       help="multiply the scenario's step times (0.1 runs it ten times faster)")
    serve.add_argument("--quiet", "-q", action="store_true",
                       help="with --scenario: do not print steps, state changes and rule hits")
    serve.add_argument("--follow", "-f", action="store_true",
                       help="print every journal entry as it is recorded")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address every actor listens on (default 127.0.0.1)")
    serve.add_argument("--endpoints-json", type=Path, metavar="FILE",
                       help="write the endpoints document (ports, realm, users, control-plane "
                            "URL) here; `fakegc ctl --endpoints-json FILE` reads it")
    serve.add_argument("--admin-port", type=_port, default=None, metavar="PORT",
                       help="control-plane HTTP port (default: the config's, else ephemeral)")
    serve.add_argument("--rpc-http-port", type=_port, default=None, metavar="PORT",
                       help="RPC over HTTP v2 front port (0: ephemeral; off when omitted)")
    serve.add_argument("--directory", type=Path, metavar="FILE",
                       help="directory fixture: YAML, JSON or LDIF, by extension "
                            "(default: the shipped contoso.yaml)")
    serve.add_argument("--journal", type=Path, metavar="FILE",
                       help="mirror the journal to this JSON Lines file")
    serve.add_argument("--json", action="store_true",
                       help="print the endpoints document as JSON (live lines go to stderr)")
    serve.add_argument("--require-admin-token", action="store_true",
                       help="refuse to start unless FAKEGC_ADMIN_TOKEN is set (the Docker image)")
    serve.add_argument("--lab", nargs="?", const="", default=None, metavar="NET",
                       help="lab mode: every actor at its own address of NET (default "
                            "127.29.39.0/24) on the standard ports (135, 88, 53, 443); needs "
                            "root or a namespace (see `fakegc lab`)")
    serve.add_argument("--add-addresses", action="store_true",
                       help="with --lab: first add the lab addresses to this host's first "
                            "non-loopback interface (lo when there is none); needs CAP_NET_ADMIN "
                            "(docker/compose.yaml)")
    serve.add_argument("--run-as", metavar="UID[:GID]",
                       help="after --add-addresses, drop root for this user before serving")

    kb = sub.add_parser("kb929439", help="run the KB 929439 matrix demo",
                        **_formatted(
                            description="Run the emulated MAPI address-book provider in every "
                                        "cell of R x U x mode against an embedded cluster, one "
                                        "ResolveName per phase of the scenario, and compare the "
                                        "codes with what KB 929439 states.",
                            epilog=KB_EPILOG))
    kb.add_argument("--json", action="store_true", help="machine-readable output")
    kb.add_argument("--scenario", type=str, default="kb929439", metavar="NAME|FILE",
                    help="scenario name or path (default kb929439; others get no verdicts)")
    kb.add_argument("--lab", nargs="?", const="", default=None, metavar="NET",
                    help="run on the lab network in a private namespace; the client resolves "
                         "every host through the lab DNS")

    sub.add_parser("lab", help="run a command where the lab cluster serves (names, ports 135/88/53)",
                   usage="fakegc lab [OPTIONS] -- CMD [ARGS...]", add_help=False)

    directory = sub.add_parser("directory", help="generate or check directory fixtures",
                               **_formatted(description="Generate large directory fixtures or "
                                                        "validate one.", epilog=DIRECTORY_EPILOG))
    dsub = directory.add_subparsers(dest="directory_command", metavar="ACTION")
    gen = dsub.add_parser("generate", help="generate a large directory fixture",
                          **_formatted(description="Write a directory fixture with N "
                                                   "generated users.",
                                       epilog=DIRECTORY_EPILOG))
    gen.add_argument("--users", type=int, required=True, help="number of users")
    gen.add_argument("--seed", type=int, default=0, help="random seed")
    gen.add_argument("-o", "--output", type=Path,
                     help="output file: .json loads fastest, .yaml is readable (default: YAML on stdout)")
    chk = dsub.add_parser("check", help="load and validate a fixture",
                          **_formatted(description="Load a YAML, JSON or LDIF fixture; errors "
                                                   "name the file and line.",
                                       epilog=DIRECTORY_EPILOG))
    chk.add_argument("path", type=Path, help="the fixture (.yaml, .json, .ldif)")
    chk.add_argument("--json", action="store_true", help="print the summary as JSON")

    from fakegc import cli_ctl

    cli_ctl.add_parser(sub)

    sub.add_parser("docs", help="print the supported-operations table (Markdown)",
                   **_formatted(description="Print the table of supported interfaces and "
                                            "operations, generated from the interface registry "
                                            "(docs/operations.md is this output).",
                                epilog="example:\n  fakegc docs > docs/operations.md"))
    return parser


def _die(message: str, code: int = 2) -> int:
    print(f"fakegc: {message}", file=sys.stderr)
    return code


def _print_endpoints(doc: dict[str, Any]) -> None:
    print("fakegc cluster ready")
    print(f"  realm      {doc.get('realm', '')}")
    for name, actor in sorted(doc.get("actors", {}).items()):
        ports = ", ".join(f"{k}={v}" for k, v in sorted(actor.items())
                          if k not in ("host", "address", "fqdn", "role", "server_guid", "state"))
        print(f"  {name:<10} {actor.get('fqdn', '')} {actor.get('host', '')} {ports}")
    kdc = doc.get("kdc")
    if kdc:
        where = f"{kdc['fqdn']} {kdc['address']} " if "fqdn" in kdc else ""  # lab mode
        print(f"  kdc        {where}udp={kdc.get('udp')} tcp={kdc.get('tcp')}")
    if doc.get("dns"):
        print(f"  dns        {doc['dns']['fqdn']} {doc['dns']['address']} port={doc['dns']['port']}")
    if doc.get("admin"):
        print(f"  admin      {doc['admin']}  (bearer token: --endpoints-json FILE, or "
              f"FAKEGC_ADMIN_TOKEN={doc.get('admin_token', '')})")
    users = doc.get("users") or []
    if users:
        shown = ", ".join(f"{u['name']}/{u['password']}" for u in users[:3])
        print(f"  users      {shown}{' …' if len(users) > 3 else ''}")


def _serve_config(args: argparse.Namespace) -> ClusterConfig:
    """``serve``'s cluster configuration: the config file, then the command line's options."""
    from fakegc.scenario.config import ClusterConfig

    config = ClusterConfig.load(args.config) if args.config else ClusterConfig()
    config.host = args.host
    if args.lab is not None:  # PROTOCOL.md §12
        from fakegc.cli_lab import serve_config

        config = serve_config(args)
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
    if args.require_admin_token and not (os.environ.get("FAKEGC_ADMIN_TOKEN") or config.admin_token):
        raise ValueError("FAKEGC_ADMIN_TOKEN: set it to the control plane's bearer token")
    return config


def _announce(cluster: Cluster, args: argparse.Namespace) -> None:
    """Publish the endpoints document (file, JSON on stdout, or the readable summary)."""
    doc = cluster.endpoints()
    if args.endpoints_json:
        cluster.write_endpoints(args.endpoints_json)
    if args.json:
        print(json.dumps(doc, indent=2), flush=True)
    else:
        _print_endpoints(doc)
        print("press Ctrl-C to stop", flush=True)


def _freeze_heap(cluster: Cluster) -> None:
    """This process serves one cluster for its life: move what it holds (the directory, and
    the tables and indexes its warm-up hands over) out of the cyclic GC's reach (gc.freeze),
    so no full collection walks 1M users (0.5 s a pass) in the middle of a call (issue #19)."""
    import gc

    from fakegc.directory.build import LARGE

    gc.freeze()
    if len(cluster.directory) < LARGE:
        return  # no warm-up to wait for

    def on_entry(entry: Any) -> None:  # listens only until the warm-up is handed over
        if entry.kind == "warm" and entry.actor == "directory":
            gc.freeze()
            unsubscribe()

    unsubscribe = cluster.journal.subscribe(on_entry)


async def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from fakegc import cli_serve
    from fakegc.scenario.cluster import Cluster
    from fakegc.scenario.model import load_scenario

    try:  # every file is read and type-checked before anything listens: one line, status 2
        config = _serve_config(args)
        scenario = load_scenario(args.scenario) if args.scenario else None
        with cli_serve.loading(config.directory_path):
            cluster = Cluster(config)
        if scenario is not None:
            scenario.check_actors(cluster.gcs)
    except (ValueError, OSError) as exc:
        return _die(str(exc).splitlines()[0] if str(exc) else repr(exc))
    try:
        await cluster._start()
    except OSError as exc:  # a port in use, an address not on this host
        await cluster.close()
        return _die(f"cannot listen: {exc}")
    try:
        _announce(cluster, args)
        _freeze_heap(cluster)
        if args.follow or (args.scenario and not args.quiet):
            cli_serve.attach(cluster.journal, follow=args.follow,
                             stream=sys.stderr if args.json else sys.stdout)
        if scenario is not None:
            await cluster.run_scenario(scenario, args.time_scale)
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
        except (ValueError, OSError) as exc:  # the loader's message names file:line: key
            return _die(str(exc).splitlines()[0], 2)
        summary = directory.summary() if hasattr(directory, "summary") else {"objects": len(directory)}
        print(json.dumps(summary) if args.json else f"{args.path}: ok, {summary}")
        return 0
    return _die("directory: choose generate or check")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fakegc`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["lab"]:
        from fakegc import cli_lab as command

        return command.main(argv[1:])
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
        if args.lab is not None:
            argv2 += ["--lab", args.lab] if args.lab else ["--lab"]
        return int(kbdemo.main(argv2))
    if args.command == "directory":
        return _directory(args)
    if args.command == "ctl":
        from fakegc import cli_ctl

        return cli_ctl.run(args)
    if args.command == "docs":
        from fakegc import docs

        print(docs.render())
        return 0
    return _die(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
