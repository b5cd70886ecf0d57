"""Shared KDC fixture helpers for the KDC tests."""

from __future__ import annotations

import pytest

from fakegc.journal import Journal
from fakegc.kdc.principals import PrincipalDb
from fakegc.kdc.server import Kdc


@pytest.fixture
def kdc(bg_loop):
    db = PrincipalDb()
    db.add_user("alice", "Passw0rd!")
    db.add_user("bob", "Secret#2")
    db.add_service("exchangeAB/gc01.contoso.test")
    db.add_service("exchangeAB/gc02.contoso.test")
    db.add_service("exchangeRFR/ex01.contoso.test")
    server = Kdc(db, Journal())
    bg_loop.run(server.start())
    yield server
    bg_loop.run(server.close())
    assert not server.errors, server.errors
