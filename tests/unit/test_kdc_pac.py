"""The optional PAC (MS-PAC): off by default; when on, parsable by impacket and correctly signed."""

from __future__ import annotations

import struct

import pytest
from impacket.krb5.asn1 import AD_IF_RELEVANT, TGS_REP, EncTicketPart
from impacket.krb5.crypto import InvalidChecksum, _checksum_table
from impacket.krb5.pac import (
    PAC_CLIENT_INFO,
    PAC_CLIENT_INFO_TYPE,
    PAC_INFO_BUFFER,
    PAC_LOGON_INFO,
    PAC_PRIVSVR_CHECKSUM,
    PAC_SERVER_CHECKSUM,
    PACTYPE,
    VALIDATION_INFO,
)
from pyasn1.codec.der import decoder

from fakegc import crypto
from fakegc.client.kerberos import get_tgs, get_tgt
from fakegc.kdc.pac import AD_WIN2K_PAC, rid_of

SPN = "exchangeAB/gc01.contoso.test"


def service_ticket(kdc):
    tgt, cipher, _, key = get_tgt("alice", "Passw0rd!", "CONTOSO.TEST", "127.0.0.1", kdc.tcp_port)
    tgs, _, _, _ = get_tgs(SPN, "CONTOSO.TEST", "127.0.0.1", kdc.tcp_port, tgt, cipher, key)
    ticket = decoder.decode(tgs, asn1Spec=TGS_REP())[0]["ticket"]
    service_key = kdc.db.key(kdc.db.get(SPN), int(ticket["enc-part"]["etype"]))
    plain = crypto.decrypt(service_key, 2, bytes(ticket["enc-part"]["cipher"]))
    return decoder.decode(plain, asn1Spec=EncTicketPart())[0], service_key


def buffers(pac: bytes) -> dict[int, bytes]:
    head = PACTYPE(pac)
    out = {}
    for i in range(head["cBuffers"]):
        info = PAC_INFO_BUFFER(pac[8 + 16 * i: 24 + 16 * i])
        out[info["ulType"]] = pac[info["Offset"]: info["Offset"] + info["cbBufferSize"]]
    return out


def test_no_pac_by_default(kdc):
    etp, _ = service_ticket(kdc)
    assert not etp["authorization-data"].hasValue()


def test_pac_parses_and_verifies(kdc):
    kdc.core.pac = True
    etp, service_key = service_ticket(kdc)
    outer = etp["authorization-data"][0]
    assert int(outer["ad-type"]) == 1
    inner = decoder.decode(bytes(outer["ad-data"]), asn1Spec=AD_IF_RELEVANT())[0][0]
    assert int(inner["ad-type"]) == AD_WIN2K_PAC
    pac = bytes(inner["ad-data"])
    parts = buffers(pac)
    assert set(parts) == {PAC_LOGON_INFO, PAC_CLIENT_INFO_TYPE, PAC_SERVER_CHECKSUM, PAC_PRIVSVR_CHECKSUM}
    logon = VALIDATION_INFO()
    logon.fromString(parts[PAC_LOGON_INFO])
    logon.fromStringReferents(parts[PAC_LOGON_INFO][len(logon.getData()):])
    data = logon["Data"]
    assert data["EffectiveName"] == "alice" and data["UserId"] == rid_of("alice")
    assert data["LogonDomainName"] == "CONTOSO" and data["PrimaryGroupId"] == 513
    assert PAC_CLIENT_INFO(parts[PAC_CLIENT_INFO_TYPE])["Name"] == "alice".encode("utf-16le")
    # server checksum: over the PAC with both signatures zeroed, with the service key, usage 17
    srv, kdc_sig = parts[PAC_SERVER_CHECKSUM], parts[PAC_PRIVSVR_CHECKSUM]
    srv_type, kdc_type = struct.unpack("<l", srv[:4])[0], struct.unpack("<l", kdc_sig[:4])[0]
    assert srv_type == 16 and kdc_type == 16
    zeroed = pac.replace(srv[4:], b"\x00" * len(srv[4:])).replace(kdc_sig[4:], b"\x00" * len(kdc_sig[4:]))
    _checksum_table[srv_type].verify(service_key, 17, zeroed, srv[4:])
    krbtgt = kdc.db.key(kdc.db.get("krbtgt/CONTOSO.TEST"), 18)
    _checksum_table[kdc_type].verify(krbtgt, 17, srv[4:], kdc_sig[4:])
    with pytest.raises(InvalidChecksum):  # impacket's verifier: the wrong key fails
        _checksum_table[srv_type].verify(krbtgt, 17, zeroed, srv[4:])


def test_authorization_data_helper_matches_the_ticket(kdc):
    from impacket.krb5.asn1 import AuthorizationData
    from pyasn1.codec.der import encoder

    from fakegc.kdc.pac import authorization_data

    kdc.core.pac = True
    etp, _ = service_ticket(kdc)
    inner = decoder.decode(bytes(etp["authorization-data"][0]["ad-data"]), asn1Spec=AD_IF_RELEVANT())[0]
    pac = bytes(inner[0]["ad-data"])
    ours = decoder.decode(authorization_data(pac), asn1Spec=AuthorizationData())[0]
    assert len(ours) == 1
    assert encoder.encode(ours[0]) == encoder.encode(etp["authorization-data"][0])
