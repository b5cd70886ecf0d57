"""Bad input to the KDC gets the right KRB-ERROR (or a close), and the KDC keeps serving."""

from __future__ import annotations

import socket
import struct

import pytest
from impacket.krb5.asn1 import KRB_ERROR
from pyasn1.codec.der import decoder

from fakegc.client.kerberos import get_tgt
from fakegc.kdc.messages import raw_req_body


def udp(kdc, data):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(data, ("127.0.0.1", kdc.udp_port))
    reply = s.recv(65536)
    s.close()
    return decoder.decode(reply, asn1Spec=KRB_ERROR())[0]


def tcp(kdc, data, framed=True):
    s = socket.create_connection(("127.0.0.1", kdc.tcp_port), timeout=3)
    s.sendall(struct.pack(">I", len(data)) + data if framed else data)
    head = s.recv(4)
    n = struct.unpack(">I", head)[0]
    body = b""
    while len(body) < n:
        body += s.recv(n - len(body))
    closed = s.recv(1) == b""
    s.close()
    return decoder.decode(body, asn1Spec=KRB_ERROR())[0], closed


@pytest.mark.parametrize("garbage", [b"\x00" * 40, b"\x6a\x05\x30\x03\x02\x01", b"hello kdc"])
def test_garbage_gets_krb_error_generic(kdc, garbage):
    err = udp(kdc, garbage)
    assert int(err["error-code"]) == 60
    kdc.journal.expect("krb_error", code=60)


def test_wrong_pvno(kdc):
    import datetime

    from impacket.krb5 import constants
    from impacket.krb5.asn1 import AS_REQ, seq_set, seq_set_iter
    from impacket.krb5.types import KerberosTime, Principal
    from pyasn1.codec.der import encoder

    req = AS_REQ()
    req["pvno"] = 5
    req["msg-type"] = 10
    body = seq_set(req, "req-body")
    body["kdc-options"] = constants.encodeFlags([])
    seq_set(body, "cname", Principal("alice", type=1).components_to_asn1)
    seq_set(body, "sname", Principal("krbtgt/CONTOSO.TEST", type=2).components_to_asn1)
    body["realm"] = "CONTOSO.TEST"
    body["till"] = KerberosTime.to_asn1(datetime.datetime.now(datetime.UTC))
    body["nonce"] = 1
    seq_set_iter(body, "etype", (18,))
    raw = encoder.encode(req).replace(b"\xa1\x03\x02\x01\x05", b"\xa1\x03\x02\x01\x04", 1)
    err = udp(kdc, raw)
    assert int(err["error-code"]) == 3
    assert [str(x) for x in err["sname"]["name-string"]] == ["krbtgt", "CONTOSO.TEST"]


def test_huge_tcp_length_is_field_toolong_and_close(kdc):
    err, closed = tcp(kdc, struct.pack(">I", 0x80000010), framed=False)
    assert int(err["error-code"]) == 61 and closed
    get_tgt("alice", "Passw0rd!", "CONTOSO.TEST", "127.0.0.1", kdc.tcp_port)  # still serving


def test_raw_req_body_extraction():
    # [APPLICATION 12] { SEQUENCE { [1] INT 5, [4] SEQUENCE {} } }
    body = b"\x30\x03\x02\x01\x07"
    inner = b"\xa1\x03\x02\x01\x05" + b"\xa4" + bytes([len(body)]) + body
    msg = b"\x6c" + bytes([len(inner) + 2]) + b"\x30" + bytes([len(inner)]) + inner
    assert raw_req_body(msg) == body
