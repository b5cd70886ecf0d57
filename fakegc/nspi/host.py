"""What an NSPI server (a GC actor) provides to the handlers, and the NSPI session.

:class:`NspiHost` is the read-only view of a GC the pure handlers get; the
scenario's GC actor implements it, :class:`StaticGc` is a plain one for tests and
embedders.  :class:`NspiSession` is the state behind an NSPI context handle
(MS-NSPI 3.1.1.1: code page, locales, server GUID at bind time).
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Protocol

from fakegc.directory.model import Directory

__all__ = ["NspiHost", "NspiSession", "StaticGc"]


class NspiHost(Protocol):
    """A GC as the NSPI handlers see it."""

    name: str
    fqdn: str
    server_guid: uuidlib.UUID
    directory: Directory
    accepting_binds: bool
    allow_anonymous: bool
    read_only: bool
    #: optional: where this GC's MIds start (see NspiSession.mid_offset)
    # mid_offset: int


@dataclass
class StaticGc:
    """A GC with fixed state (tests, embedding without the scenario engine)."""

    directory: Directory
    name: str = "gc01"
    fqdn: str = "gc01.contoso.test"
    server_guid: uuidlib.UUID = field(default_factory=uuidlib.uuid4)
    accepting_binds: bool = True
    allow_anonymous: bool = False
    read_only: bool = False
    mid_offset: int = 0


@dataclass
class NspiSession:
    """One NspiBind: what later calls on its context handle inherit."""

    server_guid: uuidlib.UUID
    code_page: int
    template_locale: int
    sort_locale: int
    flags: int
    user: str | None
    directory_version: int
    #: named properties this session mapped with NspiGetIDsFromNames: (guid, lid|name) → id
    named: dict[tuple[bytes, int | str], int] = field(default_factory=dict)
    #: this GC's MId space: wire MId = directory MId + offset (MS-NSPI 3.1.1.2: MIds are
    #: server-specific, so a client that carries MIds to another GC gets NotFound)
    mid_offset: int = 0
