"""Loads a city catalog file into the store (placeholder until the catalog lands)."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.common.service import Infra


def load_city_if_empty(infra: Infra, path: Path) -> list[str]:
    data = yaml.safe_load(Path(path).read_text()) if Path(path).exists() else {}
    return [studio["id"] for studio in (data or {}).get("studios", [])]
