"""The notifications worker process: what it consumes is declared in queues.py."""

from __future__ import annotations

from services.common.config import load_settings
from services.common.service import Infra
from services.notifications import queues
from services.notifications.bootstrap import bootstrap


def main() -> None:
    infra = Infra.from_settings(load_settings())
    queues.run(bootstrap(infra))


if __name__ == "__main__":
    main()
