"""`spa catalog check|load`, as an operator runs them."""

from __future__ import annotations

import yaml
from click.testing import CliRunner

from services.availability.cli import catalog
from tests.integration.availability.support import hold_params
from tests.unit.availability.catalogs import LONDON_FILE, NEW_YORK_FILE


def run(args: list[str], settings) -> object:
    env = {"SPA_REDIS_URL": settings.redis_url, "SPA_BROKER_URL": settings.broker,
           "SPA_CITY": settings.city}
    return CliRunner().invoke(catalog, args, env=env)


def test_check_names_every_mistake_and_exits_nonzero(tmp_path, settings):
    doc = yaml.safe_load(LONDON_FILE.read_text())
    doc["rooms"][0]["equipment"] = ["bars"]
    path = tmp_path / "london.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = run(["check", str(path)], settings)
    assert result.exit_code == 1
    assert "london.yaml: rooms[camden-bars]: equipment: unknown name 'bars'" in result.output


def test_load_replaces_the_catalog(tmp_path, settings, infra, ctx):
    doc = yaml.safe_load(LONDON_FILE.read_text())
    doc["studios"][1]["name"] = "Islington Yoga"
    path = tmp_path / "london.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert run(["load", str(path)], settings).exit_code == 0
    assert ctx.catalog().studios["islington"].name == "Islington Yoga"


def test_load_refuses_another_city_and_a_catalog_that_strands_a_booking(
        tmp_path, settings, infra, rpc):
    assert "SPA_CITY is 'london'" in run(["load", str(NEW_YORK_FILE)], settings).output
    held = rpc["hold"](hold_params())
    rpc["confirm"]({"hold_id": held["hold_id"], "booking_id": "bk-kept"})
    doc = yaml.safe_load(LONDON_FILE.read_text())
    doc["rooms"] = doc["rooms"][1:]  # no bars room any more
    path = tmp_path / "london.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = run(["load", str(path)], settings)
    assert result.exit_code == 1 and "bk-kept" in result.output
