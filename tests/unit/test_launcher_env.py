"""Workers read their settings from the environment the launcher gives them: nothing may be lost on the way."""

from __future__ import annotations

from pathlib import Path

from billing.entrypoints.stack.launcher import Launcher
from billing.platform.settings import Settings, load_settings


def test_worker_environment_reproduces_every_setting(monkeypatch) -> None:
    settings = load_settings(
        kafka_bootstrap_servers="127.0.0.1:9092",
        database_url="postgresql://b@127.0.0.1:5/b",
        kafka_idempotent_producer=False,
        usage_park_limit_s=7,
        late_usage_limit_days=36500,
        state_dir=Path("/tmp/somewhere"),
        catalog_path=Path("/tmp/catalog.json"),
        log_level="DEBUG",
    )
    launcher = Launcher(settings)
    launcher.settings = settings
    for name, value in launcher.worker_env().items():
        monkeypatch.setenv(name, value)
    assert Settings() == settings
