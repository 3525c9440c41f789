"""`spa dev`: the whole city on one machine, as `make run` starts it.

Everything here is generic: which services exist, their queues and how to load a
city come from the composition root (`services/cli.py`), so common knows no service.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import click
from kombu import Queue

from services.common import bus
from services.common.auth import KeyStore
from services.common.config import Settings, load_settings
from services.common.redis import EmbeddedRedis, move_to_hash_tags
from services.common.service import Infra
from services.common.vault import new_key

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Composition:
    """What the generic commands need to know of the services (the entry point says)."""

    services: tuple[str, ...]  # each has services.<name>.wsgi:app and services.<name>.worker
    queues: Sequence[Queue]  # every queue of every service
    load_city: Callable[[Infra, Path], list[str]]  # store the city if empty; its studio ids
    studios: Callable[[Infra], list[str]]  # the studio ids of the stored catalog
    # Each brings a service's stored data up to date (idempotent) and says what it did.
    upgrades: Sequence[Callable[[Infra], str]] = ()
    # Apps with no worker and no store of the product's (the front desk), behind the
    # gateway at /<name>/: services.<name>.wsgi:app on SPA_<NAME>_PORT.
    pages: tuple[str, ...] = ()


def operator_settings() -> Settings:
    """Settings for an operator's command (`spa init`, `spa partners ...`): the SPA_*
    variables; where they name no Redis or data key, those of the stack `make run`
    keeps in this data dir (.spa/dev.json, .spa/data.key), so that a command typed in
    a second terminal reaches the stack running in the first."""
    settings = load_settings()
    dev_json = settings.data_dir / "dev.json"
    if "SPA_REDIS_URL" not in os.environ and dev_json.exists():
        settings = replace(settings, redis_url=json.loads(dev_json.read_text())["redis_url"])
    key_file = settings.data_dir / "data.key"
    if not settings.data_key and key_file.exists():
        settings = replace(settings, data_key=key_file.read_text().strip())
    return settings


def default_city_file(settings: Settings) -> Path:
    return ROOT / "deploy" / "cities" / f"{settings.city}.yaml"


def prepare(infra: Infra, composition: Composition, city_file: Path) -> list[str]:
    """Declare every queue (events wait even for a consumer never started), bring
    stored data up to date, and load the city when the store has none; returns the
    studio ids."""
    with infra.connection() as connection:
        bus.declare(connection, composition.queues)
    for line in upgrade(infra, composition):
        click.echo(line)
    return composition.load_city(infra, city_file)


def upgrade(infra: Infra, composition: Composition) -> list[str]:
    """Data written by an older version, made current: keys renamed under their hash
    tags, partner keys from before partner accounts become partners, then each
    service's upgrade runs."""
    renamed = move_to_hash_tags(infra.redis, infra.settings.city)
    done = [f"key names: {renamed} key(s) moved under their hash tag"] if renamed else []
    moved = KeyStore(infra.redis, infra.settings.city).adopt_partnerless_keys()
    done += [f"partner accounts: {len(moved)} key(s) made partners"] if moved else []
    return done + [line for step in composition.upgrades if (line := step(infra))]


def run_dev(settings: Settings, composition: Composition, city_file: Path,
            without: set[str], replicas: int = 1) -> int:
    """Start Redis (embedded unless SPA_REDIS_URL is set), then every process
    (`replicas` of each app and worker). The broker is SPA_BROKER_URL, else the Redis."""
    claim_data_dir(settings.data_dir)
    settings = with_data_key(settings)
    embedded = None
    if not os.environ.get("SPA_REDIS_URL"):
        embedded = EmbeddedRedis(settings.data_dir / "redis")
        settings = replace(settings, redis_url=embedded.start())
    try:
        return _run_stack(settings, composition, city_file, without, replicas)
    finally:
        if embedded:
            embedded.stop()
        (settings.data_dir / "spa-dev.pid").unlink(missing_ok=True)


def claim_data_dir(data_dir: Path) -> None:
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


def _run_stack(settings: Settings, composition: Composition, city_file: Path,
               without: set[str], replicas: int = 1) -> int:
    from honcho.manager import Manager

    infra = Infra.from_settings(settings)
    studios = prepare(infra, composition, city_file)
    dev_info = dev_keys(infra, settings, studios)
    print_banner(settings, dev_info)
    manager = Manager()
    env = process_env(settings, (*composition.services, *composition.pages))
    for name, command in process_commands(settings, composition.services,
                                           composition.pages, replicas).items():
        if replica_of(name) not in without:
            manager.add_process(name, command, env=env, cwd=str(ROOT))
    manager.loop()
    return manager.returncode or 0


def process_env(settings: Settings, services: Sequence[str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"SPA_REDIS_URL": settings.redis_url, "SPA_BROKER_URL": settings.broker,
                "SPA_DATA_KEY": settings.data_key,
                "SPA_DATA_DIR": str(settings.data_dir.resolve()), "SPA_CITY": settings.city,
                "PYTHONUNBUFFERED": "1"})
    for name in services:
        env[f"SPA_{name.upper()}_PORT"] = str(getattr(settings, f"{name}_port"))
    env.setdefault("SPA_WEBHOOK_ALLOW_PRIVATE", "1")  # dev: loopback receivers are fine
    return env


def process_commands(settings: Settings, services: Sequence[str],
                     pages: Sequence[str] = (), replicas: int = 1) -> dict[str, str]:
    """Name -> command line of every process of the stack: an app and a worker per
    service, the page apps, and the gateway; `replicas` of each, named `<name>`,
    `<name>.2`, ... The replicas of an app are gunicorn masters sharing its port
    (SO_REUSEPORT: the kernel spreads connections over them), so nothing in front of
    them changes."""
    bin_dir = Path(sys.executable).parent
    conf = ROOT / "deploy" / "gunicorn.conf.py"
    shared = " --reuse-port" if replicas > 1 else ""

    def web(module: str, port: int) -> str:
        return (f"{bin_dir}/gunicorn -c {conf} --bind 127.0.0.1:{port}{shared} "
                f"services.{module}.wsgi:app")

    processes = {f"{name}-web": web(name, getattr(settings, f"{name}_port"))
                 for name in services}
    processes |= {f"{name}-worker": f"{sys.executable} -m services.{name}.worker"
                  for name in services}
    processes |= {f"{name}-web": web(name, getattr(settings, f"{name}_port")) for name in pages}
    processes["gateway"] = web("gateway", settings.gateway_port)
    return {name if n == 1 else f"{name}.{n}": command
            for name, command in processes.items() for n in range(1, replicas + 1)}


def replica_of(name: str) -> str:
    """The process a replica's name is of: booking-worker.2 -> booking-worker."""
    return name.split(".")[0]


def dev_keys(infra: Infra, settings: Settings, studios: list[str]) -> dict:
    """Reuse the admin key and the dev partner in .spa/dev.json while the store still
    knows them; else make them (the partner as `spa partners create` does)."""
    path = settings.data_dir / "dev.json"
    keys = KeyStore(infra.redis, settings.city)
    old = json.loads(path.read_text()) if path.exists() else {}
    admin_key = old.get("admin_key", "")
    if not keys.knows(admin_key):
        admin_key = keys.create("dev admin", "admin")
    partner_id, partner_key = old.get("partner_id", ""), old.get("partner_key", "")
    if not (keys.knows(partner_key) and keys.partner(partner_id)):
        partner, partner_key = keys.create_partner("dev partner", studios[:1])
        partner_id = partner.id
    info = {
        "base_url": f"http://127.0.0.1:{settings.gateway_port}",
        "redis_url": settings.redis_url,
        "admin_key": admin_key,
        "partner_id": partner_id,
        "partner_key": partner_key,
        "partner_studios": list(keys.partner(partner_id).studios),
        "studios": studios,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2))
    path.chmod(0o600)
    return info


def with_data_key(settings: Settings) -> Settings:
    """The dev stack's data key: SPA_DATA_KEY, else the one in .spa/data.key (made
    on the first run, readable by its owner only)."""
    if settings.data_key:
        return settings
    path = settings.data_dir / "data.key"
    if not path.exists():
        path.write_text(new_key() + "\n")
        path.chmod(0o600)
    return replace(settings, data_key=path.read_text().strip())


def print_banner(settings: Settings, info: dict) -> None:
    base = info["base_url"]
    click.echo(f"""
  Spa reservations ({settings.city}) is starting
  base URL     {base}
  API docs     {base}/docs
  front desk   {base}/desk/  (sign in with a key below)
  admin key    {info['admin_key']}
  partner      {info['partner_id']}  (studios: {', '.join(info['partner_studios'])})
  partner key  {info['partner_key']}
  Redis        {settings.redis_url}
  written to   {settings.data_dir / 'dev.json'}   Ctrl-C stops everything.
""")
