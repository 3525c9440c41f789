"""The booking worker process: what it consumes is declared in queues.py."""

from __future__ import annotations

from services.booking import queues
from services.booking.bootstrap import bootstrap
from services.common.config import load_settings
from services.common.service import Infra


def main() -> None:
    infra = Infra.from_settings(load_settings())
    queues.run(bootstrap(infra))


if __name__ == "__main__":
    main()
