"""Run under Debian's /usr/bin/python3 with python3-samba: Samba's own DCE/RPC client.

Usage: samba_client.py HOST PORT OPTIONS USER PASSWORD DOMAIN [IFACE_UUID VERSION OPNUM STUB_HEX]...

Binds the management interface with Samba's typed client (binding options such as
"sign,ntlm"), calls inq_if_ids, then, for each extra (interface, opnum, stub) triple,
adds that interface on the same connection (basis_connection=) and sends the stub.
Prints one JSON document with what came back.
"""

import json
import os
import sys

from samba import credentials, param
from samba.dcerpc import base, mgmt

host, port, options, user, password, domain = sys.argv[1:7]
extra = sys.argv[7:]
lp = param.LoadParm()
lp.set("client max protocol", "SMB3")
if os.environ.get("FAKEGC_SAMBA_ENCTYPES"):  # "legacy": rc4-hmac only
    lp.set("kerberos encryption types", os.environ["FAKEGC_SAMBA_ENCTYPES"])
creds = credentials.Credentials()
creds.guess(lp)
creds.set_username(user)
creds.set_password(password)
creds.set_domain(domain)
creds.set_realm(domain + ".TEST")
if "krb5" in options.split(","):
    creds.set_kerberos_state(credentials.MUST_USE_KERBEROS)
else:
    creds.set_kerberos_state(credentials.DONT_USE_KERBEROS)
binding = f"ncacn_ip_tcp:{host}[{port},{options}]"
out = {"binding": binding}
try:
    conn = mgmt.mgmt(binding, lp, creds)
    ids = conn.inq_if_ids()
    out["if_ids"] = sorted(str(i.id.uuid) for i in ids.if_id)
    out["listening"] = bool(conn.is_server_listening()[1])
    calls = []
    while extra:
        uuid, version, opnum, stub_hex = extra[:4]
        extra = extra[4:]
        other = base.ClientConnection(binding, (uuid, int(version)), lp, creds,
                                      basis_connection=conn)
        try:
            reply = other.request(int(opnum), bytes.fromhex(stub_hex))
            calls.append({"uuid": uuid, "opnum": int(opnum), "reply": bytes(reply).hex()})
        except Exception as exc:  # noqa: BLE001 - a fault comes back as an exception with the status
            calls.append({"uuid": uuid, "opnum": int(opnum), "error": repr(exc.args)})
    out["calls"] = calls
except Exception as exc:  # noqa: BLE001 - report any failure to the test as JSON
    out["error"] = repr(exc.args if hasattr(exc, "args") else exc)
print(json.dumps(out))
