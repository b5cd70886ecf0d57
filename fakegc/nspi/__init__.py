"""NSPI (MS-NSPI / MS-OXNSPI): the address-book interface a GC serves."""

from fakegc.nspi.host import NspiHost, NspiSession, StaticGc
from fakegc.nspi.interface import NSPI

__all__ = ["NSPI", "NspiHost", "NspiSession", "StaticGc"]
