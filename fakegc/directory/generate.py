"""Generate realistic directory fixtures of any size (``fakegc directory generate``).

Deterministic for a seed.  Names mix ASCII and non-ASCII (accents, umlauts, Nordic
letters, Polish, Greek, Cyrillic, CJK) so sorting, code-page conversion and
ambiguous name resolution get exercised.  Entries are written one per line as
JSON flow mappings, which are valid YAML too: ``.yaml`` output stays readable,
``.json`` output loads through msgspec's typed decoder (``fakegc/directory/typed.py``; 100 000
users in about half a second, ``benchmarks/bench_scale.py``).
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from typing import IO, Any

__all__ = ["FIRST", "LAST", "entries", "generate", "generate_text", "write_json", "write_yaml"]

FIRST = ["Alice", "Bob", "Carol", "David", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy",
         "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter",
         "Zoë", "Jürgen", "Åsa", "François", "Łukasz", "Søren", "Ólafur", "Renée", "José",
         "Σοφία", "Иван", "Дарья", "太郎", "花子", "Chloé", "Björn", "Małgorzata", "Nuño",
         "Ines", "Kenji", "Priya", "Aarav", "Fatima", "Omar", "Mei", "Lars", "Eeva"]
LAST = ["Smith", "Jones", "Müller", "García", "Øvergaard", "Nowak", "Dubois", "Rossi", "Kowalski",
        "Andersson", "Öberg", "Ñúñez", "Papadopoulos", "Иванов", "田中", "Schröder", "Lefèvre",
        "Brown", "Taylor", "Wilson", "Martin", "Lee", "Walker", "Hall", "Young", "King",
        "Nakamura", "Singh", "Haddad", "Virtanen", "Ström", "Çelik", "Dvořák", "Horváth"]
DEPARTMENTS = ["Engineering", "Sales", "Marketing", "Finance", "Human Resources", "Legal",
               "Support", "Operations", "Research", "Facilities"]
TITLES = ["Engineer", "Senior Engineer", "Manager", "Director", "Analyst", "Specialist",
          "Consultant", "Coordinator", "Administrator", "Intern"]
OFFICES = ["Seattle 4/101", "Berlin 2/17", "Paris 3/2", "Tokyo 12/4", "Oslo 1/9", "Kraków 5/5"]

HEADER = {"organization": "Contoso", "domain": "contoso.test", "netbios": "CONTOSO"}


def entries(users: int, seed: int = 0, progress: IO[str] | None = None) -> Iterator[tuple[str, Any]]:
    """(section, entry) pairs in file order: servers, users, groups, contacts, …."""
    rng = random.Random(seed)
    yield "servers", {"name": "ex01"}
    yield "servers", {"name": "ex02"}
    yield "users", {"alias": "alice", "display_name": "Alice Wonder", "given_name": "Alice",
                    "surname": "Wonder", "password": "Passw0rd!", "title": "Engineer",
                    "department": "Engineering", "phone": "+1 425 555 0100",
                    "office": "Seattle 4/101", "company": "Contoso"}
    yield "users", {"alias": "bob", "display_name": "Bob Builder", "given_name": "Bob",
                    "surname": "Builder", "password": "Passw0rd!", "title": "Manager",
                    "department": "Sales", "phone": "+1 425 555 0101", "office": "Seattle 4/102",
                    "company": "Contoso"}
    yield "users", {"alias": "svc-mapi", "display_name": "MAPI Service Account",
                    "password": "Passw0rd!", "department": "Operations", "company": "Contoso"}
    aliases: list[str] = []
    step = max(1, users // 20)
    for i in range(max(0, users - 3)):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        alias = f"u{i:06d}"
        aliases.append(alias)
        yield "users", {"alias": alias, "display_name": f"{first} {last}", "given_name": first,
                        "surname": last, "password": f"Pw-{i:06d}!", "title": rng.choice(TITLES),
                        "department": rng.choice(DEPARTMENTS), "phone": f"+1 425 555 {i % 10000:04d}",
                        "office": rng.choice(OFFICES), "company": "Contoso"}
        if progress is not None and i % step == 0:
            progress.write(f"\rgenerating users: {i}/{users}")
            progress.flush()
    if progress is not None:
        progress.write(f"\rgenerating users: {users}/{users}\n")
    yield "groups", {"alias": "sales", "display_name": "Sales Team", "members": ["bob", "alice"]}
    yield "groups", {"alias": "engineering", "display_name": "Engineering", "members": ["alice"]}
    for g in range(min(20, max(1, users // 50))):
        members = rng.sample(aliases, min(len(aliases), 10)) if aliases else []
        yield "groups", {"alias": f"dl-{g:03d}", "display_name": f"Distribution List {g:03d}",
                         "members": members}
    yield "contacts", {"alias": "ext-jane", "display_name": "Jane Partner",
                       "smtp": "jane@fabrikam.example"}
    for c in range(min(30, max(1, users // 20))):
        yield "contacts", {"alias": f"ext-{c:04d}",
                           "display_name": f"{rng.choice(FIRST)} {rng.choice(LAST)} (Fabrikam)",
                           "smtp": f"contact{c:04d}@fabrikam.example"}
    for r in range(5):
        yield "rooms", {"alias": f"room-{r + 1:02d}", "display_name": f"Conference Room {r + 1:02d}",
                        "capacity": 6 + 2 * r}
    yield "equipment", {"alias": "projector-1", "display_name": "Projector 1"}
    yield "public_folders", {"alias": "pf-announcements", "display_name": "Announcements"}
    yield "address_lists", {"name": "Engineering Department", "department": "Engineering"}
    yield "address_lists", {"name": "Sales Department", "department": "Sales"}


def write_yaml(users: int, out: IO[str], seed: int = 0, progress: IO[str] | None = None) -> None:
    """Write a YAML fixture (one flow mapping per entry)."""
    out.write("# generated by `fakegc directory generate`\n")
    for key, value in HEADER.items():
        out.write(f"{key}: {value}\n")
    section = None
    for name, entry in entries(users, seed, progress):
        if name != section:
            out.write(f"{name}:\n")
            section = name
        out.write("  - " + json.dumps(entry, ensure_ascii=False) + "\n")


def write_json(users: int, out: IO[str], seed: int = 0, progress: IO[str] | None = None) -> None:
    """Write the same fixture as JSON, one entry per line."""
    out.write("{\n" + "".join(f"  {json.dumps(k)}: {json.dumps(v)},\n" for k, v in HEADER.items()))
    section = None
    first = True
    for name, entry in entries(users, seed, progress):
        if name != section:
            if section is not None:
                out.write("\n  ],\n")
            out.write(f"  {json.dumps(name)}: [\n")
            section, first = name, True
        out.write(("" if first else ",\n") + "    " + json.dumps(entry, ensure_ascii=False))
        first = False
    out.write("\n  ]\n}\n")


def generate_text(users: int, seed: int = 0, fmt: str = "yaml") -> str:
    """The fixture as a string (``fmt`` yaml or json)."""
    import io

    buf = io.StringIO()
    (write_json if fmt == "json" else write_yaml)(users, buf, seed=seed)
    return buf.getvalue()


def generate(users: int, seed: int = 0) -> Any:
    """A :class:`~fakegc.directory.model.Directory` with ``users`` users."""
    from fakegc.directory.loader import load_json_text

    return load_json_text(generate_text(users, seed, "json"), f"<generated {users}>")


if __name__ == "__main__":
    write_yaml(int(sys.argv[1]), sys.stdout)
