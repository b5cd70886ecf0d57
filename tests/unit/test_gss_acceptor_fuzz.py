"""Mutated AP-REQs and SPNEGO tokens against the Kerberos acceptor: AuthError, nothing else."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from impacket.krb5.kerberosv5 import getKerberosType1

from fakegc.client.kerberos import kdc_port
from fakegc.rpc.auth.base import AuthError
from fakegc.rpc.auth.kerberos import KerberosProvider
from fakegc.rpc.auth.ntlm import NtlmProvider
from fakegc.rpc.auth.spnego import SpnegoProvider

SPN_HOST = "gc01.contoso.test"


@pytest.fixture
def blob_and_provider(kdc):
    kdc.db.add_service(f"host/{SPN_HOST}")
    with kdc_port(kdc.tcp_port):
        _, _, blob = getKerberosType1("alice", "Passw0rd!", "CONTOSO.TEST", "", "", "", None, None,
                                      SPN_HOST, "127.0.0.1")
    krb = KerberosProvider(kdc.db, [f"host/{SPN_HOST}"])
    return bytes(blob), SpnegoProvider(NtlmProvider(kdc.db), krb)


def test_the_genuine_token_is_accepted_once(blob_and_provider):
    blob, provider = blob_and_provider
    first = provider.new_context().step(blob)
    assert first.token is not None and not first.complete
    with pytest.raises(AuthError, match="replayed"):
        provider.new_context().step(blob)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 100_000), st.integers(0, 255)), min_size=1, max_size=4),
       st.integers(0, 100_000))
def test_mutated_tokens_only_raise_autherror(blob_and_provider, flips, cut):
    blob, provider = blob_and_provider
    data = bytearray(blob)
    for where, value in flips:
        data[where % len(data)] = value
    data = bytes(data[: max(1, cut % (len(data) + 1))])
    try:
        provider.new_context().step(data)
    except AuthError:
        pass
