"""``fakegc lab [OPTIONS] -- CMD [ARGS...]``: run CMD where the lab cluster serves (front layer).

PROTOCOL.md §12.  The command re-executes itself in private network
and mount namespaces (:mod:`fakegc.lab.netns`), brings ``lo`` up, starts the cluster
in lab mode (every actor at its own address on the standard ports), bind-mounts a
hosts file and a resolv.conf naming the lab DNS, and runs CMD with
``FAKEGC_ENDPOINTS`` (the endpoints JSON) and ``KRB5_CONFIG`` (a krb5.conf naming
no KDC, ``dns_lookup_kdc = true``) in its environment.  The exit status is CMD's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from fakegc.lab import netns
from fakegc.lab.plan import DEFAULT_NETWORK, LabConfig, LabPlan

__all__ = ["LAB_EPILOG", "build_parser", "lab_config", "main"]

LAB_EPILOG = """examples:
  fakegc lab -- getST.py -spn exchangeAB/gc01.contoso.test CONTOSO.TEST/alice:'Passw0rd!'
  fakegc lab -- rpcdump.py gc01.contoso.test        # NSPI is listed on gc01's 135
  fakegc lab --scenario kb929439 -- getent hosts gc01.contoso.test
  fakegc lab --net 127.30.0.0/24 --journal lab.jsonl --shell
  fakegc lab --no-cluster -- pytest --fakegc-lab tests/lab/inner
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``fakegc lab`` argument parser (CMD follows ``--``)."""
    ap = argparse.ArgumentParser(
        prog="fakegc lab", usage="fakegc lab [OPTIONS] -- CMD [ARGS...]  |  fakegc lab --shell",
        description="Run CMD in a private network namespace where the lab cluster serves:\n"
                    "ex01, gc01, gc02, the KDC (dc01) and DNS (ns1) each at its own address\n"
                    "on the standard ports, names resolved by the lab DNS. CMD gets\n"
                    "FAKEGC_ENDPOINTS and KRB5_CONFIG; the exit status is CMD's.",
        epilog=LAB_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--net", default=None, help=f"lab network (default {DEFAULT_NETWORK})")
    ap.add_argument("--config", type=Path, help="cluster configuration (TOML, [cluster] and [lab])")
    ap.add_argument("--scenario", help="scenario file or shipped name whose timeline runs")
    ap.add_argument("--journal", type=Path, help="mirror the journal to this JSON Lines file")
    ap.add_argument("--endpoints-json", type=Path, help="also write the endpoints document here")
    ap.add_argument("--shell", action="store_true", help="open $SHELL (default /bin/sh) there")
    ap.add_argument("--no-cluster", action="store_true",
                    help="prepare the namespace (lo up, hosts, resolv.conf, krb5.conf) but start "
                         "no cluster: CMD starts one in lab mode (pytest --fakegc-lab)")
    return ap


def lab_config(config_path: Path | None, net: str | None) -> object:
    """A ClusterConfig in lab mode (``[lab]`` from the file, ``--net`` over it)."""
    from fakegc.scenario.cluster import ClusterConfig

    config = ClusterConfig.load(config_path) if config_path else ClusterConfig()
    if config.lab is None:
        config.lab = LabConfig()
    config.lab.enabled = True
    if net:
        config.lab = LabConfig.from_dict({**vars(config.lab), "network": net}, "--net")
    return config


def serve_config(args: argparse.Namespace) -> Any:
    """``fakegc serve --lab [NET]``: the lab config, addresses added (``--add-addresses``, an
    OSError naming CAP_NET_ADMIN otherwise) and root dropped (``--run-as``) before serving."""
    config: Any = lab_config(args.config, args.lab or None)
    config.host = args.host
    if args.admin_port is not None:
        config.lab.admin_port = args.admin_port
    if args.add_addresses:
        from fakegc.lab.addresses import add_addresses

        try:
            add_addresses(config.lab, config.dns_domain, config.exchange, config.gcs)
        except OSError as exc:
            raise OSError(f"--add-addresses: {exc.strerror or exc} (needs CAP_NET_ADMIN)") from None
    if args.run_as:
        uid, _, gid = args.run_as.partition(":")
        os.setgroups([])
        os.setgid(int(gid or uid))
        os.setuid(int(uid))
    return config


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def main(argv: list[str]) -> int:
    """Entry of ``fakegc lab``."""
    own, cmd = _split(argv)
    args = build_parser().parse_args(own)
    if args.shell and not cmd:
        cmd = [os.environ.get("SHELL") or "/bin/sh"]
    if not cmd:
        print("fakegc lab: give a command after `--`, or --shell", file=sys.stderr)
        return 2
    if not netns.inside():
        return netns.reexec_in_namespace(["lab", *argv])
    return _run_inside(args, cmd)


def _run_inside(args: argparse.Namespace, cmd: list[str]) -> int:
    from fakegc.scenario.cluster import ClusterThread

    try:
        config = lab_config(args.config, args.net)
    except (OSError, ValueError) as exc:
        print(f"fakegc lab: {exc}", file=sys.stderr)
        return 2
    if args.journal:
        config.journal_path = args.journal  # type: ignore[attr-defined]
    netns.loopback_up()
    work = Path(tempfile.mkdtemp(prefix="fakegc-lab-"))
    if args.no_cluster:
        return _run_bare(config, work, cmd)
    try:
        ct = ClusterThread(config)  # type: ignore[arg-type]
    except OSError as exc:
        print(f"fakegc lab: cannot start the lab cluster: {exc}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
        return 2
    try:
        if args.scenario:
            ct.run_scenario(args.scenario)
        lab = ct.cluster.lab
        try:
            netns.bind_files(work, lab.plan.hosts_file(ct.cluster.config.netbios),
                             lab.plan.resolv_conf())
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"fakegc lab: cannot bind-mount the lab's /etc files: {exc}", file=sys.stderr)
            return 2
        endpoints = ct.cluster.write_endpoints(work / "endpoints.json")
        if args.endpoints_json:
            ct.cluster.write_endpoints(args.endpoints_json)
        krb5 = work / "krb5.conf"
        krb5.write_text(lab.plan.krb5_conf(ct.cluster.config.realm))
        # no KRB5CCNAME: impacket's scripts read it as a plain path and fail on MIT's FILE:
        env = {**os.environ, "FAKEGC_ENDPOINTS": str(endpoints), "KRB5_CONFIG": str(krb5)}
        env.pop(netns.INSIDE_ENV, None)  # CMD may run `fakegc lab` again: a nested lab
        try:
            return subprocess.run(cmd, check=False, env=env).returncode
        except FileNotFoundError:
            print(f"fakegc lab: {cmd[0]}: command not found", file=sys.stderr)
            return 127
        except KeyboardInterrupt:
            return 130
    finally:
        ct.close()
        shutil.rmtree(work, ignore_errors=True)


def _run_bare(config: Any, work: Path, cmd: list[str]) -> int:
    """``--no-cluster``: the namespace's files only; CMD serves the lab itself."""
    plan = LabPlan(config.lab, config.dns_domain, config.exchange, list(config.gcs))
    try:
        try:
            netns.bind_files(work, plan.hosts_file(config.netbios), plan.resolv_conf())
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"fakegc lab: cannot bind-mount the lab's /etc files: {exc}", file=sys.stderr)
            return 2
        krb5 = work / "krb5.conf"
        krb5.write_text(plan.krb5_conf(config.realm))
        env = {**os.environ, "KRB5_CONFIG": str(krb5), "FAKEGC_LAB": config.lab.network}
        env.pop(netns.INSIDE_ENV, None)
        try:
            return subprocess.run(cmd, check=False, env=env).returncode
        except FileNotFoundError:
            print(f"fakegc lab: {cmd[0]}: command not found", file=sys.stderr)
            return 127
    finally:
        shutil.rmtree(work, ignore_errors=True)
