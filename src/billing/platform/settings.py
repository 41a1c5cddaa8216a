"""All runtime settings, read once from the environment into one frozen object.

Every knob the workers, the launcher and the tools use lives here so that the docs, docker-compose.yml and
the code cannot drift apart: the table in docs/operations.md is generated from this class (`billing settings`).
"""

from __future__ import annotations

import base64
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The checkout's root (src/billing/platform/settings.py is three folders below it): the default state folder is
# ./.billing there. An installed image sets STATE_DIR.
PROJECT_ROOT = Path(__file__).resolve().parents[3]


class MissingSetting(RuntimeError):
    """A command needs a setting that is not set; the message says how to get it (the CLI shows it as is)."""


class Settings(BaseSettings):
    """Environment variables are the field names in upper case (`KAFKA_BOOTSTRAP_SERVERS`, `DATABASE_URL`, ...)."""

    # Names avoid the variables Faust reads itself (WEB_PORT, WEB_HOST, TOPIC_REPLICATION_FACTOR, ...), which
    # would silently override what the factory passes it.
    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_file=None)

    kafka_bootstrap_servers: str | None = Field(
        None, description="Kafka bootstrap servers. Unset: `billing up` starts the embedded Tansu broker."
    )
    database_url: SecretStr | None = Field(
        None, description="PostgreSQL DSN. Unset: `billing up` starts a private cluster under STATE_DIR."
    )
    kafka_idempotent_producer: bool | None = Field(
        None,
        description="Idempotent producer. Unset: on for an external Kafka, off for the embedded broker "
        "(Tansu does not implement InitProducerId).",
    )
    app_id: str = Field("billing", description="Faust application id; also the consumer-group prefix.")
    state_dir: Path = Field(
        PROJECT_ROOT / ".billing", description="Where the embedded services and workers keep data and logs."
    )
    usage_partitions: int = Field(8, ge=1, description="Partitions of the usage topic (the high-volume one).")
    workflow_partitions: int = Field(4, ge=1, description="Partitions of every other topic.")
    replication_factor: int = Field(1, ge=1, description="Replication factor for created topics (3 in production).")
    workers: int = Field(1, ge=1, le=16, description="Worker processes `billing up` starts (one consumer group).")
    worker_web_port: int = Field(
        6066,
        ge=0,
        le=65535,
        description="Health and metrics port of worker 0; worker N listens on WORKER_WEB_PORT+N. "
        "0: `billing up` picks free ones.",
    )
    worker_web_host: str = Field("127.0.0.1", description="Interface the worker's health and metrics endpoint binds.")
    broker_session_timeout_s: float = Field(
        6.0, gt=0, description="Consumer session timeout: how soon a dead worker's partitions move on."
    )
    broker_heartbeat_interval_s: float = Field(1.0, gt=0, description="Consumer heartbeat interval.")
    usage_batch_max: int = Field(10_000, ge=1, description="Most usage events fetched and rated as one batch.")
    usage_store_lanes: int = Field(
        4,
        ge=1,
        le=16,
        description="Usage transactions written at once, each for its own partitions; one more PostgreSQL connection each.",
    )
    usage_batch_wait_ms: int = Field(200, ge=0, description="Longest wait to fill a usage batch.")
    outbox_poll_ms: int = Field(200, ge=10, description="How often the outbox relay looks for unpublished events.")
    outbox_send_timeout_s: float = Field(
        5.0,
        gt=0,
        description="Longest wait for one outbox send; a topic that fails is skipped for a growing backoff "
        "while the other topics keep publishing.",
    )
    catalog_path: Path | None = Field(
        None,
        description="Price plans and tax rates (JSON, layout in src/billing/invoicing/rules/catalog.py). Unset: the demo catalog.",
    )
    discount_policy_path: Path | None = Field(
        None,
        description="Discount authority per role and eligibility rules (JSON, layout in src/billing/discounts/rules/policy.py)."
        " Unset: the default policy.",
    )
    cycle_close_grace_s: int = Field(
        86400, ge=0, description="Event time a cycle stays open for late usage after it ends, before it is invoiced."
    )
    late_usage_limit_days: int = Field(
        60, ge=0, description="Usage older than its cycle's close plus this many days is dead-lettered, not billed."
    )
    max_future_skew_s: int = Field(300, ge=0, description="Usage stamped further than this in the future is refused.")
    usage_park_limit_s: int = Field(
        3600, ge=0, description="How long usage for an unknown account waits for its account before dead-lettering."
    )
    payment_terms_days: int = Field(14, ge=0, description="Days from issue to the invoice's due date.")
    invoice_series: str = Field(
        "INV", min_length=1, description="Prefix of invoice numbers (gap-free per series and year)."
    )
    seller_name: str = Field("Example Telecom GmbH", min_length=1, description="Seller block of the invoice document.")
    seller_address: str = Field(
        "Musterstrasse 1, 10115 Berlin, Germany", description="The seller's address on the invoice document."
    )
    seller_tax_id: str = Field("DE123456789", description="The seller's VAT or tax id on the invoice document.")
    invoice_outlier_factor: int = Field(
        5, ge=2, description="An invoice over this many times the account's median is held for review."
    )
    closer_interval_s: float = Field(10.0, gt=0, description="How often a worker looks for cycles due to close.")
    closer_enabled: bool = Field(
        True,
        description="Whether workers close due cycles on their own. Off: cycles close only on "
        "`billing cycles close` (for a stack that must not follow the event-time clock, e.g. a dated test scenario).",
    )
    dunning_policy_path: Path | None = Field(
        None,
        description="Dunning policy: grace days and steps by day overdue (JSON or YAML, layout in "
        "docs/collections.md). Unset: the default of src/billing/collections/rules/dunning.py.",
    )
    payment_webhook_secret: SecretStr | None = Field(
        None,
        description="Shared secret of the payment provider's webhook (POST /webhooks/payments, docs/collections.md): "
        "the HMAC-SHA256 key, used exactly as the provider gives it (e.g. Stripe's whsec_...). Unset: the route "
        "answers 503.",
    )
    payment_webhook_tolerance_s: int = Field(
        300, ge=1, description="Webhook deliveries whose signed timestamp is further than this from now are refused."
    )
    care_rules_path: Path | None = Field(
        None,
        description="Routing rules, priority weights and widening steps (JSON or YAML, layout in "
        "src/billing/care/config.py). Unset: the built-in rules of src/billing/care/rules/.",
    )
    queue_sweep_interval_s: float = Field(
        2.0,
        gt=0,
        description="How often a worker returns expired leases, ages waiting tasks' priority and widens them.",
    )
    service_level_threshold_s: int = Field(
        20, ge=0, description="Queue service level: share of tasks answered within this many seconds."
    )
    queue_metrics_window_s: int = Field(
        300, ge=10, description="Tumbling window of the queue service metrics over time (event time)."
    )
    queue_metrics_retention_s: int = Field(
        86400, ge=60, description="How long queue-metric windows are kept (Faust table and PostgreSQL)."
    )
    db_pool_max: int = Field(10, ge=2, description="Largest PostgreSQL connection pool per worker process.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="DEBUG logs one line per event handled; INFO logs summaries."
    )
    log_format: Literal["json", "console"] = Field("json", description="json for machines, console for people.")
    api_host: str = Field("127.0.0.1", description="Interface the agent API binds (`billing api`).")
    api_port: int = Field(8080, ge=0, le=65535, description="Port of the agent API; 0: `billing up` starts no API.")
    api_max_body_bytes: int = Field(
        65536,
        ge=1024,
        description="Largest request body the agent API reads (counted as it arrives); a larger one answers 413.",
    )
    agent_role_queues: str = Field(
        "agent=billing,disputes,retention;tier2=billing,disputes,retention,tier2;"
        "supervisor=billing,disputes,retention,tier2,supervisors;analyst=",
        description="Queues each agent role may claim from (role=queue,queue;...). Analysts claim from none.",
    )
    desk_session_s: int = Field(
        28800, ge=60, description="How long a desk sign-in (the HttpOnly cookie session) lasts: one shift by default."
    )
    agent_lease_s: int = Field(30, ge=1, description="How long a claimed task is reserved for its agent to accept.")
    task_handle_timeout_s: int = Field(
        7200, ge=1, description="How long an agent may work an accepted task; then it goes back to its queue."
    )
    task_wrap_up_timeout_s: int = Field(
        1800, ge=1, description="How long a wrap-up may last; then the task is completed as wrap_up_timed_out."
    )
    verify_max_failures: int = Field(5, ge=1, description="Failed caller verifications in a row that lock the account.")
    verify_lockout_s: int = Field(
        1800, ge=1, description="How long a locked account refuses verification (all channels)."
    )
    otp_ttl_s: int = Field(300, ge=30, description="How long a one-time code sent to the contact of record is valid.")
    notification_key: SecretStr | None = Field(
        None,
        description="Fernet key (32 url-safe base64 bytes) that seals one-time codes in the database until "
        "they are delivered. Unset: a new key per API process, so a code still undelivered when it stops expires "
        "undelivered. Set one key for all API processes in production.",
    )
    notification_webhook_url: str | None = Field(
        None,
        description="Delivery channel of notifications (one-time codes): each is POSTed as JSON here (the SMS "
        "and e-mail gateway). Unset: appended as JSON lines to NOTIFICATION_FILE (development).",
    )
    notification_file: Path | None = Field(
        None,
        description="Where the development channel appends notifications, codes included. Unset: "
        "STATE_DIR/notifications.jsonl.",
    )
    retention_holdout_share: float = Field(
        0.10,
        gt=0,
        lt=1,
        description="Share of eligible accounts held out as the retention control arm (no offer). Changing it "
        "starts a new experiment period; the retention report keeps periods apart.",
    )
    retention_plan: Path | None = Field(
        None,
        description="The pre-registered retention analysis plan (JSON, or YAML by its .yaml/.yml suffix; keys in "
        "src/billing/retention/rules/plan.py: version, primary_horizon_days, practices, withheld, alpha, correction, "
        "min_arm_size, minimum_effect, expected_base_rate, power, planned_cases). Unset: the default plan "
        "(docs/retention-statistics.md). A changed plan starts a new experiment period.",
    )
    retention_control_grants: Literal["refuse", "allow_with_reason"] = Field(
        "refuse",
        description="A withheld practice (a discount, or a goodwill dispute credit) asked for a control-arm case: "
        "refused with 409, or, where the business insists, allowed when the agent gives a reason and counted as "
        "non-compliance.",
    )

    @field_validator("notification_key")
    @classmethod
    def _fernet_key(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and len(_urlsafe_b64(key.get_secret_value())) != 32:
            raise ValueError("NOTIFICATION_KEY must be 32 bytes in url-safe base64 (a Fernet key)")
        return key

    @field_validator("database_url")
    @classmethod
    def _dsn_is_a_postgresql_url(cls, value: SecretStr | None) -> SecretStr | None:
        # Checked here, so a malformed DSN is a settings error naming DATABASE_URL at start, never a driver's
        # traceback at the first connection. The value is never quoted back: it holds the password.
        if value is None:
            return value
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError("not a PostgreSQL URL; expected postgresql://user:password@host:5432/database")
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
        return value

    @property
    def embedded_broker(self) -> bool:
        return self.kafka_bootstrap_servers is None

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @cached_property
    def idempotent_producer(self) -> bool:
        if self.kafka_idempotent_producer is not None:
            return self.kafka_idempotent_producer
        return not self.embedded_broker

    def require_bootstrap(self) -> str:
        if not self.kafka_bootstrap_servers:
            raise MissingSetting("KAFKA_BOOTSTRAP_SERVERS is not set: start the stack with `billing up`.")
        return self.kafka_bootstrap_servers

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise MissingSetting("DATABASE_URL is not set: start the stack with `billing up`.")
        return self.database_url.get_secret_value()


def _urlsafe_b64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return b""


def load_settings(**overrides: object) -> Settings:
    """Read the environment now (never at import time); overrides win, for the launcher and tests."""
    return Settings(**overrides)  # type: ignore[arg-type]
