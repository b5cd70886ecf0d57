"""The asyncio fixtures, as a user meets them: a test file in a folder outside the repository,
the plugin loaded through its ``pytest11`` entry point, pytest-asyncio in auto and strict mode.

The user's file is the README's asyncio example, verbatim (only names the README gives).
Oracles: the OS's TCP stack (a closed listener refuses: ECONNREFUSED; a cut connection reads
EOF) and pytest-asyncio's documented modes (strict: only ``@pytest.mark.asyncio`` tests and
``pytest_asyncio.fixture`` fixtures run; auto: every ``async def``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
STRICT_WARNINGS = ("-W", "error")  # event-loop, unawaited-coroutine, unraisable: all errors


def readme_async_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    found = [b for b in blocks if "fake_gc_async" in b and "async def test_" in b]
    assert len(found) == 1, "the README has one asyncio pytest example"
    return found[0]


def run(pytester: pytest.Pytester, mode: str, loop_scope: str = "function") -> pytest.RunResult:
    pytester.makeini(f"""
        [pytest]
        asyncio_mode = {mode}
        asyncio_default_fixture_loop_scope = {loop_scope}
        asyncio_default_test_loop_scope = {loop_scope}
    """)
    assert not str(pytester.path).startswith(str(README.parent))
    return pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", *STRICT_WARNINGS)


@pytest.mark.parametrize("mode", ["auto", "strict"])
def test_the_readme_async_example_passes_outside_the_repo(pytester, mode):
    pytester.makepyfile(test_user=readme_async_example())
    run(pytester, mode).assert_outcomes(passed=1)


def test_module_loop_scope_marker_scenario_and_fresh_state(pytester):
    pytester.makepyfile(test_more="""
        import pytest

        @pytest.mark.asyncio(loop_scope="module")
        async def test_down(fake_gc_async):
            await fake_gc_async.fire("gc_down", gc="gc01")
            assert fake_gc_async.state.value == "DOWN"

        @pytest.mark.asyncio(loop_scope="module")
        async def test_fresh_after_down(fake_gc_async):
            assert fake_gc_async.state.value == "HEALTHY"
            assert fake_gc_async.journal.count("event") == 0

        @pytest.mark.fakegc(gcs=["gc01", "gc02", "gc03"])
        @pytest.mark.asyncio
        async def test_marker(fake_gc_async):
            assert sorted(fake_gc_async.gcs) == ["gc01", "gc02", "gc03"]

        @pytest.mark.asyncio
        async def test_scenario(fake_gc_async_scenario, fake_gc_async):
            await fake_gc_async_scenario("kb929439", time_scale=0.001)
            entry = await fake_gc_async.journal.wait_for("state", state="NEW_GC", timeout=10)
            assert entry.get("gc") == "gc02" and fake_gc_async.current_gc == "gc02"

        @pytest.mark.asyncio
        async def test_server_errors_fail_at_teardown(fake_gc_async):
            fake_gc_async.gcs["gc01"].nspi.errors.append(RuntimeError("handler exploded"))
    """)
    result = run(pytester, "strict", loop_scope="module")
    result.assert_outcomes(passed=5, errors=1)
    result.stdout.fnmatch_lines(["*ServerErrors*handler exploded*"])
