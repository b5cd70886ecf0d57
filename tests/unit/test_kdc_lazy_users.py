"""Users made principals on first lookup (a 100k-user cluster starts without 100k principals)
answer like the eager ``add_user`` loop they replace: same names, same principals, same keys
(RFC 3961 string-to-key with the RFC 4120 default salt), removals and explicit users kept."""

from __future__ import annotations

import random

from fakegc.kdc.principals import RC4, PrincipalDb


def _dbs(accounts: list[tuple[str, str]]) -> tuple[PrincipalDb, PrincipalDb]:
    eager = PrincipalDb("CONTOSO.TEST", "CONTOSO")
    for user, password in accounts:
        eager.add_user(user, password)
    lazy = PrincipalDb("CONTOSO.TEST", "CONTOSO")
    by_name = {u.lower(): (u, p) for u, p in accounts}
    lazy.add_users_from(lambda name: by_name.get(name.lower()), lambda: list(accounts))
    return eager, lazy


def test_lazy_users_answer_like_eager_ones() -> None:
    rng = random.Random(7)
    accounts = [(f"User{i}" if i % 3 else f"svc/{i}", f"Pw-{i}!") for i in range(60)]
    eager, lazy = _dbs(accounts)
    assert sorted(eager.names()) == sorted(lazy.names())
    probes = [u for u, _ in accounts] + ["nobody", "USER1@CONTOSO.TEST", "krbtgt/CONTOSO"]
    for name in rng.sample(probes, len(probes)) + [n.upper() for n in probes]:
        a, b = eager.get(name), lazy.get(name)
        assert (a is None) == (b is None), name
        if a is not None and b is not None and not a.service:  # krbtgt: random keys per db
            assert (a.components, a.password, a.etypes) == (b.components, b.password, b.etypes)
            # the key is the oracle: RFC 3961/4757 string-to-key of password and salt
            assert eager.key(a, RC4).contents == lazy.key(b, RC4).contents  # type: ignore[union-attr]
    assert lazy.get("user5") is lazy.get("USER5")  # made once, then kept


def test_removed_and_explicit_users_win_over_the_source() -> None:
    eager, lazy = _dbs([("alice", "one"), ("bob", "two")])
    for db in (eager, lazy):
        db.remove("alice")
        db.add_user("bob", "changed")
    assert lazy.get("alice") is None and eager.get("alice") is None
    assert lazy.get("bob").password == eager.get("bob").password == "changed"  # type: ignore[union-attr]
    assert sorted(eager.names()) == sorted(lazy.names())
