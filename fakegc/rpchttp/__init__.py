"""RPC over HTTP v2 (MS-RPCH): the Outlook Anywhere front on the Exchange server."""

from fakegc.rpchttp.proxy import RpcHttpProxy, self_signed_cert

__all__ = ["RpcHttpProxy", "self_signed_cert"]
