"""Type checks for the ``[cluster]`` table, run at load before anything listens.

A value of the wrong type is one line naming ``file:line: key``: ``gcs = "gc01"`` is
not a list of GC names, ``admin_port = 70000`` is not a TCP port (RFC 793 ports are
16 bits).  The expected types come from :class:`ClusterConfig`'s annotations, so a
field added there is checked without touching this module.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from fakegc.resources import read_text

__all__ = ["ConfigError", "check_table", "describe", "key_line", "nested", "read_toml", "value_ok"]

MAX_PORT = 65535


class ConfigError(ValueError):
    """A configuration file that does not validate; the message names file, line and key."""


def key_line(text: str, key: str) -> int | None:
    """Line of the first ``key =`` assignment in TOML ``text`` (None when not found)."""
    if not text:
        return None
    m = re.search(rf"^[ \t]*{re.escape(key)}[ \t]*=", text, re.MULTILINE)
    return text.count("\n", 0, m.start()) + 1 if m else None


def where(source: str, text: str, key: str) -> str:
    """``source:line`` of ``key`` (``source:1`` when the line is unknown)."""
    return f"{source}:{key_line(text, key) or 1}"


def read_toml(path: str | Path) -> tuple[dict[str, Any], str]:
    """Parse a TOML file; bad bytes or syntax are a :class:`ConfigError` naming the line."""
    p = Path(path)
    text = read_text(p, ConfigError)
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(f"{p}:{m.group(1) if m else 1}: not valid TOML: {exc}") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer over 4300 digits
        raise ConfigError(f"{p}:1: not valid TOML: {str(exc).splitlines()[0][:120]}") from None


def describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in typing.get_args(hint))
    if origin is list:
        return f"a list of {describe(typing.get_args(hint)[0])}"
    if origin is dict:
        return f"a table of {describe(typing.get_args(hint)[1])}"
    return {str: "text", int: "a whole number", float: "a number", bool: "true/false",
            Path: "a path", type(None): "absent"}.get(hint, getattr(hint, "__name__", str(hint)))


def value_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(value_ok(value, a) for a in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str or hint is Path:
        return isinstance(value, str)
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(value_ok(v, item) for v in value)
    if origin is dict:
        key_t, val_t = typing.get_args(hint)
        return isinstance(value, dict) and all(value_ok(k, key_t) and value_ok(v, val_t)
                                               for k, v in value.items())
    return True  # a type this checker does not know: leave it to the consumer


def nested(hint: Any) -> type | None:
    """The dataclass a key's value is built from (``limits``: RpcLimits), or None."""
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def check_table(cls: type, data: Any, source: str, text: str = "",
                skip: tuple[str, ...] = (), table: str = "cluster") -> None:
    """Check every key of ``data`` against ``cls``'s annotations; raise :class:`ConfigError`.

    A key whose type is a dataclass (``[cluster.limits]``) is a table checked the same way.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: [{table}] must be a table")
    hints = typing.get_type_hints(cls)
    for key, value in data.items():
        if key not in hints or key in skip:
            raise ConfigError(f"{where(source, text, key)}: {key}: unknown [{table}] key")
        inner = nested(hints[key])
        if inner is not None:
            if not isinstance(value, dict):
                raise ConfigError(f"{where(source, text, key)}: {key}: must be a table")
            check_table(inner, value, source, text, table=f"{table}.{key}")
            continue
        if not value_ok(value, hints[key]):
            raise ConfigError(f"{where(source, text, key)}: {key}: must be {describe(hints[key])}, "
                              f"not {type(value).__name__} {str(value)[:40]!r}")
        ports = value.values() if key == "ports" else [value] if key.endswith("_port") else []
        for port in ports:
            if port is not None and not 0 <= port <= MAX_PORT:
                raise ConfigError(f"{where(source, text, key)}: {key}: port {port} is not "
                                  f"0..{MAX_PORT}")
    gcs = data.get("gcs")
    if gcs is not None:
        if not gcs:
            raise ConfigError(f"{where(source, text, 'gcs')}: gcs: must name at least one GC")
        if len(set(gcs)) != len(gcs):
            raise ConfigError(f"{where(source, text, 'gcs')}: gcs: a GC is named twice")
