"""What availability's integration tests share: the day they book, the clock's start,
the worker's RPC server on the real broker, and a hold's params."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from services.availability import queues
from services.availability.bootstrap import Context
from services.common import bus
from services.common.rpc import RpcClient, RpcServer
from tests.helpers import running_worker

NOW = datetime.fromisoformat("2027-01-04T09:00:00+00:00")  # the day before DAY
DAY = "2027-01-05"  # a Tuesday: maya 08-16 and jonas 13-21 do ashiatsu at camden


@contextmanager
def serving(ctx: Context) -> Iterator[RpcClient]:
    """The worker's RpcServer in a thread on the real broker, and a client of it."""
    server = RpcServer(queues.SERVICE, queues.methods(ctx))
    with bus.broker_connection(ctx.infra.broker_url) as connection, \
            running_worker(connection, rpc_servers=[server]), \
            bus.broker_connection(ctx.infra.broker_url) as client_connection:
        yield RpcClient(client_connection, queues.SERVICE, timeout_s=5)


def hold_params(start: str = f"{DAY}T10:00:00+00:00", **changes) -> dict:
    return {"studio": "camden", "treatment": "ashiatsu", "duration": 60, "start": start,
            **changes}
