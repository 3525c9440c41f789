"""Moving one city's stored data to another Redis (`spa data export|import`): from the
single Redis of a first install to a Redis Cluster, or between any two deployments.

The file is JSON lines: a header, one line per key (its name, its PTTL and its DUMP
payload in base64), and an end line with the count, so a file cut short is refused
before anything is written. DUMP serializes any type with its encoding, so the file
needs no knowledge of the stores; the price is that RESTORE only reads payloads of
its own Redis version or older (RDB format), which the import checks first.

Only keys under the city's prefix move (`spa:{<city>:`, services.common.redis.key):
a Redis broker's queues are not data and stay behind (drain them before moving).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import redis

from services.common.redis import key

FORMAT = "spa-data/1"
BATCH = 1000  # keys per pipeline: few round trips, bounded memory
SHOWN = 5  # existing keys a refusal names

T = TypeVar("T")


class TransferError(Exception):
    """The file or the target cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class Entry:
    key: str
    pttl_ms: int  # -1: no expiry
    payload: bytes  # what DUMP returned


def city_pattern(city: str) -> str:
    """SCAN MATCH for every key of the city: `spa:{<city>:*`. `{` is literal in a glob;
    only a glob character inside the city name needs escaping."""
    prefix = key(city, "")[:-1]  # "spa:{<city>:}" less its brace
    return "".join("\\" + c if c in "*?[]\\" else c for c in prefix) + "*"


def export_city(client: redis.Redis, city: str, path: Path) -> int:
    """Write every key of the city to `path` (created readable by its owner only: it
    holds clients' personal data); how many keys. Writers must be stopped, or the file
    is a mix of moments."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(json.dumps({"format": FORMAT, "city": city,
                              "redis_version": server_version(client),
                              "exported_at": datetime.now(UTC).isoformat()}) + "\n")
        count = 0
        for names in chunks(unique(client.scan_iter(match=city_pattern(city), count=1000))):
            pipe = client.pipeline(transaction=False)  # reads only: no MULTI needed
            for name in names:
                pipe.pttl(name)
                pipe.dump(name)
            replies = pipe.execute()
            for name, pttl, payload in zip(names, replies[0::2], replies[1::2], strict=True):
                if payload is None:
                    continue  # expired or deleted since SCAN saw it
                out.write(json.dumps({"key": name, "pttl": pttl,
                                      "dump": base64.b64encode(payload).decode()}) + "\n")
                count += 1
        out.write(json.dumps({"end": True, "keys": count}) + "\n")
    return count


def import_city(client: redis.Redis, path: Path, replace: bool = False,
                city: str | None = None) -> tuple[dict, int]:
    """RESTORE every key of the file into `client` (a cluster client sends each to its
    node); the header and how many keys. Before writing anything it refuses a file cut
    short, a file of another city than `city` (the instance's SPA_CITY), a target too
    old for the payloads, and (without `replace`) a key the target already has."""
    header = check_file(path)
    if city and header["city"] != city:
        raise TransferError(f"the file holds the city {header['city']!r}, and SPA_CITY is "
                            f"{city!r}: this instance would never read it; nothing was "
                            f"written")
    check_version(header["redis_version"], server_version(client))
    if not replace and (existing := existing_keys(client, entries(path))):
        shown = ", ".join(existing[:SHOWN]) + (", ..." if len(existing) > SHOWN else "")
        raise TransferError(f"{len(existing)} key(s) of the file already exist in the target "
                            f"({shown}); nothing was written. --replace overwrites them")
    count = 0
    for batch in chunks(entries(path)):
        pipe = client.pipeline(transaction=False)  # keys of many slots; each RESTORE is whole
        for entry in batch:
            # RESTORE's TTL 0 means none; a TTL restarts from now, so a key lives longer
            # by the time the move took (minutes, with writers stopped).
            pipe.restore(entry.key, max(entry.pttl_ms, 0), entry.payload, replace=replace)
        try:
            pipe.execute()
        except redis.ResponseError as error:
            raise restore_failed(error, header) from None
        count += len(batch)
    return header, count


def check_file(path: Path) -> dict:
    """The header of a whole export file (read through once), else TransferError."""
    count = 0
    with path.open(encoding="utf-8") as lines:
        try:
            header = json.loads(next(lines, "{}"))
            if not isinstance(header, dict) or header.get("format") != FORMAT or not all(
                    isinstance(header.get(field), str) for field in ("city", "redis_version")):
                raise TransferError(f"{path} is not a `spa data export` file ({FORMAT})")
            end = None
            for line in lines:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise TypeError("a line is not a JSON object")
                if end is not None:
                    raise TransferError(f"{path} goes on after its end line")
                if "end" in record:
                    end = record
                else:
                    _entry(record)
                    count += 1
        except (ValueError, KeyError, TypeError) as error:
            raise TransferError(f"{path} line {count + 2} cannot be read: {error}") from None
    if end is None or end.get("keys") != count:
        raise TransferError(f"{path} is incomplete (the export did not finish): export again")
    return header


def entries(path: Path) -> Iterator[Entry]:
    with path.open(encoding="utf-8") as lines:
        next(lines)  # the header
        for line in lines:
            record = json.loads(line)
            if "end" not in record:
                yield _entry(record)


def _entry(record: dict) -> Entry:
    return Entry(str(record["key"]), int(record["pttl"]),
                 base64.b64decode(record["dump"], validate=True))


def existing_keys(client: redis.Redis, found: Iterable[Entry]) -> list[str]:
    existing = []
    for batch in chunks(found):
        pipe = client.pipeline(transaction=False)
        for entry in batch:
            pipe.exists(entry.key)
        existing += [e.key for e, there in zip(batch, pipe.execute(), strict=True) if there]
    return existing


def server_version(client: redis.Redis) -> str:
    """The Redis version (a cluster client answers for its nodes, which run one)."""
    return str(client.info("server").get("redis_version", "0"))


def check_version(source: str, target: str) -> None:
    """A DUMP payload carries the RDB version of the Redis that made it; RESTORE reads
    its own and older ones only. Major.minor decides (7.0 and 7.2 differ)."""
    if _major_minor(target) < _major_minor(source):
        raise TransferError(f"the file comes from Redis {source} and the target runs "
                            f"{target}, which cannot read its payloads: the target must "
                            f"run Redis {'.'.join(map(str, _major_minor(source)))} or newer")


def _major_minor(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in (version.split(".") + ["0", "0"])[:2] if part.isdigit())


def restore_failed(error: redis.ResponseError, header: dict) -> TransferError:
    """RESTORE's refusals said for the operator (redis-py's message quotes the payload)."""
    text = str(error)
    if "BUSYKEY" in text:
        return TransferError("a key of the file was written in the target during the import: "
                             "stop every app and worker, then import again with --replace")
    if "payload version or checksum" in text:
        return TransferError(f"the target refused a payload as damaged or too new (the file "
                             f"comes from Redis {header['redis_version']}); the keys before "
                             "it are written: fix the cause, then import again with --replace")
    return TransferError(f"the target refused a RESTORE: {text.rpartition('caused error: ')[2]}")


def unique(names: Iterable[str]) -> Iterator[str]:
    """SCAN may return a key more than once; each goes out once."""
    seen: set[str] = set()
    for name in names:
        if name not in seen:
            seen.add(name)
            yield name


def chunks(items: Iterable[T], size: int = BATCH) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
