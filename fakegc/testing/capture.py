"""Capture loopback traffic with tshark and check that Wireshark dissects it cleanly.

PROTOCOL.md §9: a clean capture (no malformed packet, no error-level expert info) is
part of every interop test.  :func:`capture` records the given TCP/UDP ports on
``lo``; :meth:`Capture.check` dissects the file with DCE/RPC decoding forced on
those ports (``-d tcp.port==N,dcerpc``), NTLM decryption with the given password,
and returns a :class:`Report` of protocols seen and problems found.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Capture", "Report", "capture", "tshark_available"]


def tshark_available() -> bool:
    """tshark present and this process may capture (root)."""
    return shutil.which("tshark") is not None and os.geteuid() == 0


@dataclass
class Report:
    """What tshark made of a capture (problems counted in the server's own frames)."""

    frames: int
    protocols: set[str]
    malformed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    text: str = ""

    @property
    def clean(self) -> bool:
        """No malformed packet and no error-level expert info."""
        return not self.malformed and not self.errors


@dataclass
class Capture:
    """A finished capture file and the ports it covers."""

    path: Path
    tcp_ports: list[int]
    udp_ports: list[int]
    kerberos_ports: list[int] = field(default_factory=list)

    def _decode_args(self, password: str | None) -> list[str]:
        args: list[str] = []
        for port in self.tcp_ports:
            if port in self.kerberos_ports:
                args += ["-d", f"tcp.port=={port},kerberos"]
            else:
                args += ["-d", f"tcp.port=={port},dcerpc"]
        for port in self.udp_ports:
            args += ["-d", f"udp.port=={port},kerberos"]
        if password:
            args += ["-o", f"ntlmssp.nt_password:{password}"]
        return args

    def check(self, password: str | None = None, extra: Sequence[str] = ()) -> Report:
        """Dissect the capture; collect malformed packets and error-level expert infos."""
        base = ["tshark", "-n", "-r", str(self.path)] + self._decode_args(password) + list(extra)
        fields = subprocess.run(base + ["-T", "fields", "-e", "frame.protocols",
                                        "-e", "_ws.col.Protocol"],
                                capture_output=True, text=True, timeout=120, check=False)
        protocols: set[str] = set()
        frames = 0
        for line in fields.stdout.splitlines():
            if line.strip():
                frames += 1
                layers, _, column = line.partition("\t")
                protocols.update(layers.strip().split(":"))
                protocols.add(column.strip().lower())
        summary = subprocess.run(base, capture_output=True, text=True, timeout=120, check=False)
        # We judge what *we* send: frames whose source port is one of ours.
        ours = " or ".join([f"tcp.srcport=={p}" for p in self.tcp_ports]
                           + [f"udp.srcport=={p}" for p in self.udp_ports]) or "frame"
        sent = subprocess.run(base + ["-Y", ours], capture_output=True, text=True, timeout=120, check=False)
        malformed = [ln for ln in sent.stdout.splitlines() if "Malformed" in ln]
        expert = subprocess.run(base + ["-q", "-z", f"expert,error,{ours}"],
                                capture_output=True, text=True, timeout=120, check=False)
        errors = [ln.strip() for ln in expert.stdout.splitlines()
                  if ln.strip() and not ln.startswith(("=", "Errors (", "Frequency"))
                  and "Group" not in ln and "Expert" not in ln]
        return Report(frames, protocols, malformed, errors, summary.stdout)


@contextmanager
def capture(tcp_ports: Sequence[int] = (), udp_ports: Sequence[int] = (),
            directory: str | None = None, kerberos_ports: Sequence[int] = ()) -> Iterator[Capture]:
    """Record loopback traffic on the given ports for the duration of the block."""
    if shutil.which("tshark") is None:
        raise RuntimeError("tshark is not installed (make test installs it when root)")
    tmp = Path(directory or tempfile.mkdtemp(prefix="fakegc-cap-"))
    path = tmp / "capture.pcapng"
    parts = [f"tcp port {p}" for p in tcp_ports] + [f"udp port {p}" for p in udp_ports]
    filt = " or ".join(parts) or "tcp"
    proc = subprocess.Popen(["tshark", "-n", "-i", "lo", "-f", filt, "-w", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # wait until tshark reports it is capturing
    deadline = time.monotonic() + 20
    assert proc.stderr is not None
    line = ""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "Capturing on" in line or not line:
            break
    time.sleep(0.2)
    try:
        yield Capture(path, list(tcp_ports), list(udp_ports), list(kerberos_ports))
    finally:
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
