"""Run under Debian's /usr/bin/python3 with python3-samba: NSPI stubs through Samba's client.

Usage: samba_nspi.py HOST PORT OPTIONS USER PASSWORD DOMAIN BIND_STUB_HEX [OPNUM:STUB_HEX]...

Binds the management interface with Samba's typed client (binding options such as
"seal,ntlm"), adds NSPI (MS-OXNSPI, v56) on the same connection, sends NspiBind, then
each further stub with its first 20 bytes replaced by the context handle NspiBind
returned. With the ``ndr64`` binding option Samba negotiates NDR64 (the stubs given
must then be NDR64). Samba checks the signature of every response fragment and unseals it
(dcerpc_pull_auth_trailer / gensec_unseal_packet), so a reply here means Samba's
client accepted every fragment. Prints one JSON document with the replies.
"""

import json
import sys

from samba import credentials, param
from samba.dcerpc import base, mgmt

NSPI = ("f5cc5a18-4264-101a-8c59-08002b2f8426", 56)

host, port, options, user, password, domain, bind_hex = sys.argv[1:8]
lp = param.LoadParm()
creds = credentials.Credentials()
creds.guess(lp)
creds.set_username(user)
creds.set_password(password)
creds.set_domain(domain)
creds.set_kerberos_state(credentials.DONT_USE_KERBEROS)
binding = f"ncacn_ip_tcp:{host}[{port},{options}]"
out = {"binding": binding}
try:
    # Samba's client crashes opening a raw ClientConnection as the first one: mgmt first
    conn = mgmt.mgmt(binding, lp, creds)
    nspi = base.ClientConnection(binding, NSPI, lp, creds, basis_connection=conn)
    bound = bytes(nspi.request(0, bytes.fromhex(bind_hex)))
    # NspiBind answers pServerGuid (a unique pointer: 4 bytes, 8 in NDR64, and the GUID)
    # then the context handle
    at = 24 if "ndr64" in options.split(",") else 20
    handle = bound[at:at + 20]
    replies = [bound.hex()]
    for arg in sys.argv[8:]:
        opnum, _, stub_hex = arg.partition(":")
        stub = handle + bytes.fromhex(stub_hex)[20:]
        try:
            replies.append(bytes(nspi.request(int(opnum), stub)).hex())
        except Exception as exc:  # noqa: BLE001 - a fault comes back as an exception with the status
            replies.append({"error": repr(exc.args)})
    out["replies"] = replies
except Exception as exc:  # noqa: BLE001 - reported in the JSON
    out["error"] = repr(exc.args if hasattr(exc, "args") else exc)
print(json.dumps(out))
