"""Writes collected, then applied at once: to a MULTI pipeline, or handed to a Lua
script as data (each key declared in KEYS, as Redis Cluster requires). The methods
mirror redis-py's, so the code that says what to write runs unchanged either way."""

from __future__ import annotations

import json


class Writes:
    def __init__(self) -> None:
        self.ops: list[tuple[str, str, tuple[str, ...]]] = []

    def set(self, name: str, value: str, ex: int | None = None) -> None:
        self.ops.append(("SET", name, (value, "EX", str(ex)) if ex else (value,)))

    def delete(self, *names: str) -> None:
        self.ops += [("DEL", name, ()) for name in names]

    def zadd(self, name: str, mapping: dict[str, float]) -> None:
        for member, score in mapping.items():
            self.ops.append(("ZADD", name, (repr(float(score)), member)))

    def zrem(self, name: str, *members: str) -> None:
        if members:
            self.ops.append(("ZREM", name, members))

    def sadd(self, name: str, *members: str) -> None:
        self.ops.append(("SADD", name, members))

    def hset(self, name: str, field: str, value: str) -> None:
        self.ops.append(("HSET", name, (field, value)))

    def for_script(self, first_keys: list[str]) -> tuple[list[str], str]:
        """(KEYS, the writes as JSON) for a script whose own keys come first; each
        write names its key by its (1-based) place in KEYS."""
        keys = list(first_keys)
        writes = []
        for command, name, args in self.ops:
            if name not in keys:
                keys.append(name)
            writes.append([command, keys.index(name) + 1, *args])
        return keys, json.dumps(writes)
