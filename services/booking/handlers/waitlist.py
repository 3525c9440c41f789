"""The waitlist: joining, leaving, and the offers that freed time becomes.

Time frees at a studio (availability's slot.released and slot.opened, relayed at least
once from its ledger) and the studio's line is read in join order: each waiting entry
the time may serve asks availability to hold the earliest free start inside its
windows (hold_first), and keeps it as an offer for SPA_WAITLIST_OFFER_MIN minutes. An
offer is a hold like any partner's: accepting it books it through `create_booking`,
the same path as POST /v1/bookings. Declining, leaving or letting it lapse gives the
hold back, which frees the time again: the next entry is offered it.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from datetime import datetime, timedelta

from services.booking import domain, saga
from services.booking.bootstrap import Context
from services.booking.commands import BookingRequest, FirstFree, JoinWaitlist, ListWaitlist
from services.booking.domain import Booking, Client
from services.booking.handlers import bookings, clients
from services.booking.schemas import waitlist_payload
from services.booking.store import Claim
from services.booking.waitlist import BOOKED, OFFERED, WAITING, Entry, Offer, check_windows
from services.booking.waitlist_store import Save
from services.common import bus
from services.common.auth import Principal
from services.common.correlation import correlation_id
from services.common.errors import (
    Conflict,
    Invalid,
    InvalidTransition,
    NotFound,
    OutsideBookingWindow,
    SlotUnavailable,
)

log = logging.getLogger(__name__)

FREED_MARGIN = timedelta(hours=1)  # a release frees its cleanup buffer too
SCAN_BATCHES = 10


# joining and reading


def join(ctx: Context, principal: Principal, command: JoinWaitlist, claim: Claim) -> Entry:
    """A new entry, screened as a booking is; once per Idempotency-Key."""
    if not ctx.store.claim(claim, ttl_s=2 * ctx.store.saga_timeout_s):
        return visible_entry(ctx, principal, bookings.replayed_id(ctx, claim))
    try:
        entry, client, on_record = new_entry(ctx, principal, command)
        saved = ctx.waitlist.save(Save(None, entry, event(ctx, "waitlist.joined", entry, client),
                                       receipt=claim))
    except BaseException:
        ctx.store.unclaim(claim)
        raise
    if command.intake:
        ctx.clients.record_intake(client.id, command.intake, ctx.clock.now())
    return saved


def new_entry(ctx: Context, principal: Principal,
              command: JoinWaitlist) -> tuple[Entry, Client, bool]:
    for studio in command.studios:
        principal.require_studio(studio, "studio")
    client, on_record = clients.client_for(ctx, principal, command)
    now = ctx.clock.now()
    for studio in command.studios:
        described = ctx.availability.describe(studio, command.treatment)
        check_windows(command.windows, now, described.latest_start(now))
        if command.duration not in described.treatment.durations:
            raise Invalid.field("duration", f"{described.treatment.name} lasts "
                                f"{' or '.join(map(str, described.treatment.durations))} "
                                "minutes")
        domain.screen(saga.answers_for(ctx, command.intake, client, described), described)
    if not on_record:
        client = ctx.clients.add(client)
    entry = Entry(saga.new_id("wl"), principal.owner, client.id, command.studios,
                  command.treatment, command.duration, command.windows, now, now,
                  command.addons, command.therapist, command.therapist_gender)
    return entry, client, on_record


def visible_entry(ctx: Context, principal: Principal, entry_id: str) -> Entry:
    entry = ctx.waitlist.get(entry_id)
    if entry is None:
        raise NotFound("no such waitlist entry")
    principal.require_visible(entry.studios, entry.owner, "waitlist entry")
    return entry


def list_entries(ctx: Context, principal: Principal, query: ListWaitlist) -> dict:
    """A page in join order; the caller's own entries only, filtered as they are read."""
    if query.studio and not principal.sees(query.studio):
        return {"items": [], "next_cursor": None}
    cursor, items = query.cursor, []
    for _ in range(SCAN_BATCHES):
        page = ctx.waitlist.page(query.studio, cursor, query.limit)
        for cursor, entry in page:
            if (entry and principal.sees_own(entry.studios, entry.owner)
                    and query.status in (None, entry.status)):
                items.append(entry)
                if len(items) == query.limit:
                    return {"items": items, "next_cursor": cursor}
        if len(page) < query.limit:
            return {"items": items, "next_cursor": None}
    return {"items": items, "next_cursor": cursor}


# the client's answer to an offer


def accept(ctx: Context, principal: Principal, entry_id: str, claim: Claim) -> Booking:
    """Book the offered hold exactly as POST /v1/bookings books a hold; the entry is
    then `booked`. A replay of the same Idempotency-Key answers with the same booking."""
    entry = visible_entry(ctx, principal, entry_id)
    if entry.status != OFFERED and not ctx.store.claim_record(claim):
        raise InvalidTransition.between(entry.status, BOOKED)
    hold = entry.offer.hold if entry.offer else ""
    request = BookingRequest(None, None, hold=hold, client=entry.client)
    booking = bookings.create_booking(ctx, principal, request, claim)
    settle_accepted(ctx, entry.id, booking)
    return booking


def settle_accepted(ctx: Context, entry_id: str, booking: Booking) -> None:
    """The entry whose offer `booking` took is booked (whoever gets here first)."""
    for _ in range(3):
        entry = ctx.waitlist.get(entry_id)
        if entry is None or entry.status != OFFERED or entry.offer.hold != booking.hold_id:
            return
        accepted = entry.booked(booking.id, ctx.clock.now())
        if ctx.waitlist.save(Save(entry, accepted, event(ctx, "waitlist.accepted", accepted))):
            return


def decline(ctx: Context, principal: Principal, entry_id: str) -> Entry:
    """Give the offer back: its time goes to the next entry; this one waits on, in its
    place, and is never offered that start again."""
    entry = visible_entry(ctx, principal, entry_id)
    if entry.status != OFFERED:
        raise InvalidTransition.between(entry.status, WAITING)
    return give_back(ctx, entry, entry.back_in_line(ctx.clock.now()), "waitlist.declined")


def leave(ctx: Context, principal: Principal, entry_id: str) -> None:
    entry = visible_entry(ctx, principal, entry_id)
    left = entry.left(ctx.clock.now())
    if entry.offer:
        give_back(ctx, entry, left, "waitlist.left")
    elif not ctx.waitlist.save(Save(entry, left, event(ctx, "waitlist.left", left))):
        raise Conflict("the entry changed meanwhile; read it again")


def give_back(ctx: Context, entry: Entry, after: Entry, kind: str) -> Entry:
    """Save `after` and give the offer's hold back, in one step, unless it was booked
    meanwhile; then free its time at once."""
    hold = entry.offer.hold
    saved = ctx.waitlist.save(Save(entry, after, event(ctx, kind, after), give_back=hold))
    if saved is None:
        raise Conflict("the offer was accepted, or the entry changed, meanwhile")
    saga.release_now(ctx, hold)
    return saved


# offers (the worker)


def on_time_freed(ctx: Context, envelope: bus.Envelope) -> None:
    """slot.released: offer what a release or an expiry freed to the studio's line."""
    payload = envelope.payload
    start = datetime.fromisoformat(payload["start"]) - FREED_MARGIN
    end = datetime.fromisoformat(payload["end"]) + FREED_MARGIN
    offer_freed_time(ctx, payload["studio"], start, end)


def on_time_opened(ctx: Context, envelope: bus.Envelope) -> None:
    """slot.opened: a catalog change may have opened time anywhere at the studio."""
    offer_freed_time(ctx, envelope.payload["studio"])


def on_joined(ctx: Context, envelope: bus.Envelope) -> None:
    """A new entry: time may be free for it already (offered in line order)."""
    for studio in envelope.payload["entry"]["studios"]:
        offer_freed_time(ctx, studio)


def on_client_erased(ctx: Context, envelope: bus.Envelope) -> None:
    """An erased client's entries leave the line (an offer's time goes on to the next)."""
    for entry in ctx.waitlist.of_client(envelope.payload["client"]):
        if entry.in_line:
            left = entry.left(ctx.clock.now())
            if entry.offer:
                with contextlib.suppress(Conflict):  # booked meanwhile: erased like others
                    give_back(ctx, entry, left, "waitlist.left")
            else:
                ctx.waitlist.save(Save(entry, left, event(ctx, "waitlist.left", left)))


def offer_freed_time(ctx: Context, studio: str, start: datetime | None = None,
                     end: datetime | None = None) -> list[Entry]:
    """Go down the studio's line in join order: each waiting entry that time freed in
    [start, end) may serve (None: anywhere) is offered the earliest free time in its
    windows, if any. Entries that want the same thing as one that found nothing are
    skipped: there is nothing for them either."""
    offered, found_nothing = [], set()
    for entry in ctx.waitlist.line(studio):
        wish = (entry.treatment, entry.duration, entry.addons, entry.therapist,
                entry.therapist_gender, entry.windows, entry.passed_on)
        if not entry.wants(studio, start, end) or wish in found_nothing:
            continue
        if made := offer(ctx, entry, studio):
            offered.append(made)
        else:
            found_nothing.add(wish)
    return offered


def offer(ctx: Context, entry: Entry, studio: str) -> Entry | None:
    """Hold the earliest free time in the entry's windows and offer it; None when there
    is none. The hold's id is the entry's next offer's, so a retry after a crash finds
    the hold it made, not a second one."""
    now = ctx.clock.now()
    wanted = FirstFree(studio, entry.treatment, entry.duration, entry.open_windows(now),
                       entry.addons, entry.therapist, entry.therapist_gender, entry.passed_on)
    try:
        hold = ctx.availability.hold_first(wanted, entry.next_hold_id(), offer_ttl_s(ctx))
    except (SlotUnavailable, OutsideBookingWindow):
        return None
    except (NotFound, Invalid) as refusal:  # the catalog no longer offers what it wants
        log.warning("waitlist entry cannot be served", extra={"error": refusal.code})
        return None
    offered = entry.offered(Offer.of(hold), now)
    saved = ctx.waitlist.save(Save(entry, offered, event(ctx, "waitlist.offered", offered),
                                   hold=replace(hold, owner=entry.owner)))
    if saved is None:
        give_back_unless_offered(ctx, entry.id, hold.id)
    return saved


def give_back_unless_offered(ctx: Context, entry_id: str, hold_id: str) -> None:
    """The entry changed while its time was held: a twin worker offered it this same
    hold (the id is the entry's), which stays; else the entry left or was offered
    other time, and this time goes back."""
    now = ctx.waitlist.get(entry_id)
    if not (now and now.offer and now.offer.hold == hold_id):
        saga.release_now(ctx, hold_id)


def offer_ttl_s(ctx: Context) -> int:
    return int(ctx.infra.settings.waitlist_offer_min * 60)


# Of N worker replicas, one settles each lapsed offer and each ended entry: the job
# claims it for this long, more than a batch of 20 (an RPC each, at most 5 s) takes.
SETTLE_LEASE_S = 120.0


def lapse_offers(ctx: Context) -> int:
    """Offers past expires_at: the hold goes back (its time to the next entry), the
    entry waits on. An offer whose hold a booking took was accepted: settled so."""
    now, lapsed = ctx.clock.now(), 0
    for entry_id in ctx.waitlist.lapsed_offers(now, SETTLE_LEASE_S):
        entry = ctx.waitlist.get(entry_id)
        if entry is None or entry.status != OFFERED or entry.offer.expires_at > now:
            continue
        try:
            give_back(ctx, entry, entry.back_in_line(now), "waitlist.offer_expired")
            lapsed += 1
        except Conflict:
            settle_taken_offer(ctx, entry)
    return lapsed


def settle_taken_offer(ctx: Context, entry: Entry) -> None:
    """A booking took the offer's hold but the entry still says offered (the accepting
    request died in between): booked if that booking stands, else waiting again."""
    taken = next((b for b in ctx.store.client_bookings(entry.client)
                  if b.hold_id == entry.offer.hold), None)
    if taken and taken.status == "confirmed":
        settle_accepted(ctx, entry.id, taken)
    elif taken is None or taken.status == "failed":
        back = entry.back_in_line(ctx.clock.now())
        ctx.waitlist.save(Save(entry, back, event(ctx, "waitlist.offer_expired", back)))


def expire_entries(ctx: Context) -> int:
    """Entries whose windows have all passed leave the line (`waitlist.expired`)."""
    now, expired = ctx.clock.now(), 0
    for entry_id in ctx.waitlist.ended(now, SETTLE_LEASE_S):
        entry = ctx.waitlist.get(entry_id)
        if entry and entry.status == WAITING and entry.passed(now):
            gone = entry.expired(now)
            expired += bool(ctx.waitlist.save(Save(entry, gone,
                                                   event(ctx, "waitlist.expired", gone))))
    return expired


def offer_everywhere(ctx: Context) -> int:
    """The safety net: every line offered what is free (news can only be late, never
    lost, but a catalog change's news carries no range)."""
    return sum(len(offer_freed_time(ctx, studio)) for studio in ctx.waitlist.lines())


# events


def event(ctx: Context, kind: str, entry: Entry, client: Client | None = None) -> bus.Envelope:
    client = client or ctx.clients.get(entry.client)
    context = offer_context(ctx, entry) if entry.offer else None
    return bus.Envelope(type=kind, payload=waitlist_payload(entry, client, context),
                        source="booking", city=ctx.city, correlation_id=correlation_id(),
                        occurred_at=ctx.clock.now().isoformat())


def offer_context(ctx: Context, entry: Entry) -> dict:
    """What the offer email says of the studio and the treatment."""
    described = ctx.availability.describe(entry.offer.studio, entry.treatment)
    studio, treatment = described.studio, described.treatment
    return {"studio": {"id": studio.id, "name": studio.name, "address": studio.address,
                       "timezone": studio.timezone},
            "treatment": {"id": treatment.id, "name": treatment.name},
            "therapist": {"id": entry.offer.therapist, "name": entry.offer.therapist_name}}

