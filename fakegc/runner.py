"""Run asyncio servers on a background thread for blocking clients.

impacket's RPC and Kerberos clients block; a test that drives them runs fakegc's
servers on a :class:`BackgroundLoop` and calls into it with :meth:`BackgroundLoop.run`.
uvloop is used when installed (PROTOCOL.md §7).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, Self, TypeVar

T = TypeVar("T")

__all__ = ["BackgroundLoop", "new_event_loop"]


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop: uvloop's when installed, else asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class BackgroundLoop:
    """An event loop running forever on a daemon thread."""

    def __init__(self, name: str = "fakegc-loop") -> None:
        self.loop = new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._started = threading.Event()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        self.loop.run_forever()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def start(self) -> Self:
        """Start the thread; returns self once the loop runs."""
        self._thread.start()
        self._started.wait()
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        """Run ``coro`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Any, *args: Any) -> Any:
        """Run a plain function on the loop thread and return its result."""
        async def wrapper() -> Any:
            return fn(*args)
        return self.run(wrapper())

    def stop(self) -> None:
        """Stop the loop and join the thread."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
