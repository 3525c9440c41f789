"""`spa`: the operator's command line (dev stack, API keys, catalog, dead letters)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import click

from services.common import bus
from services.common.auth import KeyStore, hash_key
from services.common.config import Settings, load_settings
from services.common.redis import EmbeddedRedis
from services.common.service import Infra

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("availability", "booking", "notifications")


@click.group()
def cli() -> None:
    """Spa reservations: operator commands. Settings come from SPA_* variables."""


def all_queues() -> list:
    """Every queue of every service, so events wait even for a consumer never started."""
    from services.availability import queues as availability
    from services.booking import queues as booking
    from services.notifications import queues as notifications

    return [*availability.QUEUES, *booking.QUEUES, *notifications.QUEUES]


def declare_topology(infra: Infra) -> None:
    with infra.connection() as connection:
        bus.declare(connection, all_queues())


def load_demo_city(infra: Infra, path: Path) -> list[str]:
    """Load the city catalog when the store has none; returns the studio ids."""
    from services.availability.catalog_loader import load_city_if_empty

    return load_city_if_empty(infra, path)


def default_city_file(settings: Settings) -> Path:
    return ROOT / "deploy" / "cities" / f"{settings.city}.yaml"


@cli.command()
@click.option("--city-file", type=click.Path(exists=True, path_type=Path), default=None)
def init(city_file: Path | None) -> None:
    """Declare every queue and load the city catalog if the store has none
    (docker-compose runs this once before the workers)."""
    settings = load_settings()
    infra = Infra.from_settings(settings)
    declare_topology(infra)
    studios = load_demo_city(infra, city_file or default_city_file(settings))
    click.echo(f"{settings.city}: queues declared; studios {', '.join(studios)}")


@cli.command()
@click.option("--city-file", type=click.Path(exists=True, path_type=Path), default=None,
              help="catalog to load when the store is empty (default: deploy/cities/<city>.yaml)")
@click.option("--without", multiple=True, metavar="PROCESS",
              help="a process not to start (e.g. notifications-worker); tests use it")
def dev(city_file: Path | None, without: tuple[str, ...]) -> None:
    """Start everything on this machine: Redis (embedded unless SPA_REDIS_URL is set),
    the demo city, three apps, three workers and the gateway. Ctrl-C stops it all."""
    settings = load_settings()
    _claim_data_dir(settings.data_dir)
    embedded = None
    if not os.environ.get("SPA_REDIS_URL"):
        embedded = EmbeddedRedis(settings.data_dir / "redis")
        settings = replace(settings, redis_url=embedded.start())
    try:
        code = _run_stack(settings, city_file or default_city_file(settings), set(without))
    finally:
        if embedded:
            embedded.stop()
        (settings.data_dir / "spa-dev.pid").unlink(missing_ok=True)
    sys.exit(code)


def _claim_data_dir(data_dir: Path) -> None:
    """One `spa dev` per data dir: a second would fight the first for its Redis and ports."""
    pidfile = data_dir / "spa-dev.pid"
    try:
        pid = int(pidfile.read_text())
        argv = Path(f"/proc/{pid}/cmdline").read_text().split("\0")
        if pid != os.getpid() and "dev" in argv:
            raise click.ClickException(
                f"the stack is already running (pid {pid}); stop it with Ctrl-C first")
    except (OSError, ValueError):
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    pidfile.write_text(str(os.getpid()))


def _run_stack(settings: Settings, city_file: Path, without: set[str]) -> int:
    from honcho.manager import Manager

    infra = Infra.from_settings(settings)
    declare_topology(infra)
    studios = load_demo_city(infra, city_file)
    dev_info = _dev_keys(infra, settings, studios)
    _print_banner(settings, dev_info)
    manager = Manager()
    env = process_env(settings)
    for name, command in process_commands(settings).items():
        if name not in without:
            manager.add_process(name, command, env=env, cwd=str(ROOT))
    manager.loop()
    return manager.returncode or 0


def process_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"SPA_REDIS_URL": settings.redis_url, "SPA_BROKER_URL": settings.broker,
                "SPA_DATA_DIR": str(settings.data_dir.resolve()), "SPA_CITY": settings.city,
                "PYTHONUNBUFFERED": "1"})
    for name in SERVICES:
        env[f"SPA_{name.upper()}_PORT"] = str(getattr(settings, f"{name}_port"))
    env.setdefault("SPA_WEBHOOK_ALLOW_PRIVATE", "1")  # dev: loopback receivers are fine
    return env


def process_commands(settings: Settings) -> dict[str, str]:
    bin_dir = Path(sys.executable).parent
    conf = ROOT / "deploy" / "gunicorn.conf.py"

    def web(module: str, port: int) -> str:
        return (f"{bin_dir}/gunicorn -c {conf} --bind 127.0.0.1:{port} "
                f"services.{module}.wsgi:app")

    processes = {f"{name}-web": web(name, getattr(settings, f"{name}_port"))
                 for name in SERVICES}
    processes |= {f"{name}-worker": f"{sys.executable} -m services.{name}.worker"
                  for name in SERVICES}
    processes["gateway"] = web("gateway", settings.gateway_port)
    return processes


def _dev_keys(infra: Infra, settings: Settings, studios: list[str]) -> dict:
    """Reuse the keys in .spa/dev.json while the store still knows them."""
    path = settings.data_dir / "dev.json"
    keys = KeyStore(infra.redis, settings.city)
    old = json.loads(path.read_text()) if path.exists() else {}
    partner_studios = studios[:1]

    def reuse_or_create(field: str, name: str, role: str, scope: list[str]) -> str:
        known = old.get(field) and infra.redis.hexists(keys.keys, hash_key(old[field]))
        if known:
            return old[field]
        return keys.create(name, role, scope)

    info = {
        "base_url": f"http://127.0.0.1:{settings.gateway_port}",
        "redis_url": settings.redis_url,
        "admin_key": reuse_or_create("admin_key", "dev admin", "admin", []),
        "partner_key": reuse_or_create("partner_key", "dev partner", "partner",
                                       partner_studios),
        "partner_studios": partner_studios,
        "studios": studios,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2))
    path.chmod(0o600)
    return info


def _print_banner(settings: Settings, info: dict) -> None:
    base = info["base_url"]
    click.echo(f"""
  Spa reservations ({settings.city}) is starting
  base URL     {base}
  API docs     {base}/docs
  admin key    {info['admin_key']}
  partner key  {info['partner_key']}  (studios: {', '.join(info['partner_studios'])})
  Redis        {settings.redis_url}
  written to   {settings.data_dir / 'dev.json'}   Ctrl-C stops everything.
""")


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
    infra = Infra.from_settings(load_settings())
    click.echo(KeyStore(infra.redis, infra.settings.city).create(name, role, list(studios)))


@keys.command("revoke")
@click.argument("api_key")
def revoke_key(api_key: str) -> None:
    """Stop API_KEY working at once; webhooks it registered receive nothing more."""
    infra = Infra.from_settings(load_settings())
    if not KeyStore(infra.redis, infra.settings.city).revoke(api_key):
        raise click.ClickException("no such key")
    click.echo("revoked")


@cli.group("dead-letters")
def dead_letters() -> None:
    """Messages that failed every retry."""


def _dead(service: str) -> tuple[Infra, bus.DeadLetters]:
    from services.common.redis import key

    infra = Infra.from_settings(load_settings())
    return infra, bus.DeadLetters(infra.redis, key(infra.settings.city, service))


@dead_letters.command("list")
@click.argument("service", type=click.Choice(SERVICES))
@click.argument("queue")
def list_dead(service: str, queue: str) -> None:
    _, dead = _dead(service)
    for entry in dead.entries(queue):
        body = entry["body"] if isinstance(entry["body"], dict) else {}
        click.echo(json.dumps({"id": body.get("id"), "type": body.get("type"),
                               "error": entry["error"], "attempts": entry["attempts"],
                               "failed_at": entry["failed_at"]}))


@dead_letters.command("replay")
@click.argument("service", type=click.Choice(SERVICES))
@click.argument("queue")
def replay_dead(service: str, queue: str) -> None:
    infra, dead = _dead(service)
    with infra.connection() as connection:
        click.echo(f"replayed {dead.replay(queue, connection)}")


def _register_service_commands() -> None:
    from services.availability.cli import catalog

    cli.add_command(catalog)


_register_service_commands()

if __name__ == "__main__":
    cli()
