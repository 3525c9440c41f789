"""`spa catalog ...`: check a city file, or load it into a running city (the entry
point, services/cli.py, adds this group to `spa`)."""

from __future__ import annotations

from pathlib import Path

import click

from services.availability.bootstrap import bootstrap
from services.availability.catalog_loader import load_city_file, load_file
from services.availability.catalog_rules import CatalogError
from services.availability.handlers import catalog_admin
from services.common.devstack import operator_settings
from services.common.errors import SpaError
from services.common.service import Infra

CITY_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def catalog() -> None:
    """City catalogs (deploy/cities/*.yaml): studios, rooms, therapists, treatments."""


@catalog.command("check")
@click.argument("path", type=CITY_FILE)
def check_file(path: Path) -> None:
    """Validate PATH and name every mistake; touches nothing."""
    loaded = _or_fail(lambda: load_file(path))
    click.echo(f"{path.name}: ok ({len(loaded.studios)} studios, {len(loaded.rooms)} rooms, "
               f"{len(loaded.therapists)} therapists, {len(loaded.treatments)} treatments)")


@catalog.command("load")
@click.argument("path", type=CITY_FILE)
def load(path: Path) -> None:
    """Replace the stored catalog with PATH, all or nothing; refused when the new
    catalog would strand a confirmed booking or a live hold."""
    infra = Infra.from_settings(operator_settings())
    loaded = _or_fail(lambda: load_city_file(path, infra.settings.city))
    _or_fail(lambda: catalog_admin.replace_catalog(bootstrap(infra), loaded))
    click.echo(f"{path.name}: loaded into {infra.settings.city}")


def _or_fail(action):
    try:
        return action()
    except CatalogError as error:
        raise click.ClickException(str(error)) from None
    except SpaError as refusal:
        raise click.ClickException(f"{refusal.detail}: {refusal.extra}") from None
