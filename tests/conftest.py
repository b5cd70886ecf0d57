"""Shared fixtures: a background event loop and a small RPC server factory."""

from __future__ import annotations

pytest_plugins = ["pytester", "tests.kdc_fixtures"]  # the `kdc` fixture

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fakegc.journal import Journal
from fakegc.rpc.auth.ntlm import NtlmProvider
from fakegc.rpc.auth.simple import SimpleCredentials
from fakegc.rpc.epm import EPM, EndpointMap
from fakegc.rpc.mgmt import MGMT
from fakegc.rpc.registry import Interface
from fakegc.rpc.server import RpcLimits, RpcServer
from fakegc.runner import BackgroundLoop
from fakegc.testing.echo import ECHO

USERS = {"alice": "Passw0rd!", "bob": "Secret#2"}


@pytest.fixture(scope="session")
def bg_loop() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop().start()
    yield loop
    loop.stop()


@pytest.fixture
def make_server(bg_loop: BackgroundLoop) -> Iterator[Callable[..., RpcServer]]:
    """Factory: ``make_server(interfaces=..., limits=..., anonymous=False)`` → started server."""
    started: list[RpcServer] = []

    def factory(interfaces: list[Interface] | None = None, limits: RpcLimits | None = None,
                anonymous: bool = False, journal: Journal | None = None, **kw: Any) -> RpcServer:
        creds = SimpleCredentials(USERS)
        server = RpcServer("gc01", interfaces or [ECHO, EPM, MGMT], journal=journal or Journal(),
                           providers=[NtlmProvider(creds)], allow_anonymous=anonymous,
                           limits=limits, **kw)
        server.endpoint_map = EndpointMap()  # type: ignore[attr-defined]
        bg_loop.run(server.start())
        for iface in server.interfaces:
            server.endpoint_map.register(iface, "127.0.0.1", server.port)  # type: ignore[attr-defined]
        started.append(server)
        return server

    yield factory
    for server in started:
        bg_loop.run(server.close())
        assert not server.errors, f"internal server errors: {server.errors!r}"


@pytest.fixture(scope="module")
def cluster_thread():
    """A default cluster shared by a test module (see ``ct``)."""
    from fakegc.scenario.cluster import ClusterThread

    ct = ClusterThread()
    yield ct
    ct.close()


@pytest.fixture
def ct(cluster_thread):
    """The module's cluster, reset to HEALTHY; fails the test on internal server errors."""
    cluster_thread.reset()
    yield cluster_thread
    errors = [e for s in cluster_thread.cluster.all_servers() for e in s.errors]
    assert not errors, errors
