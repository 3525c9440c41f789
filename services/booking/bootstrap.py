"""Wires one process's dependencies once (cosmicpython's bootstrap)."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.service import Infra


@dataclass
class Context:
    infra: Infra


def bootstrap(infra: Infra) -> Context:
    return Context(infra)
