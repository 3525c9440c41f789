"""`spa data ...`: the key that seals health answers and notes at rest, and the
upgrade `spa init` runs on booking's stored data (the entry point, services/cli.py,
adds both, and the generic `spa data export|import` to the group)."""

from __future__ import annotations

import click

from services.booking.bootstrap import bootstrap
from services.common.devstack import operator_settings
from services.common.service import Infra
from services.common.vault import VaultError, new_key


@click.group()
def data() -> None:
    """The city's stored data: health answers and free-text notes are sealed at rest
    with SPA_DATA_KEY; export and import move it all to another Redis."""


@data.command("new-key")
def print_new_key() -> None:
    """Print a new random key for SPA_DATA_KEY (nothing is stored)."""
    click.echo(new_key())


@data.command("rotate-key")
def rotate_key() -> None:
    """Seal everything anew with the first key of SPA_DATA_KEY.

    To rotate: put the new key first, keeping the old one after a comma
    (SPA_DATA_KEY=new,old), restart the services, run this, then drop the old key."""
    try:
        ctx = bootstrap(Infra.from_settings(operator_settings()))
        bookings, clients = ctx.store.reseal_all(), ctx.clients.reseal_all()
    except VaultError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"resealed {bookings} booking(s) and {clients} client record(s) with the "
               "first key; the others may now be dropped from SPA_DATA_KEY")


def upgrade_store(infra: Infra) -> str:
    """Bookings whose answers an older version kept in clear text get them sealed."""
    sealed = bootstrap(infra).store.seal_clear_answers()
    return f"booking: sealed the answers of {sealed} older booking(s)" if sealed else ""
