"""What availability consumes and publishes, and the guarantee of each.

serves    RPC `availability.rpc` (describe, reserve, hold, hold_first, confirm, release;
          `ping` for checks): a request is acked after its reply is sent; requests past
          the caller's deadline are dropped. reserve, hold and hold_first are idempotent
          for a caller-chosen hold_id, confirm for the same booking, release always.
publishes slot.released (time a release or an expiry freed) and slot.opened (a catalog
          change that may have opened time): AT-LEAST-ONCE, from each studio's freed
          set, which the release script and the catalog change write atomically with
          the change itself (relay_freed, every RELAY_S); the waitlist depends on them.
          slot.held: best effort, at most once (handlers/reservations.publish).
periodic  sweep_expired every SWEEP_S: expired holds off the ledger (news: "expired"),
          each claimed by the release script; relay_freed every RELAY_S, under a lease
          (one replica at a time).
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
    HoldFirstParams,
    HoldParams,
    ReleaseParams,
    ReserveParams,
)
from services.common.bus import Periodic
from services.common.claims import Lease
from services.common.rpc import Method, RpcServer, rpc_method, rpc_queue
from services.common.service import run_worker

SERVICE = "availability"
QUEUES = [rpc_queue(SERVICE)]
PUBLISHES = ("slot.held", "slot.released", "slot.opened")
SWEEP_S = 1.0  # an expired hold's time is offered to the waitlist within seconds
RELAY_S = 0.2
RELAY_LEASE_S = 10.0  # renewed after each studio's news: a dead relay's turn passes soon


def methods(ctx: Context) -> dict[str, Method]:
    def bound(handler):
        return partial(handler, ctx)

    return {
        "ping": lambda params: {"pong": True, "city": ctx.city},
        "describe": rpc_method(bound(reservations.describe), DescribeParams(),
                               DescriptionView()),
        "hold": rpc_method(bound(reservations.hold), HoldParams(), HeldView()),
        "hold_first": rpc_method(bound(reservations.hold_first), HoldFirstParams(),
                                 HeldView()),
        "reserve": rpc_method(bound(reservations.reserve), ReserveParams(), HeldView()),
        "confirm": rpc_method(bound(reservations.confirm), ConfirmParams()),
        "release": rpc_method(bound(reservations.release), ReleaseParams()),
    }


def run(ctx: Context) -> None:
    run_worker(ctx.infra, [], rpc_servers=[RpcServer(SERVICE, methods(ctx))],
               periodic=periodic(ctx))


def periodic(ctx: Context) -> list[Periodic]:
    """With N replicas: the sweep claims each expired hold in its script; the relay is
    a scan, run under a lease by one replica at a time (so news goes out in order)."""
    relay = Lease(ctx.infra.redis, ctx.store.k("lease", "relay_freed"), RELAY_LEASE_S)
    return [Periodic(SWEEP_S, partial(reservations.sweep_expired, ctx)),
            Periodic(RELAY_S, partial(reservations.relay_freed, ctx, relay.renew),
                     lease=relay)]
