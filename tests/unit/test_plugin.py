"""The pytest plugin: fixtures, reset between tests, marker config, server errors re-raised."""

from __future__ import annotations


def test_plugin_fixtures_and_reset(pytester):
    pytester.makepyfile("""
        def test_one(fake_gc_cluster):
            fake_gc_cluster.fire("gc_down", gc="gc01")
            assert fake_gc_cluster.cluster.state.value == "DOWN"

        def test_two(fake_gc_cluster, fake_gc_endpoints, fake_kdc, krb5_env):
            assert fake_gc_cluster.cluster.state.value == "HEALTHY"
            assert fake_gc_endpoints["kdc"]["tcp"] == fake_kdc.tcp_port
            assert open(krb5_env["KRB5_CONFIG"]).read().count("CONTOSO.TEST") >= 2

        def test_scenario(fake_gc_scenario, fake_gc_cluster):
            import time
            fake_gc_scenario("kb929439", time_scale=0.001)
            deadline = time.monotonic() + 5
            while fake_gc_cluster.cluster.state.value != "NEW_GC" and time.monotonic() < deadline:
                time.sleep(0.01)
            assert fake_gc_cluster.cluster.current_gc == "gc02"
    """)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_server_errors_fail_the_test_at_teardown(pytester):
    pytester.makepyfile("""
        def test_boom(fake_gc_cluster):
            fake_gc_cluster.cluster.gcs["gc01"].nspi.errors.append(RuntimeError("handler exploded"))
    """)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ServerErrors*handler exploded*"])


def test_marker_with_unknown_field_is_a_usage_error(pytester):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.fakegc(colour="red")
        def test_x(fake_gc_cluster):
            pass
    """)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*unknown ClusterConfig field 'colour'*"])
