"""`spa`: the operator's commands that every city has (dev stack, init, API keys,
dead letters). They learn which services exist from the `Composition` the entry
point (`services/cli.py`) passes as click's `obj`; each service adds its own
commands there."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from services.common import bus
from services.common.auth import KeyStore
from services.common.config import load_settings
from services.common.devstack import Composition, default_city_file, prepare, run_dev
from services.common.redis import key
from services.common.service import Infra

CITY_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def cli() -> None:
    """Spa reservations: operator commands. Settings come from SPA_* variables."""


@cli.command()
@click.option("--city-file", type=CITY_FILE, default=None)
@click.pass_obj
def init(composition: Composition, city_file: Path | None) -> None:
    """Declare every queue and load the city catalog if the store has none
    (docker-compose runs this once before the workers)."""
    settings = load_settings()
    studios = prepare(Infra.from_settings(settings), composition,
                      city_file or default_city_file(settings))
    click.echo(f"{settings.city}: queues declared; studios {', '.join(studios)}")


@cli.command()
@click.option("--city-file", type=CITY_FILE, default=None,
              help="catalog to load when the store is empty (default: deploy/cities/<city>.yaml)")
@click.option("--without", multiple=True, metavar="PROCESS",
              help="a process not to start (e.g. notifications-worker); tests use it")
@click.pass_obj
def dev(composition: Composition, city_file: Path | None, without: tuple[str, ...]) -> None:
    """Start everything on this machine: Redis (embedded unless SPA_REDIS_URL is set),
    the demo city, every app and worker, and the gateway. Ctrl-C stops it all."""
    settings = load_settings()
    sys.exit(run_dev(settings, composition, city_file or default_city_file(settings),
                     set(without)))


@cli.group()
def keys() -> None:
    """API keys (only their hash is stored; a key is shown once)."""


@keys.command("create")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["admin", "partner"]), required=True)
@click.option("--studio", "studios", multiple=True, help="a studio the partner may use")
def create_key(name: str, role: str, studios: tuple[str, ...]) -> None:
    if role == "partner" and not studios:
        raise click.UsageError("a partner key needs at least one --studio")
    click.echo(_key_store().create(name, role, list(studios)))


@keys.command("revoke")
@click.argument("api_key")
def revoke_key(api_key: str) -> None:
    """Stop API_KEY working at once; webhooks it registered receive nothing more."""
    if not _key_store().revoke(api_key):
        raise click.ClickException("no such key")
    click.echo("revoked")


def _key_store() -> KeyStore:
    infra = Infra.from_settings(load_settings())
    return KeyStore(infra.redis, infra.settings.city)


@cli.group("dead-letters")
def dead_letters() -> None:
    """Messages that failed every retry."""


def _dead(composition: Composition, service: str) -> tuple[Infra, bus.DeadLetters]:
    if service not in composition.services:
        raise click.BadParameter(f"one of {', '.join(composition.services)}",
                                 param_hint="SERVICE")
    infra = Infra.from_settings(load_settings())
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
