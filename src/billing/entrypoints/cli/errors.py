"""What a `billing` command does when it fails for a known reason: one sentence saying what to do, exit code 2.

One place for every command: `BillingGroup` runs them and hands what they raise to `explain`, which knows the
failures a person can fix (a setting that is missing or invalid, a database or broker that does not answer, a
port in use, a STATE_DIR that cannot be written, an option out of range). Anything else is a defect and keeps
its traceback.
"""

from __future__ import annotations

import os
import socket
import types
from urllib.parse import urlsplit

import click
from pydantic import SecretStr, ValidationError

from billing.entrypoints.stack import PrerequisiteError
from billing.platform.settings import MissingSetting, Settings


class CommandFailed(click.ClickException):
    exit_code = 2

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(" ".join(message.split()))  # one line, whatever the parts were
        self.detail = detail

    def show(self, file=None) -> None:
        click.secho(f"error: {self.message}", fg="red", err=True)
        if self.detail:  # e.g. the end of the log of a process that did not start
            click.echo(self.detail, err=True)


class BillingGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as error:  # a bad option or argument, e.g. `demo --accounts 0`
            where = (error.ctx or ctx).command_path
            raise CommandFailed(f"{error.format_message().rstrip('.')} (`{where} --help` lists the options).") from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            failure = explain(error)
            if failure is None:
                raise
            raise failure from None


def explain(error: BaseException) -> CommandFailed | None:
    """The sentence for a failure a person can fix, or None for a defect."""
    if isinstance(error, PrerequisiteError):
        return CommandFailed(error.message, error.detail)
    if isinstance(error, MissingSetting):
        return CommandFailed(str(error))
    if isinstance(error, ValidationError) and error.title == Settings.__name__:
        return CommandFailed(_invalid_settings(error))
    for kind, setting in _configuration_errors():
        if isinstance(error, kind):
            return CommandFailed(f"{setting}{error}" + ("" if str(error).endswith(".") else "."))
    return _database_failure(error) or _broker_failure(error)


def _configuration_errors() -> list[tuple[type[Exception], str]]:
    """Errors in what a person configured (a file a setting names, a topic made by hand), with the setting."""
    from billing.care.rules.config_parsing import CareConfigError
    from billing.discounts.rules.policy import PolicyConfigError
    from billing.entrypoints.topic_setup import TopicSetupError
    from billing.identity.rules.roles import RoleQueuesError
    from billing.invoicing.catalog_config import CatalogLoadError
    from billing.platform.migrate import MigrationError

    return [
        (RoleQueuesError, "AGENT_ROLE_QUEUES: "),
        (CareConfigError, "CARE_RULES_PATH "),
        (PolicyConfigError, "DISCOUNT_POLICY_PATH "),
        (CatalogLoadError, ""),
        (TopicSetupError, ""),
        (MigrationError, ""),
    ]


def _invalid_settings(error: ValidationError) -> str:
    problems = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "?"
        secret = Settings.model_fields.get(name) is not None and Settings.model_fields[name].annotation in (
            SecretStr,
            SecretStr | None,
        )
        value = "" if secret else f"={problem.get('input')!r}"
        problems.append(f"{name.upper()}{value} ({problem['msg'].removeprefix('Value error, ')})")
    return f"invalid setting {'; '.join(problems)}: fix the environment variable or unset it (`billing settings`)."


def _database_failure(error: BaseException) -> CommandFailed | None:
    if not _raised_in(error, "asyncpg"):
        return None
    import asyncpg

    where = f"the database at {_database_address()}"
    if isinstance(error, asyncpg.UndefinedTableError):
        return CommandFailed(f"{where} has no billing schema ({error}): run `billing migrate` first.")
    if isinstance(error, asyncpg.PostgresError):
        if error.sqlstate and error.sqlstate[:2] in ("28", "3D", "53", "57"):  # auth, no database, resources, shutdown
            return CommandFailed(f"{where} refused the connection ({error}): check DATABASE_URL.")
        return None
    if isinstance(error, (ValueError, OverflowError, asyncpg.ClientConfigurationError)):
        return CommandFailed(f"DATABASE_URL is not a DSN PostgreSQL accepts ({error}).")
    if isinstance(error, (OSError, TimeoutError)):
        return CommandFailed(f"{where} does not answer ({_reason(error)}): start PostgreSQL, or fix DATABASE_URL.")
    return None


def _broker_failure(error: BaseException) -> CommandFailed | None:
    from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NoBrokersAvailable

    if not isinstance(error, (KafkaConnectionError, KafkaTimeoutError, NoBrokersAvailable)):
        return None
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or "the embedded broker"
    return CommandFailed(f"no Kafka broker answers at {servers}: start it, or fix KAFKA_BOOTSTRAP_SERVERS.")


def _database_address() -> str:
    """host:port of DATABASE_URL, never its password."""
    try:
        parts = urlsplit(os.environ.get("DATABASE_URL", ""))
        return f"{parts.hostname or 'localhost'}:{parts.port or 5432}" if parts.scheme else "DATABASE_URL"
    except ValueError:
        return "DATABASE_URL"


def _reason(error: OSError) -> str:
    if isinstance(error, socket.gaierror):
        return f"host name not found: {error.strerror}"
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    return (error.strerror or str(error)).strip() or type(error).__name__


def _raised_in(error: BaseException, package: str) -> bool:
    """Whether the error comes from `package`'s code: the only way to tell a database connection's OSError or
    ValueError from any other, since the driver raises them as they are."""
    tb: types.TracebackType | None = error.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_globals.get("__name__", "")
        if name == package or name.startswith(package + "."):
            return True
        tb = tb.tb_next
    return False
