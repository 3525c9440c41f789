"""Many processes racing for the same therapist and room time: the Lua script lets
exactly one win, and never two overlapping intervals."""

from __future__ import annotations

import itertools
import multiprocessing
from datetime import datetime

from services.availability import queues
from services.availability.bootstrap import bootstrap
from services.common.config import Settings
from services.common.errors import SpaError
from services.common.service import Infra
from tests.helpers import ManualClock
from tests.integration.availability.support import DAY, NOW, hold_params

RACERS = 64


def race(settings: Settings, params: dict, barrier, results) -> None:
    """One racer: its own process, connections and context, like a second worker."""
    hold = queues.methods(bootstrap(Infra.from_settings(settings), ManualClock(NOW)))["hold"]
    barrier.wait(timeout=60)
    try:
        results.put(hold(params))
    except SpaError as error:
        results.put(error.code)


def run_race(settings: Settings, params_for) -> list:
    mp = multiprocessing.get_context("fork")
    barrier, results = mp.Barrier(RACERS), mp.Queue()
    racers = [mp.Process(target=race, args=(settings, params_for(n), barrier, results))
              for n in range(RACERS)]
    for racer in racers:
        racer.start()
    outcomes = [results.get(timeout=60) for _ in racers]
    for racer in racers:
        racer.join(timeout=10)
    return outcomes


def test_64_processes_holding_the_same_time_exactly_one_wins(settings, infra):
    outcomes = run_race(settings, lambda n: hold_params(therapist="maya"))
    wins = [o for o in outcomes if isinstance(o, dict)]
    assert len(wins) == 1
    assert outcomes.count("slot_unavailable") == RACERS - 1


def test_overlapping_but_different_intervals_never_both_win(settings, infra):
    def staggered(n: int) -> dict:  # 16 starts 15 min apart, 75 min each with cleanup
        minute = 8 * 60 + (n % 16) * 15
        return hold_params(start=f"{DAY}T{minute // 60:02}:{minute % 60:02}:00+00:00")

    wins = [o for o in run_race(settings, staggered) if isinstance(o, dict)]
    spans = sorted((instant(w["start"]), instant(w["end"]) + 15 * 60) for w in wins)
    assert wins  # the bars room is the only one: every win must be disjoint from the rest
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))


def instant(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()
