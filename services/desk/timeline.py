"""The day view's timeline, as pure data: columns of 15 minutes over the studio's day,
one row per room or per therapist, bookings and holds as blocks, closed and off time
shaded. Built from what the public API answers (the studio's schedule and the
bookings the key sees); no Flask, no HTTP, so clock changes are unit-tested.

Columns step through real instants, not wall-clock times: on the day clocks go
forward the labels jump (00:45 -> 02:00), on the day they go back an hour repeats,
each with its zone's abbreviation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timezone
from zoneinfo import ZoneInfo

STEP_S = 15 * 60
DEFAULT_HOURS = (8, 20)  # shown when the studio is closed all day and nothing is booked
STATUS_SHOWN = ("pending", "confirmed", "completed", "no_show")  # cancelled frees its time


@dataclass(frozen=True)
class Column:
    instant: int
    label: str  # local HH:MM (with the zone on a clock-change day)
    on_the_hour: bool


@dataclass(frozen=True)
class Block:
    """Something taking a row's time: a booking the key sees, a hold, or time another
    partner's booking takes."""

    first: int  # column index
    span: int  # columns
    kind: str  # booking | held | taken
    start: str  # local HH:MM
    end: str
    title: str = ""
    detail: str = ""
    status: str = ""
    booking_id: str = ""


@dataclass(frozen=True)
class Row:
    id: str
    name: str
    closed: tuple[bool, ...]  # per column: shaded (closed, off shift, time off)
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Timeline:
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    clock_change: str  # e.g. "clocks go forward at 01:00 (to 02:00)"; empty on most days
    closures: tuple[str, ...] = ()  # why the studio is shut, e.g. "Closed 13:00–15:00: drains"


def instant(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def spans(items: list[dict]) -> list[tuple[int, int]]:
    return [(instant(item["start"]), instant(item["end"])) for item in items]


def build(schedule: dict, bookings: list[dict], by: str, treatments: dict[str, str]) -> Timeline:
    """The timeline of one studio-day; `by` is "room" or "therapist"."""
    zone = ZoneInfo(schedule["studio"]["timezone"])
    change = clock_change(zone, *spans([schedule["day"]])[0])
    columns = make_columns(zone, visible_range(schedule, bookings, zone, change), bool(change))
    blocks = day_blocks(schedule, bookings, treatments, columns, zone)
    rows = (room_rows if by == "room" else therapist_rows)(schedule, columns, blocks)
    return Timeline(columns, tuple(rows), change, closure_notes(schedule, zone))


def closure_notes(schedule: dict, zone: ZoneInfo) -> tuple[str, ...]:
    """Why the studio is shut this day (the shading alone does not say)."""
    day_start, day_end = spans([schedule["day"]])[0]
    notes = []
    for closure in schedule["closures"]:
        start, end = instant(closure["start"]), instant(closure["end"])
        when = ("all day" if start <= day_start and end >= day_end else
                f"{local_time(max(start, day_start), zone)}–{local_time(min(end, day_end), zone)}")
        reason = closure.get("reason") or ""
        notes.append(f"Closed {when}: {reason}" if reason else f"Closed {when}")
    return tuple(notes)


# Columns ----------------------------------------------------------------------------

def visible_range(schedule: dict, bookings: list[dict], zone: ZoneInfo,
                  change: str) -> tuple[int, int]:
    """Opening hours, shifts and bookings, whichever reach further; the whole day on a
    clock-change day, so the skipped or repeated hour shows."""
    day_start, day_end = spans([schedule["day"]])[0]
    if change:
        return day_start, day_end
    times = spans(schedule["open"]) + [s for t in schedule["therapists"]
                                       for s in spans(t["shifts"])]
    times += spans([b for b in bookings if b["status"] in STATUS_SHOWN])
    times += [(instant(t["start"]), instant(t["busy_until"])) for t in schedule["taken"]]
    if not times:
        local = datetime.fromtimestamp(day_start, zone)
        return (int(local.replace(hour=DEFAULT_HOURS[0]).timestamp()),
                int(local.replace(hour=DEFAULT_HOURS[1]).timestamp()))
    first = max(day_start, min(start for start, _ in times))
    last = min(day_end, max(end for _, end in times))
    return first - (first - day_start) % STEP_S, last


def make_columns(zone: ZoneInfo, shown: tuple[int, int], with_zone: bool) -> tuple[Column, ...]:
    columns = []
    for at in range(shown[0], shown[1], STEP_S):
        local = datetime.fromtimestamp(at, zone)
        label = local.strftime("%H:%M") + (f" {local.tzname()}" if with_zone else "")
        columns.append(Column(at, label, local.minute == 0))
    return tuple(columns)


def clock_change(zone: ZoneInfo, day_start: int, day_end: int) -> str:
    """How the clocks change on this day, in words; "" when they do not."""
    hours = (day_end - day_start) // 3600
    if hours == 24:
        return ""
    at = next(t for t in range(day_start, day_end, STEP_S)
              if utc_offset(zone, t) != utc_offset(zone, day_start))
    old, new = datetime.fromtimestamp(at - 1, zone), datetime.fromtimestamp(at, zone)
    when = datetime.fromtimestamp(at, timezone(old.utcoffset())).strftime("%H:%M")
    moved = "forward" if hours == 23 else "back"
    return (f"Clocks go {moved} at {when} {old.tzname()}, to {new:%H:%M} {new.tzname()} "
            f"(a {hours}-hour day)")


def utc_offset(zone: ZoneInfo, at: int):
    return datetime.fromtimestamp(at, zone).utcoffset()


def column_range(columns: tuple[Column, ...], start: int, end: int) -> tuple[int, int] | None:
    """(first column, number of columns) that [start, end) covers, if it shows at all."""
    if not columns or end <= columns[0].instant or start >= columns[-1].instant + STEP_S:
        return None
    first = max(0, (start - columns[0].instant) // STEP_S)
    last = min(len(columns), -(-(end - columns[0].instant) // STEP_S))
    return first, max(1, last - first)


def shaded(columns: tuple[Column, ...], open_spans: list[tuple[int, int]],
           closed_spans: list[tuple[int, int]]) -> tuple[bool, ...]:
    """Per column: outside every open span, or inside a closed one."""
    def inside(at: int, ranges: list[tuple[int, int]]) -> bool:
        return any(start <= at < end for start, end in ranges)

    return tuple(not inside(c.instant, open_spans) or inside(c.instant, closed_spans)
                 for c in columns)


# Blocks -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Placed:
    therapist: str
    room: str
    block: Block


def day_blocks(schedule: dict, bookings: list[dict], treatments: dict[str, str],
               columns: tuple[Column, ...], zone: ZoneInfo) -> list[Placed]:
    """The key's bookings as blocks, then the time taken that is none of them (holds,
    other partners' bookings) as anonymous blocks."""
    shown = [b for b in bookings if b["status"] in STATUS_SHOWN]
    placed = [p for b in shown if (p := booking_block(b, treatments, columns, zone))]
    mine = {(b["therapist"], b["room"], instant(b["start"])) for b in shown}
    for taken in schedule["taken"]:
        if (taken["therapist"], taken["room"], instant(taken["start"])) not in mine:
            placed += [p for p in [taken_block(taken, columns, zone)] if p]
    return placed


def booking_block(booking: dict, treatments: dict[str, str], columns: tuple[Column, ...],
                  zone: ZoneInfo) -> Placed | None:
    start, end = instant(booking["start"]), instant(booking["end"])
    where = column_range(columns, start, end)
    if where is None:
        return None
    name = treatments.get(booking["treatment"], booking["treatment"])
    extras = ", ".join(booking.get("addons") or [])
    block = Block(*where, "booking", local_time(start, zone), local_time(end, zone),
                  title=booking["customer"]["name"],
                  detail=f"{name} + {extras}" if extras else name,
                  status=booking["status"], booking_id=booking["id"])
    return Placed(booking["therapist"], booking["room"], block)


def taken_block(taken: dict, columns: tuple[Column, ...], zone: ZoneInfo) -> Placed | None:
    start, end = instant(taken["start"]), instant(taken["busy_until"])
    where = column_range(columns, start, end)
    if where is None:
        return None
    held = taken["kind"] == "held"
    block = Block(*where, "held" if held else "taken", local_time(start, zone),
                  local_time(end, zone), title="Held" if held else "Booked elsewhere",
                  detail="on hold while someone books" if held else "another partner's booking")
    return Placed(taken["therapist"], taken["room"], block)


def local_time(at: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(at, UTC).astimezone(zone).strftime("%H:%M")


# Rows -------------------------------------------------------------------------------

def closures(schedule: dict) -> list[tuple[int, int]]:
    return spans(schedule["closures"])


def room_rows(schedule: dict, columns: tuple[Column, ...], blocks: list[Placed]) -> list[Row]:
    closed = shaded(columns, spans(schedule["open"]), closures(schedule))
    return [Row(room["id"], room["name"], closed,
                tuple(p.block for p in blocks if p.room == room["id"]))
            for room in schedule["rooms"]]


def therapist_rows(schedule: dict, columns: tuple[Column, ...],
                   blocks: list[Placed]) -> list[Row]:
    """Everyone on shift that day, or with something booked."""
    busy = {p.therapist for p in blocks}
    return [Row(t["id"], t["name"],
                shaded(columns, spans(t["shifts"]), closures(schedule) + spans(t["time_off"])),
                tuple(p.block for p in blocks if p.therapist == t["id"]))
            for t in schedule["therapists"] if t["shifts"] or t["id"] in busy]
