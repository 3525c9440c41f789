"""What availability consumes and publishes, and the guarantee of each.

serves    RPC `availability.rpc` (hold, confirm, release): a request is acked after
          its reply is sent; requests past the caller's deadline are dropped.
publishes slot.held, slot.released
"""

from __future__ import annotations

from services.availability.bootstrap import Context
from services.common.rpc import RpcServer, rpc_queue
from services.common.service import run_worker

SERVICE = "availability"
QUEUES = [rpc_queue(SERVICE)]
PUBLISHES = ("slot.held", "slot.released")


def methods(ctx: Context) -> dict:
    return {"ping": lambda params: {"pong": True, "city": ctx.infra.settings.city}}


def run(ctx: Context) -> None:
    run_worker(ctx.infra, [], rpc_servers=[RpcServer(SERVICE, methods(ctx))])
