"""The `billing` command: one entry point for people and for the launcher's child processes."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path

import click

import billing.entrypoints.cli.invoice_document_commands  # noqa: F401  # invoices show|explain|render join the invoices group
from billing.entrypoints.cli.agent_commands import register as register_agent_commands
from billing.entrypoints.cli.billing_commands import register as register_billing_commands
from billing.entrypoints.cli.collections_commands import register as register_collections_commands
from billing.entrypoints.cli.docs_commands import register as register_docs_commands
from billing.entrypoints.cli.errors import BillingGroup, CommandFailed
from billing.entrypoints.cli.outbox_commands import register as register_outbox_commands
from billing.entrypoints.cli.report_commands import register as register_report_commands
from billing.platform.settings import load_settings

WORKERS = click.IntRange(1, 16)  # as the WORKERS setting allows
# Set by the launcher: the listening socket it bound for this process (src/billing/entrypoints/stack/ports.py).
LISTEN_FD = click.option("--listen-fd", type=click.IntRange(min=0), default=None, hidden=True)


def _say(message: str) -> None:
    click.echo(f"  {message}", err=True)


def _fail(message: str) -> None:
    raise CommandFailed(message)


@click.group(cls=BillingGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Telecom billing workflow: rating, invoicing, agent queues, discounts and retention statistics."""
    # A broker that does not answer is reported by the command, in one sentence: not by the client library's
    # own log lines besides (a worker and the API configure their logging themselves: src/billing/platform/logs.py).
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


@main.command()
@click.option(
    "--index",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Worker number (its web port is WORKER_WEB_PORT+index).",
)
@LISTEN_FD
def worker(index: int, listen_fd: int | None) -> None:
    """Run one worker process (needs KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL; `billing up` sets them)."""
    from billing.entrypoints.stack.launcher import ensure_state_dir
    from billing.entrypoints.worker.run import run_worker

    settings = load_settings()
    if settings.embedded_broker or settings.embedded_database:
        _fail("a worker needs KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL: run `billing up` to start everything.")
    ensure_state_dir(settings.state_dir)
    if listen_fd is None:
        port = settings.worker_web_port + index
        _require_free_port(settings.worker_web_host, port, f"worker {index}", "WORKER_WEB_PORT")
    run_worker(settings, index, listen_fd)


@main.command()
@click.option("--workers", type=WORKERS, default=None, help="Worker processes to start (default: WORKERS).")
def up(workers: int | None) -> None:
    """Start the broker, PostgreSQL, topics and workers (embedded when not configured); Ctrl-C stops all."""
    from billing.entrypoints.stack.launcher import Launcher

    settings = load_settings()
    click.echo("starting the billing stack", err=True)
    with Launcher(settings, progress=_say) as launcher:
        settings = launcher.start(workers, api=True)
        click.echo(f"ready: KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap_servers}", err=True)
        click.echo(f"       DATABASE_URL={settings.require_database_url()}", err=True)
        click.echo("press Ctrl-C to stop", err=True)
        _wait_for_signal()
        click.echo("stopping", err=True)


@main.command("api")
@LISTEN_FD
def api_cmd(listen_fd: int | None) -> None:
    """Serve the agent API on API_HOST:API_PORT (needs DATABASE_URL; `billing up` starts it)."""
    from billing.entrypoints.api.app import run_api

    settings = load_settings()
    if settings.embedded_database:
        _fail("the agent API needs DATABASE_URL: run `billing up` to start everything.")
    if listen_fd is None:
        _require_free_port(settings.api_host, settings.api_port, "the agent API", "API_PORT")
    run_api(
        settings, listen_fd
    )  # a bad AGENT_ROLE_QUEUES fails here, in one sentence (src/billing/entrypoints/cli/errors.py)


@main.command()
@click.option(
    "--accounts", type=click.IntRange(min=1), default=200, show_default=True, help="Accounts in the demo population."
)
@click.option(
    "--usage",
    "usage_events",
    type=click.IntRange(min=1),
    default=20_000,
    show_default=True,
    help="Usage events to publish.",
)
@click.option("--workers", type=WORKERS, default=2, show_default=True, help="Worker processes sharing the partitions.")
def demo(accounts: int, usage_events: int, workers: int) -> None:
    """Run the whole flow once on a fresh embedded stack, show what happened, and stop everything."""
    from billing.entrypoints.stack.demo import run_demo

    run_demo(accounts=accounts, usage_events=usage_events, workers=workers)


@main.command("migrate")
def migrate_cmd() -> None:
    """Apply pending database migrations to DATABASE_URL."""
    from billing.platform.migrate import migrate

    applied = asyncio.run(migrate(load_settings().require_database_url()))
    click.echo(f"applied: {', '.join(applied)}" if applied else "schema up to date")


@main.command("topics")
def topics_cmd() -> None:
    """Create the topics declared in src/billing/platform/topics.py on KAFKA_BOOTSTRAP_SERVERS."""
    from billing.entrypoints.topic_setup import ensure_topics

    created = asyncio.run(ensure_topics(load_settings()))
    click.echo(f"created: {', '.join(created)}" if created else "all topics present")


@main.group()
def schemas() -> None:
    """Event schemas for upstream producers."""


@schemas.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def schemas_export(directory: Path) -> None:
    """Write one JSON Schema file per event type into DIRECTORY."""
    from billing.contracts import export_json_schemas

    for path in export_json_schemas(directory):
        click.echo(str(path))


@main.command("settings")
def settings_cmd() -> None:
    """Print every setting with its environment variable, default and meaning (Markdown)."""
    from billing.entrypoints.cli.settings_doc import settings_table

    click.echo(settings_table())


register_billing_commands(
    main
)  # account show, cycles close, invoices held|release (src/billing/entrypoints/cli/billing_commands.py)
register_agent_commands(
    main
)  # agent create, set-pin, claim, verify, view, complete (src/billing/entrypoints/cli/agent_commands.py)
register_report_commands(main)  # report retention, simulate retention (src/billing/entrypoints/cli/report_commands.py)
register_collections_commands()  # account statement (src/billing/entrypoints/cli/collections_commands.py)
register_docs_commands(main)  # docs events, docs asyncapi (src/billing/entrypoints/cli/docs_commands.py)
register_outbox_commands(main)  # outbox replay (src/billing/entrypoints/cli/outbox_commands.py)


class _Stop(Exception):
    pass


def _wait_for_signal() -> None:
    def stop(signum: int, frame: object) -> None:
        raise _Stop

    # SIGINT too: a process started in the background by a non-interactive shell (CI steps, `nohup ... &`)
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler, so Ctrl-C did nothing.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, _Stop):
        return


def _require_free_port(host: str, port: int, what: str, setting: str) -> None:
    """A server started on its own (docker compose) checks its port before it starts, to say so in one sentence."""
    from billing.entrypoints.stack.ports import listen_on

    try:
        listen_on(host, port).close()
    except (OSError, OverflowError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        _fail(f"{what} cannot listen on {host}:{port} ({reason.lower()}): stop what uses the port or set {setting}.")


if __name__ == "__main__":
    main()
