"""Run under Debian's /usr/bin/python3 with python3-samba: Samba's typed endpoint-mapper client.

Usage: samba_epm.py HOST PORT OPTIONS

Binds the endpoint mapper with the binding options given (e.g. "bigendian"), walks
epm_Lookup to the end, and tries epm_Insert with no entries.  Prints one JSON
document: the annotations and ports seen, the statuses, or the error.
"""

import json
import sys

from samba import credentials, param
from samba.dcerpc import epmapper, misc

host, port, options = sys.argv[1:4]
lp = param.LoadParm()
creds = credentials.Credentials()
creds.guess(lp)
creds.set_anonymous()
out = {}
try:
    suffix = f",{options}" if options else ""
    conn = epmapper.epmapper(f"ncacn_ip_tcp:{host}[{port}{suffix}]", lp, creds)
    handle = misc.policy_handle()
    names = []
    statuses = []
    for _ in range(10):
        handle, entries, result = conn.epm_Lookup(0, None, None, 1, handle, 1)
        statuses.append(result)
        names += [e.annotation for e in entries]
        if result != 0:
            break
    out["annotations"] = names
    out["lookup_status"] = statuses
    out["insert_status"] = conn.epm_Insert([], 0)
except Exception as exc:  # noqa: BLE001 - a fault comes back as an exception with the status
    out["error"] = repr(exc.args if hasattr(exc, "args") else exc)
print(json.dumps(out))
