"""One holder at a time for a fixed port the tests must bind on the host's loopback.

impacket's RPC-over-HTTP client dials only 80 or 443, so the RPC-over-HTTP tests and the
README's Outlook Anywhere block both bind 443. Under pytest-xdist they run in different
workers; an exclusive lock file serialises them instead of letting one fail on EADDRINUSE.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from typing import IO, Self


class PortLock:
    """``with PortLock(443): ...`` — wait (bounded) until no other test holds the port."""

    def __init__(self, port: int, wait: float = 600.0) -> None:
        self.path = os.path.join(tempfile.gettempdir(), f"fakegc-test-port-{port}.lock")
        self.wait = wait
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        fh = open(self.path, "a")  # noqa: SIM115 -- held open across acquire..release
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fh = fh
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    fh.close()
                    raise TimeoutError(f"port lock {self.path} held for over {self.wait:.0f} s")
                time.sleep(0.1)

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
