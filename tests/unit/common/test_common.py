"""Pure pieces of services/common: settings, error flattening, scopes, envelopes."""

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from marshmallow import ValidationError

from services.common.auth import Principal
from services.common.bus import (
    BROKER_HEARTBEAT_S,
    Envelope,
    Periodic,
    broker_connection,
    envelope_from_body,
    envelope_to_body,
)
from services.common.cli import cli
from services.common.config import Settings, SettingsError, load_settings
from services.common.devstack import operator_settings
from services.common.errors import NotFound
from services.common.http import field_errors
from services.common.service import Infra


def test_settings_come_from_spa_variables(monkeypatch):
    monkeypatch.setenv("SPA_REDIS_URL", "redis://example:6380/2")
    monkeypatch.setenv("SPA_CITY", "new-york")
    monkeypatch.setenv("SPA_BUS_RETRY_DELAYS_S", "0.5, 2")
    monkeypatch.setenv("SPA_WEBHOOK_ALLOW_PRIVATE", "1")
    settings = load_settings()
    assert settings.redis_url == "redis://example:6380/2"
    assert settings.city == "new-york"
    assert settings.bus_retry_delays_s == (0.5, 2.0)
    assert settings.webhook_allow_private is True


def test_the_broker_defaults_to_the_redis_url():
    assert Settings(redis_url="redis://r:1/0").broker == "redis://r:1/0"
    assert Settings(broker_url="amqp://b//").broker == "amqp://b//"


CLUSTER = "redis+cluster://10.0.0.1:7000,10.0.0.2:7000"
REFUSED = "a Redis Cluster store needs RabbitMQ as the broker: set SPA_BROKER_URL=amqp://"


@pytest.mark.parametrize("broker_url", ["", "redis://10.0.0.3:6379/0"])
def test_a_redis_cluster_store_refuses_a_redis_broker(broker_url):
    with pytest.raises(SettingsError, match=REFUSED):
        Settings(redis_url=CLUSTER, broker_url=broker_url).check()


@pytest.mark.parametrize("settings", [
    Settings(redis_url=CLUSTER, broker_url="amqp://guest:guest@rabbit:5672//"),
    Settings(redis_url=CLUSTER, broker_url="amqps://a//;amqps://b//"),
    Settings(redis_url="redis://r:1/0"),
    Settings(redis_url="redis://r:1/0", broker_url="amqp://b//"),
])
def test_other_stores_and_brokers_pass_the_check(settings):
    assert settings.check() is settings


def test_apps_workers_and_commands_refuse_it_before_connecting(monkeypatch):
    """Infra.from_settings is where every app and worker starts; the `spa` group
    says it without a traceback, whatever the command."""
    with pytest.raises(SettingsError, match=REFUSED):
        Infra.from_settings(Settings(redis_url=CLUSTER))
    monkeypatch.setenv("SPA_REDIS_URL", CLUSTER)
    monkeypatch.delenv("SPA_BROKER_URL", raising=False)
    result = CliRunner().invoke(cli, ["partners", "list"])
    assert result.exit_code == 1
    assert f"Error: {REFUSED}" in result.output


def test_a_broker_url_lists_rabbitmq_nodes_to_fail_over_to():
    """Each node tried once per connect, each given the whole timeout; heartbeats and
    publisher confirms on RabbitMQ only."""
    connection = broker_connection("amqp://g:g@h1:5672/v;amqp://g:g@h2:5672/v", timeout_s=2)
    assert (connection.hostname, connection.alt) == (
        "h1", ["amqp://g:g@h1:5672/v", "amqp://g:g@h2:5672/v"])
    assert connection.transport_options | {"max_retries": 1, "connect_retries_timeout": 4,
                                           "confirm_publish": True} == \
        connection.transport_options
    assert connection.heartbeat == BROKER_HEARTBEAT_S
    on_redis = broker_connection("redis://r:1/0")
    assert on_redis.heartbeat == 0 and "confirm_publish" not in on_redis.transport_options


def test_app_factory_overrides_replace_known_settings_and_keep_the_rest():
    settings = Settings().with_overrides({"city": "paris", "data_dir": Path("/x"), "flag": 1})
    assert settings.city == "paris" and settings.data_dir == Path("/x")
    assert settings.extra == {"flag": 1}


def test_field_errors_drop_the_webargs_location_level():
    assert field_errors({"json": {"name": ["Missing"]}, "query": {"from": ["Bad"]}}) == {
        "name": ["Missing"], "from": ["Bad"]}


def test_a_partner_sees_only_its_studios_and_an_admin_sees_all():
    partner = Principal("p", "partner", frozenset({"camden"}))
    assert partner.sees("camden") and not partner.sees("islington")
    assert Principal("a", "admin").sees("islington")


SHARED = Principal("p", "partner", frozenset({"camden", "soho"}), "key-p", "pt_p")


@pytest.mark.parametrize("studios, owner, seen", [
    ("camden", "pt_p", True),  # its own, at its studio
    ("camden", "pt_q", False),  # another partner's, at a studio they share
    ("islington", "pt_p", False),  # its own, at a studio it no longer has
    (("islington", "soho"), "pt_p", True),  # one of several studios is its
    (("islington", "kew"), "pt_p", False),
    ("camden", "", True),  # made before partner accounts: its studio's partners'
    ("camden", None, True),  # nobody's (a studio's notification)
    ("islington", None, False),
])
def test_a_partner_sees_only_its_own_at_its_studios(studios, owner, seen):
    assert SHARED.sees_own(studios, owner) is seen
    admin = Principal("a", "admin", key_id="key-a")
    assert admin.sees_own(studios, owner)
    admin.require_visible(studios, owner, "booking")
    if seen:
        SHARED.require_visible(studios, owner, "booking")
    else:
        with pytest.raises(NotFound, match="no such booking"):
            SHARED.require_visible(studios, owner, "booking")


@pytest.mark.parametrize("body", [
    {"id": "1", "type": "booking.created", "schema_version": 1, "source": "b",
     "city": "london", "payload": {}, "occurred_at": "yesterday"},
    {"id": "1", "type": "booking", "schema_version": 1, "source": "b", "city": "london",
     "payload": {}, "occurred_at": "2026-12-01T10:00:00+00:00"},
    {"type": "booking.created"},
    "not an object",
])
def test_malformed_envelopes_are_refused(body):
    with pytest.raises(ValidationError):
        envelope_from_body(body)


def test_a_valid_envelope_loads():
    sent = Envelope(type="booking.created", payload={"x": 1}, source="booking",
                    city="london")
    assert envelope_from_body(envelope_to_body(sent)) == sent


class TestPeriodicJobs:
    def job(self, **options) -> tuple[Periodic, list]:
        runs: list = []
        yields = options.get("yields_to_messages")
        run = (lambda busy: runs.append("busy" if busy else 1)) if yields \
            else (lambda: runs.append(1))
        return Periodic(0.2, run, last=time.monotonic() - 0.5, **options), runs

    def test_a_due_job_runs_between_messages(self):
        job, runs = self.job()
        job.maybe_run(busy=True)
        assert runs == [1]

    def test_a_job_that_yields_waits_while_messages_keep_arriving(self):
        job, runs = self.job(yields_to_messages=True)
        job.maybe_run(busy=True)
        assert runs == []
        job.maybe_run(busy=False)
        assert runs == [1]

    def test_a_job_that_yields_still_runs_once_it_waited_its_longest_told_it_is_busy(self):
        job, runs = self.job(yields_to_messages=True, max_wait_s=0.1)
        job.maybe_run(busy=True)
        assert runs == ["busy"]  # so it does a short part of its work


def test_operator_commands_reach_the_stack_make_run_keeps_in_the_data_dir(tmp_path,
                                                                         monkeypatch):
    (tmp_path / "dev.json").write_text(json.dumps({"redis_url": "redis://127.0.0.1:4321/0"}))
    (tmp_path / "data.key").write_text("a-key\n")
    for name in ("SPA_REDIS_URL", "SPA_DATA_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPA_DATA_DIR", str(tmp_path))
    settings = operator_settings()
    assert (settings.redis_url, settings.data_key) == ("redis://127.0.0.1:4321/0", "a-key")
    monkeypatch.setenv("SPA_REDIS_URL", "redis://elsewhere:6379/0")
    monkeypatch.setenv("SPA_DATA_KEY", "another-key")
    settings = operator_settings()
    assert (settings.redis_url, settings.data_key) == ("redis://elsewhere:6379/0", "another-key")
