"""The availability worker process: what it consumes is declared in queues.py."""

from __future__ import annotations

from services.availability import queues
from services.availability.bootstrap import bootstrap
from services.common.config import load_settings
from services.common.service import Infra


def main() -> None:
    infra = Infra.from_settings(load_settings())
    queues.run(bootstrap(infra))


if __name__ == "__main__":
    main()
