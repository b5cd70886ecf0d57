"""The control plane (issue #18 item 6 and item 5's HTTP reads): bearer token, 400s that
name the problem, 404 for an unknown rule, read deadlines.

Oracles: RFC 6750 (bearer tokens, 401 + WWW-Authenticate), RFC 9110 15.5 (4xx codes),
RFC 9112 6.3 (an invalid Content-Length is a 400).
"""

from __future__ import annotations

import json
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakegc import cli
from fakegc.scenario.cluster import ClusterConfig, ClusterThread
from fakegc.wire.http import HttpLimits


@pytest.fixture(scope="module")
def ct() -> Iterator[ClusterThread]:
    with ClusterThread(ClusterConfig(admin_port=0)) as cluster:
        cluster.cluster.admin.limits = HttpLimits(header_timeout=0.3, body_timeout=0.3)
        yield cluster


def _raw(ct: ClusterThread, data: bytes, token: str | None = "", close_write: bool = False
         ) -> tuple[int, dict[str, str], bytes]:
    admin = ct.cluster.admin
    with socket.create_connection((admin.host, admin.port), timeout=10) as s:
        s.sendall(data.replace(b"{AUTH}", b"" if token is None else
                               f"Authorization: Bearer {token or admin.token}\r\n".encode()))
        if close_write:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _json(ct: ClusterThread, method: str, path: str, body: bytes, token: str | None = "") -> tuple[int, dict]:
    req = (f"{method} {path} HTTP/1.1\r\nHost: x\r\n{{AUTH}}Content-Length: {len(body)}\r\n\r\n"
           .encode() + body)
    status, _, payload = _raw(ct, req, token)
    return status, json.loads(payload)


def test_token_required(ct: ClusterThread) -> None:
    status, headers, _ = _raw(ct, b"GET /endpoints HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n", token=None)
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")  # RFC 6750 3
    status, _, _ = _raw(ct, b"GET /state HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n", token="wrong")
    assert status == 401  # RFC 6750 3.1 invalid_token
    status, body = _json(ct, "GET", "/state", b"")
    assert status == 200 and body["health"] == "ok"


@pytest.mark.parametrize(("body", "needle"), [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"event": "shutdown_begin", "gc01": ""}', "unknown key 'gc01'"),  # ctl fire without gc=
    (b'{"event": "nope"}', "unknown event 'nope'"),
    (b'{"gc": "gc01"}', "unknown event None"),
    (b'{"event": "gc_down", "gc": 5}', "gc must be"),
    (b'{"event": "gc_down", "gc": "gc99"}', "no GC named 'gc99'"),
])
def test_fire_bad_bodies_are_400(ct: ClusterThread, body: bytes, needle: str) -> None:
    status, payload = _json(ct, "POST", "/fire", body)
    assert status == 400, payload  # RFC 9110 15.5.1: the client's request is in error
    assert needle in payload["error"]


def test_rules_bad_keys_and_unknown_id(ct: ClusterThread) -> None:
    status, payload = _json(ct, "POST", "/rules", b'{"kind": "rpc_fault", "actr": "gc01"}')
    assert status == 400 and "unknown key 'actr'" in payload["error"]  # RFC 9110 15.5.1
    status, payload = _json(ct, "POST", "/rules", b'{"kind": "rpc_fault", "value": "x"}')
    assert status == 400 and "value must be" in payload["error"]
    status, payload = _json(ct, "DELETE", "/rules/99", b"")
    assert status == 404 and payload["removed"] is False  # RFC 9110 15.5.5 Not Found
    status, payload = _json(ct, "POST", "/rules", b'{"kind": "rpc_fault", "actor": "gc01"}')
    assert status == 200
    status, payload = _json(ct, "DELETE", f"/rules/{payload['id']}", b"")
    assert status == 200 and payload["removed"] is True


@pytest.mark.parametrize("length", [b"-7", b"abc", b"99999999999999999999999"])
def test_bad_content_length_is_400(ct: ClusterThread, length: bytes) -> None:
    status, _, _ = _raw(ct, b"POST /fire HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: " + length
                        + b"\r\n\r\n")
    assert status == 400  # RFC 9112 6.3 item 5: invalid Content-Length -> 400


def test_slow_peers_get_408(ct: ClusterThread) -> None:
    # a body that never arrives, a head that never ends: RFC 9110 15.5.9 408 and close
    status, _, _ = _raw(ct, b"POST /fire HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 10\r\n\r\n{")
    assert status == 408
    status, _, _ = _raw(ct, b"GET /state HTTP/1.1\r\nHost: x\r\n")
    assert status == 408


def test_endpoints_file_is_private_and_ctl_uses_its_token(
        ct: ClusterThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ep.json"
    ct.loop.call(ct.cluster.write_endpoints, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text())["admin_token"] == ct.cluster.admin.token
    assert cli.main(["ctl", "--endpoints-json", str(path), "state", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "HEALTHY"
    assert cli.main(["ctl", "--url", ct.cluster.admin.url, "state"]) == 1  # no token: 401
    assert "401" in capsys.readouterr().err


def test_docker_requires_the_token(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("FAKEGC_ADMIN_TOKEN", raising=False)
    assert cli.main(["serve", "--require-admin-token"]) == 2
    assert "FAKEGC_ADMIN_TOKEN" in capsys.readouterr().err
    text = (Path(__file__).resolve().parents[2] / "docker" / "Dockerfile").read_text()
    assert '"--require-admin-token"]' in text
    assert ClusterConfig().admin_host == "127.0.0.1"  # the plane stays on loopback in the image
