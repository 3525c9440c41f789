"""Every setting, read from the environment in one place.

The README's settings table lists the same names; keep the two in step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(",") if part.strip())


AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")
REDIS_CLUSTER_SCHEME = "redis+cluster://"  # what services/common/redis.connect reads


def is_amqp(url: str) -> bool:
    """Whether a broker URL (or the first of a `;` failover list) names RabbitMQ."""
    return url.split("://", 1)[0] in AMQP_SCHEMES


class SettingsError(ValueError):
    """Settings that cannot work together; the message says what to set."""


@dataclass(frozen=True)
class Settings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str = ""  # empty: the same Redis as redis_url
    city: str = "london"
    smtp_url: str = ""  # empty: write mail to a maildir under data_dir/mail
    mail_from: str = "Spa Reservations <bookings@spa.example>"
    data_dir: Path = Path(".spa")
    log_level: str = "INFO"
    gateway_port: int = 8080
    booking_port: int = 8001
    availability_port: int = 8002
    notifications_port: int = 8003
    desk_port: int = 8004
    desk_api_url: str = ""  # empty: the gateway on gateway_port
    desk_secret: str = ""  # empty: made once into data_dir/desk.secret
    desk_session_h: float = 12.0  # a desk session lasts this long without sign-in
    hold_ttl_s: int = 600
    rpc_timeout_s: float = 5.0
    bus_retry_delays_s: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)
    dedupe_ttl_s: int = 7 * 24 * 3600
    bus_visibility_timeout_s: float = 60.0  # a dead consumer's messages come back after it
    bus_handler_lease_s: float = 120.0  # the longest a handler may run before a twin may
    rate_limit_per_minute: int = 600
    address_rate_limit_per_minute: int = 60
    webhook_retry_delays_s: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0, 3600.0)
    webhook_timeout_s: float = 10.0
    smtp_timeout_s: float = 30.0  # a dead worker's send is tried again after twice the longer
    webhook_allow_private: bool = False
    reminder_offsets_min: tuple[float, ...] = (24 * 60,)
    data_key: str = ""  # Fernet key(s) sealing health answers and notes (services/common/vault)
    intake_valid_days: int = 30
    intake_retention_days: int = 365
    waitlist_offer_min: float = 15.0  # how long a waitlist offer holds its time
    slot_cache_days: int = 4096  # studio-days of slots kept per availability process
    redis_replica_acks: int = 1  # on a cluster: replicas that must hold a promised write
    extra: dict = field(default_factory=dict)

    @property
    def broker(self) -> str:
        return self.broker_url or self.redis_url

    def check(self) -> Settings:
        """Refuse settings that cannot work, before anything connects: kombu's Redis
        transport cannot run on a Redis Cluster (celery/kombu#526), so a cluster store
        needs RabbitMQ as the broker."""
        if self.redis_url.startswith(REDIS_CLUSTER_SCHEME) and not is_amqp(self.broker):
            raise SettingsError("a Redis Cluster store needs RabbitMQ as the broker: set "
                                "SPA_BROKER_URL=amqp://... (kombu's Redis transport cannot "
                                "run on a cluster)")
        return self

    def with_overrides(self, overrides: dict | None) -> Settings:
        """A copy with test or app-factory overrides; unknown names go to `extra`."""
        if not overrides:
            return self
        known = {f.name for f in fields(self)}
        extra = {**self.extra, **{k: v for k, v in overrides.items() if k not in known}}
        return replace(self, **{k: v for k, v in overrides.items() if k in known}, extra=extra)


def load_settings() -> Settings:
    """Settings from `SPA_*` environment variables, with the defaults above."""
    d = Settings()
    return Settings(
        redis_url=_env("SPA_REDIS_URL", d.redis_url),
        broker_url=_env("SPA_BROKER_URL", d.broker_url),
        city=_env("SPA_CITY", d.city),
        smtp_url=_env("SPA_SMTP_URL", d.smtp_url),
        mail_from=_env("SPA_MAIL_FROM", d.mail_from),
        data_dir=Path(_env("SPA_DATA_DIR", str(d.data_dir))),
        log_level=_env("SPA_LOG_LEVEL", d.log_level),
        gateway_port=int(_env("SPA_GATEWAY_PORT", str(d.gateway_port))),
        booking_port=int(_env("SPA_BOOKING_PORT", str(d.booking_port))),
        availability_port=int(_env("SPA_AVAILABILITY_PORT", str(d.availability_port))),
        notifications_port=int(_env("SPA_NOTIFICATIONS_PORT", str(d.notifications_port))),
        desk_port=int(_env("SPA_DESK_PORT", str(d.desk_port))),
        desk_api_url=_env("SPA_DESK_API_URL", d.desk_api_url),
        desk_secret=_env("SPA_DESK_SECRET", d.desk_secret),
        desk_session_h=float(_env("SPA_DESK_SESSION_H", str(d.desk_session_h))),
        hold_ttl_s=int(_env("SPA_HOLD_TTL_S", str(d.hold_ttl_s))),
        rpc_timeout_s=float(_env("SPA_RPC_TIMEOUT_S", str(d.rpc_timeout_s))),
        bus_retry_delays_s=_floats(_env("SPA_BUS_RETRY_DELAYS_S", "1,5,30,120")),
        dedupe_ttl_s=int(_env("SPA_DEDUPE_TTL_S", str(d.dedupe_ttl_s))),
        bus_visibility_timeout_s=float(_env("SPA_BUS_VISIBILITY_TIMEOUT_S",
                                            str(d.bus_visibility_timeout_s))),
        bus_handler_lease_s=float(_env("SPA_BUS_HANDLER_LEASE_S", str(d.bus_handler_lease_s))),
        rate_limit_per_minute=int(_env("SPA_RATE_LIMIT_PER_MINUTE", str(d.rate_limit_per_minute))),
        address_rate_limit_per_minute=int(_env("SPA_ADDRESS_RATE_LIMIT_PER_MINUTE",
                                               str(d.address_rate_limit_per_minute))),
        webhook_retry_delays_s=_floats(_env("SPA_WEBHOOK_RETRY_DELAYS_S", "5,30,120,600,3600")),
        webhook_timeout_s=float(_env("SPA_WEBHOOK_TIMEOUT_S", str(d.webhook_timeout_s))),
        smtp_timeout_s=float(_env("SPA_SMTP_TIMEOUT_S", str(d.smtp_timeout_s))),
        webhook_allow_private=_env("SPA_WEBHOOK_ALLOW_PRIVATE", "0") in ("1", "true", "yes"),
        reminder_offsets_min=_floats(_env("SPA_REMINDER_OFFSETS_MIN", "1440")),
        data_key=_env("SPA_DATA_KEY", d.data_key),
        intake_valid_days=int(_env("SPA_INTAKE_VALID_DAYS", str(d.intake_valid_days))),
        intake_retention_days=int(_env("SPA_INTAKE_RETENTION_DAYS",
                                       str(d.intake_retention_days))),
        waitlist_offer_min=float(_env("SPA_WAITLIST_OFFER_MIN", str(d.waitlist_offer_min))),
        slot_cache_days=int(_env("SPA_SLOT_CACHE_DAYS", str(d.slot_cache_days))),
        redis_replica_acks=int(_env("SPA_REDIS_REPLICA_ACKS", str(d.redis_replica_acks))),
    )
