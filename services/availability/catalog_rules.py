"""The rules across a city catalog's entries: ids unique, references and vocabularies
known, shifts inside opening hours and never overlapping, a price per duration, in
whole minor units of the city's currency.

Pure: entries come in as domain dataclasses (loaded by schemas.py from a city file,
the stored copy or an admin's body) and problems come out, each naming its entry and
field, so a whole file's mistakes are reported at once. catalog_loader.py does the
reading and writing around these rules; they run again on every admin change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

from services.availability.domain import (
    KINDS,
    WEEKDAYS,
    Catalog,
    City,
    Shift,
    Studio,
    Therapist,
    Treatment,
)
from services.common.money import minor_unit


@dataclass(frozen=True)
class Problem:
    entry: str  # e.g. "rooms[camden-bars]"
    field: str  # e.g. "equipment"
    message: str

    def __str__(self) -> str:
        return f"{self.entry}: {self.field}: {self.message}"


class CatalogError(Exception):
    def __init__(self, source: str, problems: list[Problem]):
        self.source, self.problems = source, problems
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


def assemble(city: City, equipment: frozenset[str], skills: frozenset[str],
             entries: dict[str, list]) -> tuple[Catalog, list[Problem]]:
    """Entries keyed by id (a missing or repeated id is a problem), each told its
    city: studios their city and currency, treatments the currency of their prices."""
    problems, tables = [], {}
    for kind in KINDS:
        tables[kind] = {}
        for number, entry in enumerate(entries.get(kind, []), 1):
            if not entry.id:
                problems.append(Problem(f"{kind}[#{number}]", "id", "missing"))
            elif entry.id in tables[kind]:
                problems.append(Problem(f"{kind}[{entry.id}]", "id",
                                        f"duplicate id (entry #{number})"))
            else:
                tables[kind][entry.id] = entry
    tables["studios"] = {i: replace(s, city=city.id, currency=city.currency)
                         for i, s in tables["studios"].items()}
    tables["treatments"] = {i: replace(t, currency=city.currency)
                            for i, t in tables["treatments"].items()}
    tables["addons"] = {i: replace(a, currency=city.currency)
                        for i, a in tables["addons"].items()}
    return Catalog(city, equipment, skills, **tables), problems


def check(catalog: Catalog) -> list[Problem]:
    return [*check_rooms(catalog), *check_therapists(catalog), *check_addons(catalog),
            *check_treatments(catalog), *check_prices(catalog)]


def check_rooms(catalog: Catalog) -> list[Problem]:
    problems = []
    for room in catalog.rooms.values():
        entry = f"rooms[{room.id}]"
        if room.studio not in catalog.studios:
            problems.append(Problem(entry, "studio", unknown_studio(room.studio, catalog)))
        problems += unknown_names(entry, "equipment", room.equipment, catalog.equipment)
    return problems


def check_therapists(catalog: Catalog) -> list[Problem]:
    problems = []
    for therapist in catalog.therapists.values():
        entry = f"therapists[{therapist.id}]"
        problems += unknown_names(entry, "skills", therapist.skills, catalog.skills)
        problems += [Problem(entry, "shifts", message)
                     for message in shift_mistakes(therapist, catalog)]
    return problems


def shift_mistakes(therapist: Therapist, catalog: Catalog) -> list[str]:
    mistakes = []
    for n, shift in enumerate(therapist.shifts, 1):
        studio = catalog.studios.get(shift.studio)
        if studio is None:
            mistakes.append(f"#{n}: {unknown_studio(shift.studio, catalog)}")
        else:
            mistakes += [f"#{n}: {message}" for message in outside_hours(shift, studio)]
    return mistakes + overlapping_shifts(therapist)


def outside_hours(shift: Shift, studio: Studio) -> list[str]:
    return [f"{WEEKDAYS[day]} {shift.hours} is outside {studio.id}'s opening hours "
            f"({', '.join(map(str, studio.opening_hours.get(day, ()))) or 'closed'})"
            for day in sorted(shift.days)
            if not any(h.contains(shift.hours) for h in studio.opening_hours.get(day, ()))]


def overlapping_shifts(therapist: Therapist) -> list[str]:
    """One person works one place at a time: this is also why each studio's ledger
    can check a therapist on its own."""
    mistakes, shifts = [], therapist.shifts
    for i, a in enumerate(shifts):
        for j, b in enumerate(shifts[i + 1:], i + 2):
            if a.days & b.days and a.hours.start < b.hours.end and b.hours.start < a.hours.end:
                mistakes.append(f"#{i + 1} and #{j} overlap")
    return mistakes


def check_treatments(catalog: Catalog) -> list[Problem]:
    problems = []
    for treatment in catalog.treatments.values():
        entry, requires = f"treatments[{treatment.id}]", treatment.requires
        problems += unknown_names(entry, "requires.skill", {requires.skill}, catalog.skills)
        problems += unknown_names(entry, "requires.equipment", requires.equipment,
                                  catalog.equipment)
        if set(treatment.prices) != set(treatment.durations_min):
            problems.append(Problem(entry, "prices", "give exactly one price per duration "
                                    f"{sorted(treatment.durations_min)}"))
        problems += addon_mistakes(entry, treatment, catalog)
    return problems


def check_addons(catalog: Catalog) -> list[Problem]:
    problems = []
    for addon in catalog.addons.values():
        entry, requires = f"addons[{addon.id}]", addon.requires
        if requires.skill is not None:
            problems += unknown_names(entry, "requires.skill", {requires.skill},
                                      catalog.skills)
        problems += unknown_names(entry, "requires.equipment", requires.equipment,
                                  catalog.equipment)
    return problems


def check_prices(catalog: Catalog) -> list[Problem]:
    """No price finer than the city currency's minor unit (no fraction of a yen): a
    price is never rounded behind the admin's back."""
    currency, problems = catalog.city.currency, []
    for treatment in catalog.treatments.values():
        problems += finer_than(currency, f"treatments[{treatment.id}]", "prices",
                               treatment.prices.values())
    for addon in catalog.addons.values():
        field, amounts = (("prices", addon.prices.values()) if addon.price is None
                          else ("price", [addon.price]))
        problems += finer_than(currency, f"addons[{addon.id}]", field, amounts)
    return problems


def finer_than(currency: str, entry: str, field: str,
               amounts: Iterable[Decimal]) -> list[Problem]:
    unit = minor_unit(currency)
    return [Problem(entry, field, f"{amount} is finer than the {currency} minor unit ({unit})")
            for amount in amounts if amount != amount.quantize(unit)]


def addon_mistakes(entry: str, treatment: Treatment, catalog: Catalog) -> list[Problem]:
    """The treatment's add-ons exist and, priced per length, have a price for each of
    its lengths."""
    problems = []
    for ident in treatment.addons:
        addon = catalog.addons.get(ident)
        if addon is None:
            known = ", ".join(catalog.addons) or "none"
            problems.append(Problem(entry, "addons", f"unknown add-on {ident!r} (known: {known})"))
        elif addon.price is None and (missing := set(treatment.durations_min) - set(addon.prices)):
            problems.append(Problem(entry, "addons", (
                f"add-on {ident!r} has no price for {', '.join(map(str, sorted(missing)))} "
                "minutes")))
    return problems


def unknown_names(entry: str, field: str, names: frozenset[str] | set[str],
                  known: frozenset[str]) -> list[Problem]:
    return [Problem(entry, field, f"unknown name {name!r} (known: {', '.join(sorted(known))})")
            for name in sorted(names - known)]


def unknown_studio(ident: str, catalog: Catalog) -> str:
    return f"unknown studio {ident!r} (known: {', '.join(catalog.studios)})"


def wrong_city(source: str, catalog: Catalog, city: str) -> CatalogError | None:
    """A city file for another city than this deployment's, or None."""
    if catalog.city.id == city:
        return None
    return CatalogError(source, [Problem("city", "id", (
        f"this file is for {catalog.city.id!r} but SPA_CITY is {city!r}"))])
