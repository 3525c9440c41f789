"""What availability consumes and publishes, and the guarantee of each.

serves    RPC `availability.rpc` (describe, hold, confirm, release; `ping` for checks):
          a request is acked after its reply is sent; requests past the caller's
          deadline are dropped. hold is idempotent for a caller-chosen hold_id,
          confirm for the same booking, release always.
publishes slot.held, slot.released: best effort, at most once (the ledger is the truth;
          see handlers.publish). The worker sweeps expired holds every SWEEP_S seconds
          and announces each as slot.released with reason "expired".
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from marshmallow import Schema, ValidationError

from services.availability import handlers
from services.availability.bootstrap import Context
from services.availability.domain import Refusal
from services.availability.schemas import (
    ConfirmParams,
    DescribeParams,
    HoldParams,
    ReleaseParams,
)
from services.common.bus import Periodic
from services.common.rpc import Method, RpcError, RpcServer, rpc_queue
from services.common.service import run_worker

SERVICE = "availability"
QUEUES = [rpc_queue(SERVICE)]
PUBLISHES = ("slot.held", "slot.released")
SWEEP_S = 30.0


def rpc_method(ctx: Context, handler: Callable[[Context, dict], dict], schema: Schema) -> Method:
    """Validate params at the edge; domain refusals travel back as RpcError."""

    def call(params: dict) -> dict:
        try:
            return handler(ctx, schema.load(params))
        except ValidationError as error:
            raise RpcError("validation_error", "some fields are invalid", 422,
                           errors=error.messages) from None
        except Refusal as refusal:
            raise RpcError(refusal.code, refusal.detail, refusal.status,
                           **refusal.extra) from None

    return call


def methods(ctx: Context) -> dict[str, Method]:
    return {
        "ping": lambda params: {"pong": True, "city": ctx.city},
        "describe": rpc_method(ctx, handlers.describe, DescribeParams()),
        "hold": rpc_method(ctx, handlers.hold, HoldParams()),
        "confirm": rpc_method(ctx, handlers.confirm, ConfirmParams()),
        "release": rpc_method(ctx, handlers.release, ReleaseParams()),
    }


def run(ctx: Context) -> None:
    sweeper = Periodic(SWEEP_S, partial(handlers.sweep_expired, ctx))
    run_worker(ctx.infra, [], rpc_servers=[RpcServer(SERVICE, methods(ctx))],
               periodic=[sweeper])
