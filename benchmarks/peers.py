"""Start the real peers the benchmarks compare against, on loopback only.

* Samba 4.17's endpoint mapper: ``samba-dcerpcd`` with ``rpcd_epmapper``, bound to
  127.0.0.1 (``interfaces = 127.0.0.1``, ``bind interfaces only``), port 135 (root).
* MIT krb5kdc: a throw-away realm in a temp dir on a loopback high port
  (see :func:`mit_kdc`).

And fakegc itself as shipped: ``fakegc serve`` in its own process (:func:`fakegc_serve`).

Both are installed from Debian packages by ``make bench-deps``.  Each runs pinned
to CPU 1 while the load generator runs on CPU 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SAMBA_DCERPCD = "/usr/libexec/samba/samba-dcerpcd"
RPCD_EPMAPPER = "/usr/libexec/samba/rpcd_epmapper"


def _pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def _wait_port(port: int, timeout: float = 15.0, udp: bool = False) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if udp:
            return
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"peer did not open port {port}")


def _descendants(pid: int) -> list[int]:
    """PIDs of every descendant of ``pid`` (from /proc/<pid>/task/*/children)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            out.extend(kids)
            todo.extend(kids)
    return out


def stop_tree(proc: subprocess.Popen[bytes]) -> None:
    """Stop a peer we started and every process it forked, by PID (never by name pattern):
    SIGTERM to the process and its descendants, SIGKILL to what is left after 10 s."""
    pids = [proc.pid, *_descendants(proc.pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 5
    for pid in pids:
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists() and pid != proc.pid:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


@contextmanager
def fakegc_serve(cpu: int = 1, config: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """``fakegc serve`` as shipped (every call journaled), pinned to ``cpu``, in its own
    session; ``config`` is a TOML text for ``--config``.  Yields (its PID, the endpoints
    document it wrote); stopped by PID."""
    tmp = Path(tempfile.mkdtemp(prefix="fakegc-bench-"))
    doc = tmp / "endpoints.json"
    argv = ["serve", "--endpoints-json", str(doc)]
    if config is not None:
        (tmp / "cluster.toml").write_text(config)
        argv += ["--config", str(tmp / "cluster.toml")]
    exe = shutil.which("fakegc", path=os.path.dirname(sys.executable)) or "fakegc"
    proc = subprocess.Popen(_pin(cpu) + [exe, *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not doc.exists() or not doc.read_text().strip():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("fakegc serve did not write its endpoints")
            time.sleep(0.1)
        time.sleep(0.2)
        yield proc.pid, json.loads(doc.read_text())  # taskset execs: the PID is fakegc's
    finally:
        stop_tree(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def samba_available() -> bool:
    """samba-dcerpcd is installed and we are root (it binds 135)."""
    return os.path.exists(SAMBA_DCERPCD) and os.geteuid() == 0


@contextmanager
def samba_epm(cpu: int = 1) -> Iterator[int]:
    """Run Samba's endpoint mapper on 127.0.0.1:135; yields the port."""
    tmp = Path(tempfile.mkdtemp(prefix="fakegc-samba-"))
    for d in ("lock", "state", "cache", "pid", "private", "log", "ncalrpc"):
        (tmp / d).mkdir()
    conf = tmp / "smb.conf"
    conf.write_text(f"""[global]
  interfaces = 127.0.0.1
  bind interfaces only = yes
  rpc start on demand helpers = false
  lock directory = {tmp}/lock
  state directory = {tmp}/state
  cache directory = {tmp}/cache
  pid directory = {tmp}/pid
  private dir = {tmp}/private
  ncalrpc dir = {tmp}/ncalrpc
  log file = {tmp}/log/%m.log
  log level = 0
""")
    # its own session: samba-dcerpcd forks rpcd_epmapper helpers, all in this process group
    proc = subprocess.Popen(_pin(cpu) + [SAMBA_DCERPCD, f"--configfile={conf}", "-F",
                                         "--debug-stdout", "-d0", RPCD_EPMAPPER],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp,
                            start_new_session=True)
    try:
        _wait_port(135)
        yield 135
    finally:
        stop_tree(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def mit_available() -> bool:
    """krb5kdc and kdb5_util are installed."""
    return bool(shutil.which("krb5kdc") and shutil.which("kdb5_util"))


@contextmanager
def mit_kdc(realm: str = "CONTOSO.TEST", users: dict[str, str] | None = None,
            services: list[str] | None = None, cpu: int = 1, port: int = 0) -> Iterator[dict[str, object]]:
    """Run MIT krb5kdc for ``realm`` with a database on tmpfs-like temp storage.

    Yields {'port': int, 'env': dict, 'dir': Path}; ``users`` get passwords,
    ``services`` random keys.
    """
    users = users or {"alice": "Passw0rd!"}
    services = services or []
    tmp = Path(tempfile.mkdtemp(prefix="fakegc-mitkdc-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    if not port:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
    (tmp / "kdc.conf").write_text(f"""[kdcdefaults]
 kdc_ports = {port}
 kdc_tcp_ports = {port}
[realms]
 {realm} = {{
  database_name = {tmp}/principal
  key_stash_file = {tmp}/stash
  acl_file = {tmp}/kadm5.acl
  supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal rc4-hmac:normal
  max_life = 10h
 }}
[logging]
 kdc = FILE:{tmp}/kdc.log
""")
    (tmp / "krb5.conf").write_text(f"""[libdefaults]
 default_realm = {realm}
 dns_lookup_kdc = false
 dns_lookup_realm = false
[realms]
 {realm} = {{
  kdc = 127.0.0.1:{port}
 }}
""")
    env = dict(os.environ, KRB5_CONFIG=str(tmp / "krb5.conf"), KRB5_KDC_PROFILE=str(tmp / "kdc.conf"))
    subprocess.run(["kdb5_util", "create", "-s", "-r", realm, "-P", "masterpw"], env=env,
                   check=True, capture_output=True)
    for user, password in users.items():
        subprocess.run(["kadmin.local", "-r", realm, "-q", f"addprinc -pw {password} {user}"],
                       env=env, check=True, capture_output=True)
    for spn in services:
        subprocess.run(["kadmin.local", "-r", realm, "-q", f"addprinc -randkey {spn}"],
                       env=env, check=True, capture_output=True)
    proc = subprocess.Popen(_pin(cpu) + ["krb5kdc", "-n", "-r", realm], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port)
        yield {"port": port, "env": env, "dir": tmp}
    finally:
        stop_tree(proc)
        shutil.rmtree(tmp, ignore_errors=True)
