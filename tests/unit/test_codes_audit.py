"""Every named RPC status against outside tables, never against our own constants.

Oracles: impacket's ``rpc_status_codes`` (impacket/dcerpc/v5/rpcrt.py, transcribed
from C706 appendix E and MS-RPCE 2.2.2.11) and, for Win32 values it lacks,
impacket's ``system_errors`` (MS-ERREF 2.2); Samba's librpc/idl/dcerpc.idl
constants confirm the three values issue #17 named.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from impacket import system_errors
from impacket.dcerpc.v5.rpcrt import rpc_status_codes

from fakegc.codes import RpcStatus, code_name


@pytest.mark.parametrize("member", list(RpcStatus), ids=lambda m: m.name)
def test_every_rpc_status_has_its_outside_name(member):
    impacket_name = rpc_status_codes.get(member.value)
    if impacket_name is not None:
        # impacket rpcrt.rpc_status_codes (C706 appendix E / MS-RPCE 2.2.2.11)
        assert member.name == impacket_name.strip()
    else:
        # MS-ERREF 2.2 Win32 error names, as impacket.system_errors lists them
        assert member.name == system_errors.ERROR_MESSAGES[member.value][0].lower()


def test_issue_17_values():
    # C706 appendix E: nca_s_fault_remote_no_memory = 0x1C00001B,
    # nca_s_fault_user_defined = 0x1C000021, nca_s_fault_int_overflow = 0x1C000010.
    assert rpc_status_codes[0x1C00001B].strip() == RpcStatus.nca_s_fault_remote_no_memory.name
    assert rpc_status_codes[0x1C000021].strip() == RpcStatus.nca_s_fault_user_defined.name
    assert rpc_status_codes[0x1C000010].strip() == RpcStatus.nca_s_fault_int_overflow.name
    assert code_name(0x1C000021) == "nca_s_fault_user_defined"


SAMBA = {  # Samba librpc/idl/dcerpc.idl constant -> our member
    "DCERPC_NCA_S_FAULT_REMOTE_NO_MEMORY": RpcStatus.nca_s_fault_remote_no_memory,
    "DCERPC_NCA_S_FAULT_USER_DEFINED": RpcStatus.nca_s_fault_user_defined,
    "DCERPC_NCA_S_FAULT_INT_OVERFLOW": RpcStatus.nca_s_fault_int_overflow,
    "DCERPC_NCA_S_PROTO_ERROR": RpcStatus.nca_s_proto_error,
    "DCERPC_NCA_S_OP_RNG_ERROR": RpcStatus.nca_s_op_rng_error,
    "DCERPC_NCA_S_UNKNOWN_IF": RpcStatus.nca_s_unk_if,
    "DCERPC_FAULT_CONTEXT_MISMATCH": RpcStatus.nca_s_fault_context_mismatch,
    "DCERPC_FAULT_BAD_STUB_DATA": RpcStatus.rpc_x_bad_stub_data,
    "DCERPC_FAULT_CANT_PERFORM": RpcStatus.rpc_fault_cant_perform,
    "DCERPC_FAULT_SEC_PKG_ERROR": RpcStatus.rpc_s_sec_pkg_error,
    "DCERPC_FAULT_ACCESS_DENIED": RpcStatus.rpc_s_access_denied,
}


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3") and os.environ.get("CI") != "true",
                    reason="Debian python3 with python3-samba absent")
def test_samba_idl_constants_agree():
    code = ("import json; from samba.dcerpc import dcerpc as d; "
            f"print(json.dumps({{k: getattr(d, k) for k in {sorted(SAMBA)!r}}}))")
    done = subprocess.run(["/usr/bin/python3", "-c", code], check=False, capture_output=True,
                          text=True, timeout=30)
    if done.returncode != 0 and os.environ.get("CI") != "true":
        pytest.skip("python3-samba not importable")
    values = json.loads(done.stdout)
    for name, member in SAMBA.items():
        assert values[name] == member.value, name  # Samba dcerpc.idl
