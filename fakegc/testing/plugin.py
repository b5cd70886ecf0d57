"""pytest plugin (``pytest11`` entry point ``fakegc``): a fake GC cluster for your tests.

Fixtures
--------
``fake_gc_cluster``
    A :class:`fakegc.scenario.cluster.ClusterThread` shared by the session (one per
    xdist worker, on its own ephemeral ports), reset to HEALTHY before each test.
    Errors raised inside the servers during the test are re-raised at teardown.
``fake_gc_scenario``
    Factory: ``fake_gc_scenario("kb929439", time_scale=0.01)`` loads a shipped scenario
    (or a path) and starts its timeline on the cluster; returns the runner.
``fake_kdc``
    The cluster's KDC (add rules, read its ports, export keytabs).
``krb5_env``
    Environment for MIT tools (``KRB5_CONFIG``, ``KRB5CCNAME`` in a temp dir).
``fake_gc_endpoints``
    The endpoints document (ports of every actor, realm, users).
``fake_gc_async``
    For asyncio tests (pytest-asyncio, auto or strict mode): a started
    :class:`fakegc.scenario.cluster.Cluster` in the test's running loop (whatever loop
    scope the project configures), HEALTHY and fresh for each test; ``await
    fake_gc_async.fire(...)``, ``await fake_gc_async.journal.wait_for(...)``.  Server
    errors fail the test at teardown, as with ``fake_gc_cluster``.
``fake_gc_async_scenario``
    Factory: ``runner = await fake_gc_async_scenario("kb929439", time_scale=0.01)`` starts
    a scenario's timeline on ``fake_gc_async``.

Configuration
-------------
``@pytest.mark.fakegc(gcs=["gc01", "gc02", "gc03"], allow_anonymous=True, ...)`` gives a
test its own cluster (``fake_gc_async`` included) built from those :class:`~fakegc.scenario.cluster.ClusterConfig`
fields.  Environment variables set session defaults: ``FAKEGC_DIRECTORY`` (fixture
path), ``FAKEGC_GCS`` (comma-separated), ``FAKEGC_JOURNAL`` (JSON Lines path).

Lab mode
--------
``pytest --fakegc-lab [--fakegc-lab-net NET]`` (or ``FAKEGC_LAB=1`` / ``FAKEGC_LAB=NET``; per test
``@pytest.mark.fakegc(lab=True)``) runs the cluster on the lab network: every actor at its
own address on the standard ports (135, 88, 53), so clients dial names
(``gc01.contoso.test``) and impacket needs no ``kdc_port`` patch.  It binds ports below
1024, so the suite must run where it may: in a network namespace such as
``fakegc lab --no-cluster -- pytest --fakegc-lab`` gives (names resolve through the lab
DNS there), or as root in a CI container of its own (PROTOCOL.md §12).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

try:
    import pytest_asyncio
except ImportError:  # the async fixtures need pytest-asyncio; the sync ones do not
    pytest_asyncio = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from fakegc.kdc.server import Kdc
    from fakegc.scenario.cluster import Cluster, ClusterConfig, ClusterThread
    from fakegc.scenario.engine import ScenarioRunner

__all__ = ["ServerErrors"]


class ServerErrors(AssertionError):
    """Errors raised inside fakegc's servers while a test ran."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fakegc-lab", action="store_true", default=False,
                     help="run the fake GC cluster in lab mode (own address per actor, "
                          "standard ports; see fakegc.testing.plugin)")
    parser.addoption("--fakegc-lab-net", default=None, metavar="NET",
                     help="the lab network (default 127.29.39.0/24, or $FAKEGC_LAB)")


def _lab(value: Any) -> Any:
    """``True`` / "1" / a network → a LabConfig; falsy → None."""
    if value in (None, False, "", "0"):
        return None
    from fakegc.lab.plan import LabConfig

    if value in (True, "1"):
        return LabConfig()
    if isinstance(value, LabConfig):
        return value
    try:
        return LabConfig.from_dict({"network": str(value)}, "--fakegc-lab-net")
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


_LAB_DEFAULT: list[Any] = [None]


def pytest_configure(config: pytest.Config) -> None:
    net = config.getoption("--fakegc-lab-net", None)
    if config.getoption("--fakegc-lab", False):
        net = net or os.environ.get("FAKEGC_LAB") or "1"
    _LAB_DEFAULT[0] = net or os.environ.get("FAKEGC_LAB")
    config.addinivalue_line("markers", "fakegc(**config): run this test on its own fake GC cluster "
                                       "built with these ClusterConfig fields")


def _config_from_env(**overrides: Any) -> ClusterConfig:
    from fakegc.scenario.cluster import ClusterConfig

    cfg = ClusterConfig()
    if os.environ.get("FAKEGC_DIRECTORY"):
        cfg.directory_path = Path(os.environ["FAKEGC_DIRECTORY"])
    if os.environ.get("FAKEGC_GCS"):
        cfg.gcs = [g.strip() for g in os.environ["FAKEGC_GCS"].split(",") if g.strip()]
    if os.environ.get("FAKEGC_JOURNAL"):
        cfg.journal_path = Path(os.environ["FAKEGC_JOURNAL"])
    cfg.lab = _lab(_LAB_DEFAULT[0])
    for key, value in overrides.items():
        if key == "lab":
            value = _lab(value)
        if not hasattr(cfg, key):
            raise pytest.UsageError(f"@pytest.mark.fakegc: unknown ClusterConfig field {key!r}")
        setattr(cfg, key, value)
    return cfg


def _errors(ct: ClusterThread | Cluster) -> list[BaseException]:
    cluster = getattr(ct, "cluster", ct)
    errs = [e for s in cluster.all_servers() for e in s.errors] + list(cluster.kdc.errors)
    return errs


def _clear_errors(ct: ClusterThread) -> None:
    for server in ct.cluster.all_servers():
        server.errors.clear()
    ct.cluster.kdc.errors.clear()


@pytest.fixture(scope="session")
def _fake_gc_session() -> Iterator[ClusterThread]:
    from fakegc.scenario.cluster import ClusterThread

    ct = ClusterThread(_config_from_env())
    yield ct
    ct.close()


@pytest.fixture
def fake_gc_cluster(request: pytest.FixtureRequest) -> Iterator[ClusterThread]:
    """The cluster, reset to HEALTHY for this test (see the module docstring)."""
    marker = request.node.get_closest_marker("fakegc")
    own = None
    ct: ClusterThread
    if marker is not None:
        from fakegc.scenario.cluster import ClusterThread

        own = ClusterThread(_config_from_env(**marker.kwargs))
        ct = own
    else:
        ct = request.getfixturevalue("_fake_gc_session")
        ct.reset()
        _clear_errors(ct)
    try:
        yield ct
        errors = _errors(ct)
        if errors:
            raise ServerErrors(f"{len(errors)} error(s) inside fakegc's servers during the test: "
                               f"{errors[0]!r}") from errors[0]
    finally:
        if own is not None:
            own.close()


@pytest.fixture
def fake_gc_scenario(fake_gc_cluster: ClusterThread) -> Callable[..., ScenarioRunner]:
    """Factory starting a scenario's timeline on the test's cluster."""

    def start(name_or_path: str | os.PathLike[str], time_scale: float = 1.0) -> ScenarioRunner:
        return fake_gc_cluster.run_scenario(name_or_path, time_scale)

    return start


@pytest.fixture
def fake_kdc(fake_gc_cluster: ClusterThread) -> Kdc:
    """The cluster's KDC."""
    return fake_gc_cluster.cluster.kdc


@pytest.fixture
def fake_gc_endpoints(fake_gc_cluster: ClusterThread) -> dict[str, Any]:
    """The endpoints document."""
    return fake_gc_cluster.endpoints()


@pytest.fixture
def krb5_env(fake_gc_cluster: ClusterThread, tmp_path: Path) -> dict[str, str]:
    """``os.environ`` plus KRB5_CONFIG / KRB5CCNAME for MIT tools against the fake KDC."""
    return dict(os.environ, **fake_gc_cluster.cluster.krb5_env(tmp_path))


def _raise_server_errors(cluster: Any) -> None:
    errors = _errors(cluster)
    if errors:
        raise ServerErrors(f"{len(errors)} error(s) inside fakegc's servers during the test: "
                           f"{errors[0]!r}") from errors[0]


def _async_fixture(fn: Any) -> Any:
    if pytest_asyncio is not None:
        return pytest_asyncio.fixture(fn)

    @pytest.fixture(name=fn.__name__)
    def unavailable() -> None:
        raise pytest.UsageError(f"{fn.__name__} needs pytest-asyncio (pip install pytest-asyncio)")

    return unavailable


@_async_fixture
async def fake_gc_async(request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    """A started cluster in the test's running loop (see the module docstring)."""
    from fakegc.scenario.cluster import Cluster

    marker = request.node.get_closest_marker("fakegc")
    cluster = await Cluster.start(_config_from_env(**(marker.kwargs if marker else {})))
    try:
        yield cluster
        _raise_server_errors(cluster)
    finally:
        await cluster.close()


@_async_fixture
async def fake_gc_async_scenario(
        fake_gc_async: Cluster) -> Callable[..., Awaitable[ScenarioRunner]]:
    """Factory starting a scenario's timeline on ``fake_gc_async``."""

    async def start(name_or_path: str | os.PathLike[str], time_scale: float = 1.0) -> ScenarioRunner:
        runner: ScenarioRunner = await fake_gc_async.run_scenario(name_or_path, time_scale)
        return runner

    return start
