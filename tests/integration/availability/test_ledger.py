"""Hold, confirm and release against a real Redis, as booking uses them."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest

from services.availability import queues
from services.availability.bootstrap import bootstrap
from services.availability.commands import SearchSlots
from services.availability.domain import Absence
from services.availability.handlers import catalog_admin, queries
from services.common.auth import Principal
from services.common.errors import SpaError
from tests.integration.availability.support import DAY, hold_params


def refusal(call, params) -> SpaError:
    with pytest.raises(SpaError) as caught:
        call(params)
    return caught.value


def slot_starts(ctx, treatment="ashiatsu", therapist=None) -> list[str]:
    day = date.fromisoformat(DAY)
    search = SearchSlots(treatment, 60, day, day, "camden", therapist)
    admin = Principal("test", "admin")
    found = json.loads(queries.search_slots(ctx, admin, search))["items"]
    return [slot["start"][11:16] for slot in found]


def test_a_hold_names_its_therapist_room_price_and_expiry(rpc, clock):
    held = rpc["hold"](hold_params())
    assert held["therapist"] == {"id": "maya", "name": "Maya Okafor"}
    assert held["room"] == {"id": "camden-bars", "name": "Ashiatsu room"}
    assert held["price"] == {"amount": "95.00", "currency": "GBP"}
    assert held["end"] == f"{DAY}T11:00:00+00:00"
    assert held["expires_at"] == "2027-01-04T09:10:00+00:00"  # the default 10 min


def test_a_held_slot_is_gone_from_the_search_until_released(rpc, ctx):
    held = rpc["hold"](hold_params())
    assert "10:00" not in slot_starts(ctx)
    assert rpc["release"]({"hold_id": held["hold_id"]}) == {"hold_id": held["hold_id"],
                                                            "released": True}
    assert "10:00" in slot_starts(ctx)


def test_the_one_bars_room_cannot_be_held_twice(rpc):
    rpc["hold"](hold_params(therapist="maya"))
    overlapping = hold_params(start=f"{DAY}T10:30:00+00:00")  # in the cleanup of the first
    assert refusal(rpc["hold"], overlapping).code == "slot_unavailable"
    assert refusal(rpc["hold"], overlapping).code == "slot_unavailable"


def test_a_hold_after_the_cleanup_buffer_fits(rpc):
    rpc["hold"](hold_params())
    assert rpc["hold"](hold_params(start=f"{DAY}T11:15:00+00:00"))["room"]["id"] == "camden-bars"


def test_a_retried_hold_with_the_same_id_returns_the_same_hold(rpc):
    first = rpc["hold"](hold_params(hold_id="hold-retry-1"))
    again = rpc["hold"](hold_params(hold_id="hold-retry-1"))
    assert again == first


def test_confirm_is_a_no_op_for_the_same_booking_and_refused_for_another(rpc):
    held = rpc["hold"](hold_params())
    confirm = {"hold_id": held["hold_id"], "booking_id": "bk-1"}
    assert rpc["confirm"](confirm) == {**confirm, "status": "confirmed"}
    assert rpc["confirm"](confirm)["status"] == "confirmed"
    other = refusal(rpc["confirm"], {**confirm, "booking_id": "bk-2"})
    assert other.code == "slot_unavailable"


def test_an_expired_hold_frees_its_time_with_no_timer(rpc, ctx, clock):
    held = rpc["hold"](hold_params(ttl_s=60))
    clock.advance(seconds=61)
    assert "10:00" in slot_starts(ctx)
    late = refusal(rpc["confirm"], {"hold_id": held["hold_id"], "booking_id": "bk-late"})
    assert late.code == "hold_expired"
    assert rpc["hold"](hold_params())["hold_id"] != held["hold_id"]


def test_a_confirmed_reservation_never_expires(rpc, ctx, clock):
    held = rpc["hold"](hold_params(ttl_s=60))
    rpc["confirm"]({"hold_id": held["hold_id"], "booking_id": "bk-1"})
    clock.advance(seconds=3600)
    assert "10:00" not in slot_starts(ctx)


def test_release_frees_a_confirmed_reservation_and_is_idempotent(rpc, ctx):
    held = rpc["hold"](hold_params())
    rpc["confirm"]({"hold_id": held["hold_id"], "booking_id": "bk-1"})
    assert rpc["release"]({"hold_id": held["hold_id"]})["released"] is True
    assert rpc["release"]({"hold_id": held["hold_id"]})["released"] is False
    assert rpc["release"]({"hold_id": "never-held"})["released"] is False
    assert "10:00" in slot_starts(ctx)


def test_a_reschedule_holds_the_new_time_before_freeing_the_old(rpc, ctx):
    old = rpc["hold"](hold_params())
    rpc["confirm"]({"hold_id": old["hold_id"], "booking_id": "bk-1"})
    new = rpc["hold"](hold_params(start=f"{DAY}T13:00:00+00:00"))
    rpc["confirm"]({"hold_id": new["hold_id"], "booking_id": "bk-1"})
    rpc["release"]({"hold_id": old["hold_id"]})
    starts = slot_starts(ctx)
    assert "10:00" in starts and "13:00" not in starts


def test_unknown_ids_and_bad_params_are_refused_with_their_status(rpc):
    assert refusal(rpc["hold"], hold_params(studio="nowhere")).code == "not_found"
    assert refusal(rpc["hold"], hold_params(therapist="nobody")).code == "not_found"
    assert refusal(rpc["confirm"], {"hold_id": "nope", "booking_id": "b"}).code == (
        "not_found")
    bad = refusal(rpc["hold"], hold_params(duration=45, start="10am"))
    assert bad.code == "validation_error"
    assert set(bad.extra["errors"]) == {"start"}  # shapes first; duration is checked next
    assert "duration" in refusal(rpc["hold"], hold_params(duration=45)).extra["errors"]
    off_grid = refusal(rpc["hold"], hold_params(start=f"{DAY}T10:05:00+00:00"))
    assert "grid" in off_grid.extra["errors"]["start"][0]


def test_a_start_in_the_past_is_refused(rpc):
    assert "past" in refusal(rpc["hold"], hold_params(start="2027-01-04T08:00:00+00:00")
                             ).extra["errors"]["start"][0]


def test_describe_gives_the_studio_treatment_and_safe_alternatives(rpc):
    described = rpc["describe"]({"studio": "camden", "treatment": "ashiatsu"})
    assert described["studio"]["currency"] == "GBP"
    assert described["studio"]["cancellation"] == {
        "free_until_h": 24, "late_fee_percent": 50, "no_show_fee_percent": 100}
    assert described["treatment"]["intake_required"] is True
    assert described["treatment"]["no_food_before_min"] == 180
    assert described["alternatives"] == [{"id": "relaxation", "name": "Relaxation massage"}]


def test_a_repeated_search_sees_every_write_expiry_and_catalog_change(rpc, ctx, infra, clock):
    assert "10:00" in slot_starts(ctx)  # computed, and kept for the next time
    elsewhere = queues.methods(bootstrap(infra, clock))  # another worker process
    elsewhere["hold"](hold_params(ttl_s=60))
    assert "10:00" not in slot_starts(ctx)
    clock.advance(seconds=61)
    assert "10:00" in slot_starts(ctx)
    day = date.fromisoformat(DAY)
    catalog_admin.add_time_off(bootstrap(infra, clock), "maya", Absence(day, day))
    assert slot_starts(ctx, therapist="maya") == []


def test_a_hold_decided_on_a_catalog_changed_meanwhile_is_decided_again(
        rpc, ctx, infra, clock, monkeypatch):
    """Time off lands between the hold's catalog read and its script: no hold for maya."""
    read_before_the_change = ctx.versioned_catalog()
    day = date.fromisoformat(DAY)
    catalog_admin.add_time_off(bootstrap(infra, clock), "maya", Absence(day, day))
    reads = iter([read_before_the_change])
    fresh = ctx.versioned_catalog
    monkeypatch.setattr(ctx, "versioned_catalog", lambda: next(reads, None) or fresh())
    assert refusal(rpc["hold"], hold_params(therapist="maya")).code == "slot_unavailable"
    assert ctx.store.reservations({"camden": (0, 2**40)}) == []


def test_the_hold_script_refuses_a_catalog_version_older_than_the_studios(rpc, ctx, infra,
                                                                         clock):
    held = rpc["hold"](hold_params())
    reservation = ctx.store.find("camden", held["hold_id"])
    old_version = ctx.versioned_catalog()[0]
    day = date.fromisoformat(DAY)
    catalog_admin.add_closure(bootstrap(infra, clock), "islington", Absence(day, day))
    later = replace(reservation, hold_id="h-later", start=reservation.start + 7200,
                    end=reservation.end + 7200, busy_until=reservation.busy_until + 7200)
    assert ctx.store.hold(later, ctx.now(), old_version) == ("stale", None)
    assert ctx.store.hold(later, ctx.now(), old_version + 1)[0] == "held"


def test_a_start_years_ahead_is_refused(rpc):
    """2199-01-06 is a Tuesday on the grid, inside the hours: only its distance refuses it."""
    far = refusal(rpc["hold"], hold_params(start="2199-01-06T10:00:00+00:00"))
    assert far.code == "outside_booking_window"
    assert far.extra == {"earliest": "2027-01-04T11:00:00+00:00",  # 2 hours' notice
                         "latest": "2027-03-05T09:00:00+00:00"}  # 60 days ahead
