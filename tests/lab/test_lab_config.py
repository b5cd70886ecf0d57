"""Lab configuration, address plan and the DNS server's answers without sockets."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import pytest

from fakegc.journal import Journal
from fakegc.lab.dns import DnsServer, Zone
from fakegc.lab.plan import LabConfig, LabPlan
from fakegc.scenario.cluster import ClusterConfig


def test_bad_lab_table_is_one_line_naming_file_and_key(tmp_path):
    """Bad config: one line naming the file and the key, never a traceback (project rule)."""
    bad = tmp_path / "c.toml"
    bad.write_text("[lab]\nnetwrok = '10.0.0.0/24'\n")
    with pytest.raises(ValueError, match=r"c\.toml:2: netwrok: unknown \[lab\] key"):
        ClusterConfig.load(bad)
    bad.write_text("[lab]\nnetwork = '10.0.0.300/24'\n")
    with pytest.raises(ValueError, match=r"c\.toml:2: network: "):
        ClusterConfig.load(bad)
    bad.write_text("[lab]\n\nttl = 'long'\n")
    with pytest.raises(ValueError, match=r"c\.toml:3: ttl: must be int"):
        ClusterConfig.load(bad)


def test_plan_distinct_addresses_and_namespace_files():
    plan = LabPlan(LabConfig(network="10.9.8.0/24"), "contoso.test", "ex01", ["gc01", "gc02", "gc03"])
    assert len(set(plan.addresses.values())) == 7
    assert plan.addresses["gc03"] == "10.9.8.13"
    # hosts: only localhost and the NetBIOS domain name, so DNS names reach the lab DNS
    hosts = plan.hosts_file("CONTOSO")
    assert "contoso.test" not in hosts and f"{plan.kdc_address}\tcontoso" in hosts
    assert plan.resolv_conf().startswith(f"nameserver {plan.dns_address}\n")
    conf = plan.krb5_conf("CONTOSO.TEST")  # krb5.conf(5): no kdc line, DNS lookup on
    assert "dns_lookup_kdc = true" in conf and "kdc =" not in conf.replace("lookup_kdc", "")
    with pytest.raises(ValueError, match="distinct"):
        LabPlan(LabConfig(addresses={"gc01": "127.29.39.2"}), "contoso.test", "ex01", ["gc01"])


def _server() -> DnsServer:
    zone = Zone("contoso.test.", "39.29.127.in-addr.arpa.")
    zone.add("contoso.test.", "SOA", "ns1.contoso.test. hostmaster.contoso.test. 1 900 600 86400 600")
    for i in range(60):
        zone.add("_gc._tcp.contoso.test.", "SRV", f"0 100 3268 gc{i:02}.contoso.test.")
    return DnsServer(zone, Journal(), "127.0.0.1")


def test_udp_answer_over_512_bytes_is_truncated():
    """RFC 1035 §4.2.1 / RFC 7766 §5: a UDP answer larger than 512 bytes (no EDNS) goes out
    with TC set, so the client retries over TCP; over TCP the whole answer comes."""
    server = _server()
    query = dns.message.make_query("_gc._tcp.contoso.test", "SRV")
    udp = dns.message.from_wire(server.handle(query.to_wire(), "udp", "test", 512))
    assert udp.flags & dns.flags.TC and not udp.answer
    tcp = dns.message.from_wire(server.handle(query.to_wire(), "tcp", "test", 65535))
    assert len(tcp.answer[0]) == 60 and not tcp.flags & dns.flags.TC
    server.journal.expect("dns", qname="_gc._tcp.contoso.test", truncated=True)


def test_garbage_gets_formerr_or_nothing():
    """RFC 1035 §4.1.1: FORMERR when a header can be echoed; under 12 bytes, no reply."""
    server = _server()
    reply = server.handle(b"\xab\xcd" + b"\x00" * 10 + b"\xff\xff", "udp", "test", 512)
    assert reply is not None and reply[:2] == b"\xab\xcd" and reply[3] & 0xF == dns.rcode.FORMERR
    assert server.handle(b"\x01\x02", "udp", "test", 512) is None


def test_loopback_mode_unchanged():
    """Without [lab] the cluster keeps its loopback layout: no DNS, addresses 127.0.0.1."""
    from fakegc.scenario.cluster import ClusterThread

    with ClusterThread(ClusterConfig()) as ct:
        doc = ct.endpoints()
    assert "dns" not in doc and "lab" not in doc
    assert {a["address"] for a in doc["actors"].values()} == {"127.0.0.1"}
    assert doc["kdc"]["tcp"] != 88


def test_lab_help_has_examples_that_parse():
    """`fakegc lab --help` ends with examples (issue #21 item 6, as for every other command);
    each is a command line `fakegc lab` accepts: its own options parse and it runs a command
    (after `--`) or --shell. The first is issue #16's example, as typed."""
    import shlex
    import subprocess
    import sys

    from fakegc import cli_lab

    done = subprocess.run([sys.executable, "-m", "fakegc.cli", "lab", "--help"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "usage: fakegc lab" in done.stdout
    lines = [ln for ln in done.stdout.split("examples:", 1)[1].splitlines()
             if ln.strip().startswith("fakegc lab")]
    assert len(lines) >= 3
    assert ("fakegc lab -- getST.py -spn exchangeAB/gc01.contoso.test "
            "CONTOSO.TEST/alice:'Passw0rd!'") in [ln.strip() for ln in lines]
    for line in lines:
        argv = shlex.split(line, comments=True)[2:]
        own, cmd = cli_lab._split(argv)
        args = cli_lab.build_parser().parse_args(own)
        assert cmd or args.shell, line
