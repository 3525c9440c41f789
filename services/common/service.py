"""The shape every service shares: its Flask app skeleton and its worker process.

A service's app.py calls `base_app`, then registers its own blueprint; its worker.py
calls `run_worker` with the consumers its queues.py declares.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass, field

import redis
from flask import Flask
from kombu import Connection
from werkzeug.middleware.proxy_fix import ProxyFix

from services.common import bus
from services.common.auth import KeyStore, Limits, install_auth
from services.common.clock import Clock
from services.common.config import Settings
from services.common.http import (
    SpaApi,
    api_config,
    configure_logging,
    health_blueprint,
    install_error_handlers,
    install_request_hooks,
    swagger_static,
)
from services.common.redis import connect, key
from services.common.rpc import RpcClient

log = logging.getLogger(__name__)


@dataclass
class Infra:
    """Connections one process holds; built once per process by the app or worker."""

    settings: Settings
    redis: redis.Redis
    broker_url: str
    _per_thread: threading.local = field(default_factory=threading.local, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Infra:
        """Every app, worker and `spa` command starts here: settings that cannot work
        are refused (`Settings.check`) before anything connects."""
        settings.check()
        return cls(settings, connect(settings.redis_url, replica_acks=settings.redis_replica_acks),
                   settings.broker)

    def connection(self, timeout_s: float = bus.BROKER_TIMEOUT_S,
                   confirm: bool = True) -> Connection:
        return bus.broker_connection(self.broker_url, timeout_s,
                                     self.settings.bus_visibility_timeout_s, confirm)

    @property
    def publisher(self) -> bus.Publisher:
        """This thread's publisher (kombu connections are not shared between threads)."""
        if not hasattr(self._per_thread, "publisher"):
            self._per_thread.publisher = bus.Publisher(self.connection())
        return self._per_thread.publisher

    def event_consumer(self, service: str, queue, handlers: dict) -> bus.EventConsumer:
        """A consumer of `queue` whose dedupe marks, retries and dead letters live
        under this service's own key prefix."""
        s = self.settings
        return bus.EventConsumer(queue, handlers, self.redis, key(s.city, service),
                                 s.bus_retry_delays_s, s.dedupe_ttl_s, s.bus_handler_lease_s)

    def rpc(self, service: str) -> RpcClient:
        """This thread's client for `service`'s RPC: gunicorn threads call in parallel,
        and one client waits for one reply at a time."""
        clients = self._per_thread.__dict__.setdefault("rpc_clients", {})
        if service not in clients:
            timeout_s = self.settings.rpc_timeout_s  # connecting counts against it too
            # No publisher confirms: a lost request is a timeout the caller handles, and
            # on a quorum queue a confirm waits for a majority of its replicas.
            connection = self.connection(min(timeout_s, bus.BROKER_TIMEOUT_S), confirm=False)
            clients[service] = RpcClient(connection, service, timeout_s)
        return clients[service]

    def check_broker(self, timeout_s: float = 0.3) -> None:
        with self.connection(timeout_s) as conn:
            # A failover list: the next node is asked when one refuses, within the time.
            conn.ensure_connection(max_retries=max(len(conn.alt) - 1, 0), timeout=timeout_s)


def base_app(service: str, title: str, infra: Infra,
             clock: Clock | None = None) -> tuple[Flask, SpaApi]:
    """An app with problem+json errors, request ids, auth, health routes and /docs.
    Behind the gateway: the client's address is the one the gateway adds to
    X-Forwarded-For (one proxy is trusted, so a client cannot claim another)."""
    settings = infra.settings
    configure_logging(settings.log_level)
    app = Flask(service)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)
    app.config.update(api_config(title))
    app.config["SPA_SETTINGS"] = settings
    install_request_hooks(app, service)
    limits = Limits(settings.rate_limit_per_minute, settings.address_rate_limit_per_minute)
    install_auth(app, KeyStore(infra.redis, settings.city, clock), limits)
    api = SpaApi(app)
    install_error_handlers(app)
    app.register_blueprint(health_blueprint(service, {"redis": infra.redis.ping,
                                                      "broker": infra.check_broker}))
    app.register_blueprint(swagger_static())
    return app, api


def run_worker(infra: Infra, consumers: list[bus.EventConsumer], rpc_servers=(),
               periodic=(), safety_interval_s: float = 0.25) -> None:
    """Declare this worker's queues, then consume until SIGTERM/SIGINT."""
    configure_logging(infra.settings.log_level)
    with infra.connection() as connection:
        bus.declare(connection, [c.queue for c in consumers]
                    + [s.queue for s in rpc_servers])
        worker = bus.Worker(connection, consumers, list(rpc_servers), list(periodic))
        _stop_on_signals(worker)
        worker.run(safety_interval=safety_interval_s)


def _stop_on_signals(worker: bus.Worker) -> None:
    def stop(signum, frame):
        worker.should_stop = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
