"""The day view's timeline from API answers: positions, rows, shading, clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.desk.timeline import build

LONDON = ZoneInfo("Europe/London")


def at(day: str, clock: str) -> str:
    """A London wall-clock time as the API writes instants (UTC)."""
    local = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=LONDON)
    return local.astimezone(UTC).isoformat()


def span(day: str, start: str, end: str) -> dict:
    return {"start": at(day, start), "end": at(day, end)}


def schedule(day: str, opening=("09:00", "18:00"), taken=(), time_off=(), closures=()) -> dict:
    first = date.fromisoformat(day)
    midnight = datetime.combine(first, datetime.min.time(), LONDON)
    next_midnight = datetime.combine(first + timedelta(days=1), datetime.min.time(), LONDON)
    return {
        "studio": {"id": "camden", "timezone": "Europe/London"},
        "day": {"start": midnight.astimezone(UTC).isoformat(),
                "end": next_midnight.astimezone(UTC).isoformat()},
        "open": [span(day, *opening)] if opening else [],
        "closures": list(closures),
        "rooms": [{"id": "bars", "name": "Bars room"}, {"id": "one", "name": "Room one"}],
        "therapists": [
            {"id": "maya", "name": "Maya", "shifts": [span(day, "09:00", "13:00")],
             "time_off": list(time_off)},
            {"id": "jonas", "name": "Jonas", "shifts": [], "time_off": []},
        ],
        "taken": list(taken),
    }


def booking(day: str, start: str, end: str, status: str = "confirmed", **changes) -> dict:
    return {"id": f"bk-{start}", "status": status, "treatment": "ashiatsu", "addons": [],
            "customer": {"name": "Ada Lovelace"}, "therapist": "maya", "room": "bars",
            **span(day, start, end), **changes}


def taken(day: str, start: str, end: str, kind: str = "booked", therapist: str = "maya",
          room: str = "bars") -> dict:
    return {"therapist": therapist, "room": room, "start": at(day, start),
            "busy_until": at(day, end), "end": at(day, end), "kind": kind}


NAMES = {"ashiatsu": "Ashiatsu"}
DAY = "2027-01-05"


def test_the_day_runs_from_opening_to_closing_in_quarter_hours():
    timeline = build(schedule(DAY), [], "room", NAMES)
    assert timeline.columns[0].label == "09:00" and timeline.columns[-1].label == "17:45"
    assert len(timeline.columns) == 36 and timeline.clock_change == ""
    assert [row.name for row in timeline.rows] == ["Bars room", "Room one"]


def test_a_booking_sits_in_its_room_at_its_time_with_client_and_treatment():
    mine = booking(DAY, "10:00", "11:00", addons=["aromatherapy-oil"])
    timeline = build(schedule(DAY, taken=[taken(DAY, "10:00", "11:15")]), [mine], "room", NAMES)
    bars, one = timeline.rows
    (block,) = bars.blocks
    assert (block.first, block.span) == (4, 4)  # 10:00 is the fifth quarter after 09:00
    assert (block.kind, block.start, block.end, block.title) == (
        "booking", "10:00", "11:00", "Ada Lovelace")
    assert block.detail == "Ashiatsu + aromatherapy-oil" and block.booking_id == "bk-10:00"
    assert one.blocks == ()  # the ledger's entry for it is not shown twice


def test_time_the_key_cannot_see_is_shown_as_held_or_booked_elsewhere():
    day = schedule(DAY, taken=[taken(DAY, "12:00", "13:15", "held", room="one"),
                               taken(DAY, "14:00", "15:00", "booked", room="one")])
    _, one = build(day, [], "room", NAMES).rows
    assert [(b.kind, b.start, b.end, b.booking_id) for b in one.blocks] == [
        ("held", "12:00", "13:15", ""), ("taken", "14:00", "15:00", "")]


def test_a_cancelled_booking_leaves_the_timeline():
    timeline = build(schedule(DAY), [booking(DAY, "10:00", "11:00", "cancelled")], "room", NAMES)
    assert all(row.blocks == () for row in timeline.rows)


def test_rows_by_therapist_shade_outside_the_shift_and_during_time_off():
    day = schedule(DAY, time_off=[span(DAY, "11:00", "12:00")])
    (maya,) = build(day, [], "therapist", NAMES).rows  # jonas has no shift and no booking
    labels = build(day, [], "therapist", NAMES).columns
    shaded = {c.label for c, closed in zip(labels, maya.closed, strict=True) if closed}
    assert "09:00" not in shaded and "10:45" not in shaded
    assert {"11:00", "11:45", "13:00", "17:45"} <= shaded and "12:00" not in shaded


def test_a_closure_shades_every_room():
    day = schedule(DAY, closures=[{**span(DAY, "15:00", "16:00"), "reason": "drains"}])
    for row in build(day, [], "room", NAMES).rows:
        columns = build(day, [], "room", NAMES).columns
        assert [c.label for c, closed in zip(columns, row.closed, strict=True) if closed] == [
            "15:00", "15:15", "15:30", "15:45"]


def test_a_booking_outside_the_opening_hours_widens_the_day():
    late = booking(DAY, "19:00", "20:00")
    timeline = build(schedule(DAY), [late], "room", NAMES)
    assert timeline.columns[-1].label == "19:45"


def test_spring_forward_shows_the_missing_hour_as_a_jump():
    day = "2027-03-28"  # clocks go from 01:00 GMT to 02:00 BST
    timeline = build(schedule(day), [], "room", NAMES)
    labels = [c.label for c in timeline.columns]
    assert len(labels) == 23 * 4  # the whole 23-hour day shows
    assert labels[3:5] == ["00:45 GMT", "02:00 BST"]
    assert not any(label.startswith("01:") for label in labels)
    assert timeline.clock_change.startswith("Clocks go forward at 01:00 GMT, to 02:00 BST")


def test_fall_back_shows_the_repeated_hour_twice():
    day = "2027-10-31"  # clocks go from 02:00 BST back to 01:00 GMT
    booked = booking(day, "10:00", "11:00")
    timeline = build(schedule(day), [booked], "room", NAMES)
    labels = [c.label for c in timeline.columns]
    assert len(labels) == 25 * 4
    assert labels.count("01:00 BST") == 1 and labels.count("01:00 GMT") == 1
    assert labels.index("01:00 GMT") == labels.index("01:00 BST") + 4
    (block,) = timeline.rows[0].blocks
    assert labels[block.first] == "10:00 GMT" and block.start == "10:00"
    assert "Clocks go back at 02:00 BST, to 01:00 GMT" in timeline.clock_change


def test_a_closure_says_why_the_studio_is_shut():
    part = {**span(DAY, "15:00", "16:00"), "reason": "drains"}
    assert build(schedule(DAY, closures=[part]), [], "room", NAMES).closures == (
        "Closed 15:00–16:00: drains",)
    day = schedule(DAY, opening=None, closures=[{**span(DAY, "00:00", "00:00"),
                                                 "end": at("2027-01-06", "00:00")}])
    assert build(day, [], "room", NAMES).closures == ("Closed all day",)
    assert build(schedule(DAY), [], "room", NAMES).closures == ()
