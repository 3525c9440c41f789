"""What availability consumes and publishes, and the guarantee of each.

serves    RPC `availability.rpc` (describe, hold, confirm, release; `ping` for checks):
          a request is acked after its reply is sent; requests past the caller's
          deadline are dropped. hold is idempotent for a caller-chosen hold_id,
          confirm for the same booking, release always.
publishes slot.held, slot.released: best effort, at most once (the ledger is the truth;
          see handlers/reservations.publish). The worker sweeps expired holds every
          SWEEP_S seconds and announces each as slot.released with reason "expired".
"""

from __future__ import annotations

from functools import partial

from services.availability.bootstrap import Context
from services.availability.handlers import reservations
from services.availability.schemas import (
    ConfirmParams,
    DescribeParams,
    DescriptionView,
    HeldView,
    HoldParams,
    ReleaseParams,
)
from services.common.bus import Periodic
from services.common.rpc import Method, RpcServer, rpc_method, rpc_queue
from services.common.service import run_worker

SERVICE = "availability"
QUEUES = [rpc_queue(SERVICE)]
PUBLISHES = ("slot.held", "slot.released")
SWEEP_S = 30.0


def methods(ctx: Context) -> dict[str, Method]:
    def bound(handler):
        return partial(handler, ctx)

    return {
        "ping": lambda params: {"pong": True, "city": ctx.city},
        "describe": rpc_method(bound(reservations.describe), DescribeParams(),
                               DescriptionView()),
        "hold": rpc_method(bound(reservations.hold), HoldParams(), HeldView()),
        "confirm": rpc_method(bound(reservations.confirm), ConfirmParams()),
        "release": rpc_method(bound(reservations.release), ReleaseParams()),
    }


def run(ctx: Context) -> None:
    sweeper = Periodic(SWEEP_S, partial(reservations.sweep_expired, ctx))
    run_worker(ctx.infra, [], rpc_servers=[RpcServer(SERVICE, methods(ctx))],
               periodic=[sweeper])
