"""The `spa` command: the composition root of the command line. It tells the
generic commands (services/common/cli.py) which services exist, and adds each
service's own commands."""

from __future__ import annotations

from services.availability import cli as availability_cli
from services.availability import queues as availability_queues
from services.availability.catalog_loader import load_city_if_empty, stored_studios
from services.booking import cli as booking_cli
from services.booking import queues as booking_queues
from services.common.cli import cli, export_data, import_data
from services.common.devstack import Composition
from services.notifications import cli as notifications_cli
from services.notifications import queues as notifications_queues

SERVICES = ("availability", "booking", "notifications")
COMPOSITION = Composition(
    services=SERVICES,
    queues=[*availability_queues.QUEUES, *booking_queues.QUEUES,
            *notifications_queues.QUEUES],
    load_city=load_city_if_empty,
    studios=stored_studios,
    upgrades=(booking_cli.upgrade_store, notifications_cli.upgrade_store),
    pages=("desk",),
)

cli.add_command(availability_cli.catalog)
cli.add_command(booking_cli.data)
booking_cli.data.add_command(export_data)
booking_cli.data.add_command(import_data)


def main() -> None:
    cli(obj=COMPOSITION)


if __name__ == "__main__":
    main()
