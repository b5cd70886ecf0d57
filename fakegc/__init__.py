"""fakegc: a protocol-level fake Active Directory Global Catalog for testing MAPI clients.

Layers (docs/ARCHITECTURE.md): ``wire`` codecs → ``rpc`` engine → interface handlers
(``nspi``, ``referral``, EPM/management in ``rpc``) → ``directory`` state →
``scenario`` (cluster, timeline, faults) → ``client`` (emulated MAPI provider) →
``cli`` / ``testing`` (pytest plugin, hypothesis strategies).
"""

__version__ = "0.1.0"
