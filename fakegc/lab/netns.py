"""Private network and mount namespaces for the lab (PROTOCOL.md §12).

:func:`reexec_in_namespace` runs this Python again under util-linux ``unshare --net
--mount`` (with ``--map-root-user`` when not root, where the kernel allows user
namespaces), marking the child with :data:`INSIDE_ENV`.  Inside, :func:`loopback_up`
brings ``lo`` up (a new network namespace starts with it down) and
:func:`bind_files` bind-mounts the lab's hosts, resolv.conf and nsswitch.conf over
the system's, visible only in the private mount namespace.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path

__all__ = [
    "INSIDE_ENV",
    "bind_files",
    "can_create",
    "inside",
    "loopback_up",
    "reexec_in_namespace",
    "unshare_argv",
]

INSIDE_ENV = "FAKEGC_LAB_NETNS"
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


def inside() -> bool:
    """Are we the child :func:`reexec_in_namespace` started?"""
    return os.environ.get(INSIDE_ENV) == "1"


def unshare_argv() -> list[str] | None:
    """The ``unshare`` command line that gives a private network and mount namespace,
    or None when util-linux ``unshare`` is missing."""
    binary = shutil.which("unshare")
    if binary is None:
        return None
    argv = [binary, "--net", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        argv.append("--map-root-user")
    return argv


def can_create() -> bool:
    """Can this process create the namespaces (root, or user namespaces allowed)?"""
    argv = unshare_argv()
    if argv is None:
        return False
    try:
        return subprocess.run(argv + ["true"], check=False, capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def reexec_in_namespace(args: list[str], env: dict[str, str] | None = None) -> int:
    """Run ``python -m fakegc.cli ARGS`` in fresh namespaces; returns its exit status."""
    argv = unshare_argv()
    if argv is None:
        print("fakegc lab: util-linux `unshare` is not installed", file=sys.stderr)
        return 2
    child_env = {**os.environ, **(env or {}), INSIDE_ENV: "1"}
    try:
        proc = subprocess.run(argv + ["--", sys.executable, "-m", "fakegc.cli", *args],
                              check=False, env=child_env)
    except KeyboardInterrupt:
        return 130
    if proc.returncode != 0 and not inside() and not can_create():
        print("fakegc lab: cannot create a network namespace here (needs root, or "
              "unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1)",
              file=sys.stderr)
    return proc.returncode


def loopback_up() -> None:
    """``ip link set lo up`` through SIOCSIFFLAGS (no iproute2 needed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, _SIOCGIFFLAGS, req)[:18])[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | _IFF_UP))


def _nsswitch() -> str:
    """The system's nsswitch.conf with ``hosts: files dns`` (no mdns/resolve modules that
    would bypass resolv.conf)."""
    try:
        lines = Path("/etc/nsswitch.conf").read_text().splitlines()
    except OSError:
        lines = []
    out = [line for line in lines if not line.lstrip().startswith("hosts:")]
    return "\n".join(out + ["hosts:          files dns", ""])


def bind_files(directory: Path, hosts: str, resolv_conf: str) -> None:
    """Write the lab's /etc files into ``directory`` and bind-mount them over the system's."""
    files = {"hosts": hosts, "resolv.conf": resolv_conf, "nsswitch.conf": _nsswitch()}
    for name, text in files.items():
        source = directory / name
        source.write_text(text)
        target = Path("/etc") / name
        if not target.exists():
            continue  # a dangling symlink or missing file: nothing to mount over
        subprocess.run(["mount", "--bind", str(source), str(target.resolve())], check=True,
                       capture_output=True)
