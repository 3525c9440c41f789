"""`spa`: the operator's commands that every city has (dev stack, init, partners and
API keys, dead letters, moving a city's data to another Redis). They learn which
services exist from the `Composition` the entry point (`services/cli.py`) passes as
click's `obj`; each service adds its own commands there."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from services.common import bus, queue_migration, transfer
from services.common.auth import KeyStore
from services.common.config import SettingsError, load_settings
from services.common.devstack import (
    Composition,
    default_city_file,
    operator_settings,
    prepare,
    run_dev,
)
from services.common.redis import key, move_to_hash_tags
from services.common.service import Infra

CITY_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def cli() -> None:
    """Spa reservations: operator commands. Settings come from SPA_* variables."""
    try:
        load_settings().check()  # said plainly here; apps and workers raise it
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


@cli.command()
@click.option("--city-file", type=CITY_FILE, default=None)
@click.pass_obj
def init(composition: Composition, city_file: Path | None) -> None:
    """Declare every queue, bring data stored by an older version up to date, and load
    the city catalog if the store has none (docker-compose runs this once before the
    workers; running it again is harmless)."""
    settings = operator_settings()
    try:
        studios = prepare(Infra.from_settings(settings), composition,
                          city_file or default_city_file(settings))
    except bus.QueueMismatch as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{settings.city}: queues declared; studios {', '.join(studios)}")


@cli.command()
@click.option("--city-file", type=CITY_FILE, default=None,
              help="catalog to load when the store is empty (default: deploy/cities/<city>.yaml)")
@click.option("--without", multiple=True, metavar="PROCESS",
              help="a process not to start (e.g. notifications-worker), all its replicas; "
                   "tests use it")
@click.option("--replicas", type=click.IntRange(1, 8), default=1, show_default=True,
              help="how many of each app and worker to run (apps share their port)")
@click.pass_obj
def dev(composition: Composition, city_file: Path | None, without: tuple[str, ...],
        replicas: int) -> None:
    """Start everything on this machine: Redis (embedded unless SPA_REDIS_URL is set),
    the demo city, every app and worker, and the gateway. Ctrl-C stops it all."""
    settings = load_settings()
    sys.exit(run_dev(settings, composition, city_file or default_city_file(settings),
                     set(without), replicas))


@cli.group()
def keys() -> None:
    """API keys (only their hash is stored; a key is shown once)."""


@keys.command("create")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["admin", "partner"]), required=True)
@click.option("--studio", "studios", multiple=True, help="a studio the partner may use")
def create_key(name: str, role: str, studios: tuple[str, ...]) -> None:
    """An admin key; or (role partner) a new partner and its first key, as `spa
    partners create` makes them."""
    if role == "partner" and not studios:
        raise click.UsageError("a partner key needs at least one --studio")
    click.echo(_key_store().create(name, role, list(studios)))


@keys.command("revoke")
@click.argument("api_key")
def revoke_key(api_key: str) -> None:
    """Stop API_KEY working at once (an admin's webhooks receive nothing more)."""
    _revoke(api_key)


def _revoke(api_key: str) -> None:
    if not _key_store().revoke(api_key):
        raise click.ClickException("no such key")
    click.echo("revoked")


@cli.group()
def partners() -> None:
    """Partner accounts: a name, its studios and its API keys. What a partner makes
    (clients, webhook endpoints) belongs to the partner, so rotating keys loses
    nothing."""


@partners.command("create")
@click.argument("name")
@click.option("--studio", "studios", multiple=True, required=True,
              help="a studio the partner may book (repeat for more)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
@click.pass_obj
def create_partner(composition: Composition, name: str, studios: tuple[str, ...],
                   as_json: bool) -> None:
    """A new partner and its first API key (shown this once)."""
    infra = Infra.from_settings(operator_settings())
    keys = KeyStore(infra.redis, infra.settings.city)
    unknown = sorted(set(studios) - set(composition.studios(infra)))
    if unknown:
        raise click.BadParameter(f"no such studio: {', '.join(unknown)}",
                                 param_hint="--studio")
    partner, api_key = keys.create_partner(name, list(studios))
    if as_json:
        click.echo(json.dumps({**_partner_json(partner), "api_key": api_key}))
    else:
        click.echo(f"partner  {partner.id}  {partner.name}  "
                   f"(studios: {', '.join(partner.studios)})\napi key  {api_key}")


@partners.command("list")
@click.option("--json", "as_json", is_flag=True, help="one JSON array")
def list_partners(as_json: bool) -> None:
    found = _key_store().all_partners()
    if as_json:
        click.echo(json.dumps([_partner_json(p) for p in found]))
    for partner in [] if as_json else found:
        click.echo(f"{partner.id}  {partner.name}  studios: {', '.join(partner.studios)}  "
                   f"keys: {partner.keys}")


@partners.command("revoke")
@click.argument("partner_id")
def revoke_partner(partner_id: str) -> None:
    """Stop every key of the partner at once; its webhook endpoints receive nothing
    more. Its clients and bookings stay (erase clients through the API)."""
    if not _key_store().revoke_partner(partner_id):
        raise click.ClickException("no such partner")
    click.echo("revoked")


@partners.group("keys")
def partner_keys() -> None:
    """A partner's API keys: add one, then revoke the old one, to rotate."""


@partner_keys.command("add")
@click.argument("partner_id")
def add_partner_key(partner_id: str) -> None:
    """One more key for the partner (shown this once)."""
    try:
        click.echo(_key_store().add_key(partner_id))
    except KeyError:
        raise click.ClickException("no such partner") from None


@partner_keys.command("revoke")
@click.argument("api_key")
def revoke_partner_key(api_key: str) -> None:
    """Stop API_KEY; the partner's other keys go on working."""
    _revoke(api_key)


def _partner_json(partner) -> dict:
    return {"id": partner.id, "name": partner.name, "studios": list(partner.studios),
            "keys": partner.keys}


def _key_store() -> KeyStore:
    infra = Infra.from_settings(operator_settings())
    return KeyStore(infra.redis, infra.settings.city)


@cli.group("dead-letters")
def dead_letters() -> None:
    """Messages that failed every retry."""


def _dead(composition: Composition, service: str) -> tuple[Infra, bus.DeadLetters]:
    if service not in composition.services:
        raise click.BadParameter(f"one of {', '.join(composition.services)}",
                                 param_hint="SERVICE")
    infra = Infra.from_settings(operator_settings())
    return infra, bus.DeadLetters(infra.redis, key(infra.settings.city, service))


@dead_letters.command("list")
@click.argument("service")
@click.argument("queue")
@click.pass_obj
def list_dead(composition: Composition, service: str, queue: str) -> None:
    _, dead = _dead(composition, service)
    for entry in dead.entries(queue):
        body = entry["body"] if isinstance(entry["body"], dict) else {}
        click.echo(json.dumps({"id": body.get("id"), "type": body.get("type"),
                               "error": entry["error"], "attempts": entry["attempts"],
                               "failed_at": entry["failed_at"]}))


@dead_letters.command("replay")
@click.argument("service")
@click.argument("queue")
@click.pass_obj
def replay_dead(composition: Composition, service: str, queue: str) -> None:
    infra, dead = _dead(composition, service)
    with infra.connection() as connection:
        click.echo(f"replayed {dead.replay(queue, connection)}")


MIGRATE_TIMEOUT_S = 10.0  # per broker operation: a confirm waits for a quorum


@cli.group("bus")
def bus_commands() -> None:
    """The broker's queues."""


@bus_commands.command("migrate")
@click.pass_obj
def migrate_queues(composition: Composition) -> None:
    """Make every queue what this version declares, keeping its messages: on RabbitMQ a
    classic queue of an older version becomes a quorum queue with a delivery limit and
    dead-lettering (services/common/queue_migration.py). Stop the workers first;
    running it again is harmless."""
    infra = Infra.from_settings(operator_settings())
    with infra.connection(MIGRATE_TIMEOUT_S) as connection:
        try:
            lines = queue_migration.migrate(connection, composition.queues)
        except queue_migration.MigrationRefused as error:
            raise click.ClickException(str(error)) from None
    for line in lines:
        click.echo(line)


# `spa data export|import`: generic, so the entry point attaches them to a `data` group.

@click.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def export_data(file: Path) -> None:
    """Write every key of SPA_CITY (its DUMP payload and TTL) to FILE, JSON lines, to
    move the city to another Redis, e.g. a cluster (`spa data import`). Stop every app
    and worker first. Key names of older versions are brought up to date first. FILE
    holds clients' personal data: keep it as you keep the database."""
    infra = Infra.from_settings(operator_settings())
    city = infra.settings.city
    renamed = move_to_hash_tags(infra.redis, city)
    try:
        count = transfer.export_city(infra.redis, city, file)
    except OSError as error:
        raise click.ClickException(f"cannot write {file}: {error.strerror}") from None
    click.echo(f"{city}: exported {count} key(s) to {file}"
               + (f" ({renamed} renamed under their hash tag first)" if renamed else ""))


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="overwrite keys the target already has")
def import_data(file: Path, replace: bool) -> None:
    """RESTORE every key of FILE (from `spa data export`) into SPA_REDIS_URL; a cluster
    sends each key to its node. Refused, before anything is written, when a key exists
    (unless --replace), when the file is incomplete, or when the target runs an older
    Redis than the source (DUMP payloads are version-specific)."""
    settings = operator_settings()
    infra = Infra.from_settings(settings)
    try:
        header, count = transfer.import_city(infra.redis, file, replace, settings.city)
    except transfer.TransferError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{header['city']}: imported {count} key(s) from {file}")
