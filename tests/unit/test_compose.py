"""docker-compose.yml stays consistent with the code: every variable it sets is a setting, every role is a
`billing` command, and every worker has a distinct host port."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from billing.entrypoints.cli.main import main
from billing.platform.settings import Settings

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
BILLING_ROLES = {name: s for name, s in SERVICES.items() if s.get("build")}


def test_every_variable_is_a_setting() -> None:
    known = {name.upper() for name in Settings.model_fields}
    for name, service in BILLING_ROLES.items():
        unknown = set(service["environment"]) - known
        assert not unknown, f"{name} sets variables no setting reads: {unknown}"


def test_compose_points_at_its_own_kafka_and_postgres() -> None:
    env = BILLING_ROLES["worker-0"]["environment"]
    assert env["KAFKA_BOOTSTRAP_SERVERS"].split(":")[0] in SERVICES
    assert "@postgres:" in env["DATABASE_URL"]
    assert SERVICES["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper


def test_every_role_is_a_billing_command() -> None:
    for name, service in BILLING_ROLES.items():
        command = service["command"]
        assert command[0] == "billing"
        result = CliRunner().invoke(main, [*command[1:2], "--help"])
        assert result.exit_code == 0, f"{name}: `billing {command[1]}` is not a command"


def test_workers_publish_distinct_host_ports() -> None:
    ports = [p for s in BILLING_ROLES.values() for p in s.get("ports", [])]
    assert len({p.split(":")[0] for p in ports}) == len(ports)


def _mounted(service: dict, path: str) -> bool:
    """True when `path` is on one of the service's named volumes (what survives `docker compose down`)."""
    named = set(COMPOSE.get("volumes") or {})
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source in named and (path == target or path.startswith(target.rstrip("/") + "/")):
            return True
    return False


def test_kafka_and_postgres_keep_their_data_on_the_volumes() -> None:
    # apache/kafka writes to /tmp/kraft-combined-logs unless KAFKA_LOG_DIRS says otherwise: the topics would be
    # lost with the container while the volume stayed empty. postgres:15 keeps PGDATA at /var/lib/postgresql/data.
    kafka, postgres = SERVICES["kafka"], SERVICES["postgres"]
    log_dirs = kafka["environment"].get("KAFKA_LOG_DIRS", "/tmp/kraft-combined-logs")
    assert all(_mounted(kafka, d) for d in log_dirs.split(",")), f"KAFKA_LOG_DIRS={log_dirs} is not on a volume"
    assert _mounted(postgres, postgres["environment"].get("PGDATA", "/var/lib/postgresql/data"))
