"""Moving a city from one Redis to a Redis Cluster (`spa data export|import`,
services/common/transfer.py): a city made through the real booking app and stores on
the session's single Redis, exported, imported into a 6-node cluster of this module's
own, and read back there through the same stores and app."""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner, Result

from services import cli as spa
from services.availability.bootstrap import bootstrap as availability_bootstrap
from services.booking.app import create_app
from services.booking.bootstrap import bootstrap as booking_bootstrap
from services.common.auth import KeyStore
from services.common.config import Settings
from services.common.redis import connect, key
from services.common.service import Infra
from services.common.transfer import BATCH, TransferError, check_version
from services.common.vault import new_key
from tests.cluster import LocalCluster, node
from tests.helpers import ManualClock
from tests.integration.booking.availability import NOW, serving
from tests.integration.booking.support import START, Api, direct_booking

CITY = "london"
SOURCE_DB, PLAIN_DB = 3, 4  # databases of the session's Redis no other test uses
BROKER = "amqp://guest:guest@127.0.0.1:5672/unused"  # a cluster store must name RabbitMQ;
# export and import never connect to it
DATA_KEY = new_key()
LEGACY = f"spa:{CITY}:booking:legacy-note"  # a key named before hash tags


@dataclass(frozen=True)
class City:
    """The source city, made once, and its export."""

    source_url: str
    file: Path
    booking: dict
    hold: dict
    partner_key: str
    partner_id: str
    ttl_keys: dict[str, str]  # name -> type, each with a TTL


def spa_command(*args: str, redis_url: str, broker_url: str | None = None,
                city: str = CITY) -> Result:
    env = {"SPA_REDIS_URL": redis_url, "SPA_BROKER_URL": broker_url, "SPA_CITY": city}
    return CliRunner().invoke(spa.cli, list(args), obj=spa.COMPOSITION, env=env)


def db_url(redis_server, db: int) -> str:
    return redis_server.url.rsplit("/", 1)[0] + f"/{db}"


def settings_for(redis_url: str, broker_url: str, data_dir: Path) -> Settings:
    return Settings(redis_url=redis_url, broker_url=broker_url, city=CITY, data_dir=data_dir,
                    data_key=DATA_KEY, rpc_timeout_s=2.0, bus_retry_delays_s=(0.05, 0.1))


def booking_app(settings: Settings):
    return create_app({f.name: getattr(settings, f.name) for f in fields(settings)
                       if f.name != "extra"}, ManualClock.flowing_from(NOW))


@pytest.fixture(scope="module")
def city(redis_server, tmp_path_factory) -> City:
    """London on the single Redis (also its broker): the demo catalog, a partner, a
    booking and a hold made through the booking app, keys of other types with TTLs, a
    key of an older version's naming, and keys that must stay behind."""
    folder = tmp_path_factory.mktemp("transfer")
    url = db_url(redis_server, SOURCE_DB)
    client = connect(url)
    client.flushdb()
    settings = settings_for(url, "", folder / "spa")
    with serving(Infra.from_settings(settings)) as availability:
        availability.reset()
        partner_key = KeyStore(client, CITY).create("camden partner", "partner", ["camden"])
        partner = Api(booking_app(settings), partner_key)
        booked = partner.book(direct_booking())
        held = partner.post("/v1/holds", json={"studio": "camden", "treatment": "ashiatsu",
                                               "duration": 60,
                                               "start": START.replace("T10", "T14")})
    assert (booked.status_code, held.status_code) == (201, 201), (booked.json, held.json)
    ttl_keys = {key(CITY, "transfer", "list"): "list", key(CITY, "transfer", "zset"): "zset",
                key(CITY, "transfer", "string"): "string"}
    client.rpush(key(CITY, "transfer", "list"), "a", "b", "c")
    client.zadd(key(CITY, "transfer", "zset"), {"x": 1.5, "y": 2})
    client.set(key(CITY, "transfer", "string"), "é ☃ \x00 bytes")
    for name in ttl_keys:
        client.expire(name, 3600)
    client.set(LEGACY, "written before hash tags", ex=3600)
    with client.pipeline(transaction=False) as pipe:  # more keys than one batch moves
        for n in range(BATCH + 200):
            pipe.set(key(CITY, "transfer", "many", str(n)), n)
        pipe.execute()
    client.set(key("paris", "booking", "other-city"), "stays behind")
    partner_id = KeyStore(client, CITY).all_partners()[0].id
    file = folder / "london.jsonl"
    result = spa_command("data", "export", str(file), redis_url=url)
    assert result.exit_code == 0, result.output
    assert "(1 renamed under their hash tag first)" in result.output
    return City(url, file, booked.get_json(), held.get_json(), partner_key, partner_id,
                ttl_keys)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    started = LocalCluster(tmp_path_factory.mktemp("transfer-cluster"))
    try:
        started.start()
    except (OSError, RuntimeError, AssertionError, subprocess.SubprocessError) as error:
        started.stop()
        reason = f"the Redis Cluster could not start here: {error}"
        print(reason)
        pytest.skip(reason)
    yield started
    started.stop()


@pytest.fixture
def target(cluster) -> redis.Redis:
    client = connect(cluster.url)
    client.flushdb()  # every master
    return client


def exported_records(file: Path) -> list[dict]:
    return [json.loads(line) for line in file.read_text().splitlines()]


def test_the_export_holds_every_key_of_the_city_under_its_current_name(city):
    header, *records, end = exported_records(city.file)
    source = connect(city.source_url)
    names = {r["key"] for r in records}
    assert (header["format"], header["city"], end) == (
        "spa-data/1", CITY, {"end": True, "keys": len(records)})
    assert names == set(source.scan_iter(match="spa:{london:*")) and len(names) == len(records)
    assert key(CITY, "booking", "legacy-note") in names and LEGACY not in names
    assert all(n.startswith("spa:{london:") for n in names)  # not paris, not the broker's
    assert any(not n.startswith("spa:") for n in source.scan_iter())  # kombu's were there
    ttls = {r["key"]: r["pttl"] for r in records}
    assert all(0 < ttls[name] <= 3_600_000 for name in city.ttl_keys)
    assert ttls[key(CITY, "booking", "hold", city.hold["id"])] > 0


def test_a_city_moves_to_a_cluster_and_reads_back_through_its_stores(city, cluster, target,
                                                                     tmp_path):
    result = spa_command("data", "import", str(city.file), redis_url=cluster.url,
                         broker_url=BROKER)
    assert result.exit_code == 0, result.output
    count = len(exported_records(city.file)) - 2
    assert f"london: imported {count} key(s)" in result.output
    holding = [port for port in cluster.masters() if node(port).dbsize()]
    assert len(holding) >= 2, "the city's services' slots lie on more than one master"

    # Exported again at once from the cluster (a scan of every master): the same
    # keys and data (before a request touches its rate limit).
    again = tmp_path / "again.jsonl"
    assert spa_command("data", "export", str(again), redis_url=cluster.url,
                       broker_url=BROKER).exit_code == 0
    dumps = {r["key"]: r["dump"] for r in exported_records(again)[1:-1]}
    assert dumps == {r["key"]: r["dump"] for r in exported_records(city.file)[1:-1]}

    # Through the booking app on the cluster: the partner's key authenticates, and the
    # booking reads back whole, its sealed intake opened with the same data key.
    settings = settings_for(cluster.url, BROKER, tmp_path / "spa")
    partner = Api(booking_app(settings), city.partner_key)
    assert partner.get(f"/v1/bookings/{city.booking['id']}").get_json() == city.booking
    infra = Infra.from_settings(settings)
    bookings = booking_bootstrap(infra).store
    assert bookings.get(city.booking["id"]).customer.email == "ada@example.com"
    assert bookings.get_hold(city.hold["id"]).studio == "camden"
    reserved = availability_bootstrap(infra).store.reservations({"camden": (0, 2**32)})
    assert {r.booking_id for r in reserved} >= {city.booking["id"]}
    assert KeyStore(target, CITY).partner(city.partner_id).studios == ("camden",)

    # A TTL goes on from what it was at export time (the move's minutes are added).
    exported = {r["key"]: r["pttl"] for r in exported_records(city.file)[1:-1]}
    for name, kind in city.ttl_keys.items():
        assert target.type(name) == kind and exported[name] - 60_000 < target.pttl(name)
        assert target.pttl(name) <= exported[name]
    assert target.lrange(key(CITY, "transfer", "list"), 0, -1) == ["a", "b", "c"]
    assert target.get(key(CITY, "transfer", "string")) == "é ☃ \x00 bytes"
    assert target.pttl(key(CITY, "booking", "hold", city.hold["id"])) > 0
    assert target.get(key(CITY, "transfer", "many", str(BATCH + 199))) == str(BATCH + 199)


def test_a_second_import_refuses_and_writes_nothing(city, cluster, target):
    assert spa_command("data", "import", str(city.file), redis_url=cluster.url,
                       broker_url=BROKER).exit_code == 0
    gone, changed = key(CITY, "transfer", "list"), key(CITY, "transfer", "string")
    target.delete(gone)
    target.set(changed, "changed on the cluster")

    refused = spa_command("data", "import", str(city.file), redis_url=cluster.url,
                          broker_url=BROKER)
    assert refused.exit_code != 0
    assert "already exist in the target" in refused.output and "spa:{london:" in refused.output
    assert "nothing was written" in refused.output
    assert not target.exists(gone) and target.get(changed) == "changed on the cluster"

    replaced = spa_command("data", "import", str(city.file), "--replace",
                           redis_url=cluster.url, broker_url=BROKER)
    assert replaced.exit_code == 0, replaced.output
    assert target.lrange(gone, 0, -1) == ["a", "b", "c"]
    assert target.get(changed) == "é ☃ \x00 bytes"


def test_a_plain_redis_takes_the_file_too_and_a_cut_file_is_refused(city, redis_server,
                                                                   tmp_path):
    url = db_url(redis_server, PLAIN_DB)
    plain = connect(url)
    plain.flushdb()
    lines = city.file.read_text().splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[:-1]))  # no end line: the export did not finish

    refused = spa_command("data", "import", str(cut), redis_url=url)
    assert refused.exit_code != 0 and "incomplete" in refused.output
    assert plain.dbsize() == 0

    result = spa_command("data", "import", str(city.file), redis_url=url)
    assert result.exit_code == 0, result.output
    assert plain.dbsize() == len(lines) - 2
    assert booking_bootstrap(Infra.from_settings(settings_for(url, "", tmp_path))).store.get(
        city.booking["id"]) is not None
    plain.flushdb()


def test_a_file_of_another_city_is_refused(city, redis_server):
    url = db_url(redis_server, PLAIN_DB)
    plain = connect(url)
    plain.flushdb()
    refused = spa_command("data", "import", str(city.file), redis_url=url, city="new-york")
    assert refused.exit_code != 0
    assert "holds the city 'london', and SPA_CITY is 'new-york'" in refused.output
    assert plain.dbsize() == 0


def test_a_target_older_than_the_source_is_refused():
    check_version("6.2.6", "7.2.4")
    check_version("7.2.0", "7.2.5")
    for source, target in (("7.0.15", "6.2.6"), ("7.2.4", "7.0.15")):
        with pytest.raises(TransferError, match=f"the file comes from Redis {source}"):
            check_version(source, target)


def test_a_file_that_is_not_an_export_is_refused(redis_server, tmp_path):
    bogus = tmp_path / "bogus.jsonl"
    bogus.write_text(json.dumps({"hello": str(uuid.uuid4())}) + "\n")
    result = spa_command("data", "import", str(bogus), redis_url=db_url(redis_server, PLAIN_DB))
    assert result.exit_code != 0 and "is not a `spa data export` file" in result.output
