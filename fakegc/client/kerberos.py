"""Reaching the fake KDC with impacket's Kerberos client (PROTOCOL.md §6.9).

impacket's ``kerberosv5.sendReceive`` is TCP-only on port 88; :func:`kdc_port`
points it at another port for the duration of a block, and :func:`get_tgt` /
:func:`get_tgs` wrap ``getKerberosTGT`` / ``getKerberosTGS`` for a host:port.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from impacket.krb5 import constants, kerberosv5
from impacket.krb5.types import Principal

__all__ = ["get_tgs", "get_tgt", "kdc_port"]

_LOCK = threading.RLock()
_ORIGINAL = kerberosv5.sendReceive


@contextmanager
def kdc_port(port: int) -> Iterator[None]:
    """Make impacket's Kerberos client use ``port`` instead of 88 inside the block.

    Port 88 (lab mode, PROTOCOL.md §12) needs no patch and gets none.
    """
    if port == 88:
        yield
        return
    with _LOCK:
        def send_receive(data: bytes, host: str, kdc_host: str | None, port_: int = 88) -> Any:
            return _ORIGINAL(data, host, kdc_host, port)

        kerberosv5.sendReceive = send_receive
        try:
            yield
        finally:
            kerberosv5.sendReceive = _ORIGINAL


def get_tgt(user: str, password: str, realm: str, host: str, port: int) -> tuple[Any, Any, Any, Any]:
    """(tgt, cipher, old session key, session key) from impacket's getKerberosTGT."""
    name = Principal(user, type=constants.PrincipalNameType.NT_PRINCIPAL.value)
    with kdc_port(port):
        return kerberosv5.getKerberosTGT(name, password, realm, "", "", kdcHost=host)  # type: ignore[no-any-return]


def get_tgs(spn: str, realm: str, host: str, port: int, tgt: Any, cipher: Any,
            session_key: Any) -> tuple[Any, Any, Any, Any]:
    """(tgs, cipher, old session key, session key) from impacket's getKerberosTGS."""
    name = Principal(spn, type=constants.PrincipalNameType.NT_SRV_INST.value)
    with kdc_port(port):
        return kerberosv5.getKerberosTGS(name, realm, host, tgt, cipher, session_key)  # type: ignore[no-any-return]
