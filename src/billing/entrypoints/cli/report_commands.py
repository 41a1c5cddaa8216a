"""`billing report retention` and `billing simulate retention` (registered on the main command group)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC
from pathlib import Path

import click

from billing.entrypoints.cli.errors import CommandFailed
from billing.platform.settings import load_settings


def _group(main: click.Group, name: str, help_text: str) -> click.Group:
    """The named subgroup, created unless another module already added it."""
    existing = main.commands.get(name)
    if isinstance(existing, click.Group):
        return existing
    group = click.Group(name, help=help_text)
    main.add_command(group)
    return group


async def _report(cohort, period: str | None = None) -> dict:
    import asyncpg

    from billing.retention.queries import UnknownPeriod, retention_report

    pool = await asyncpg.create_pool(load_settings().require_database_url(), min_size=1, max_size=1)
    try:
        return await retention_report(pool, cohort, period)
    except UnknownPeriod as unknown:  # one sentence naming the known periods, exit code 2: never an empty report
        raise CommandFailed(str(unknown)) from None
    finally:
        await pool.close()


def _cohort(cases_from: str | None, cases_to: str | None):
    from billing.retention.queries import Cohort

    if not (cases_from or cases_to):
        return None
    try:
        return Cohort.parse(cases_from, cases_to)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@click.command("retention")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a self-contained HTML report with plots to this file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of tables.")
@click.option("--cases-from", default=None, help="Only cases handled at or after this ISO date/time (event time).")
@click.option("--cases-to", default=None, help="Only cases handled before this ISO date/time (event time).")
@click.option(
    "--period",
    default=None,
    help="The experiment period to report (its id, <plan key>@<share>bp, as the report lists them); default: the"
    " latest, with the other periods listed apart. A period the system does not know is refused (exit code 2).",
)
def report_retention(
    html_path: Path | None, as_json: bool, cases_from: str | None, cases_to: str | None, period: str | None
) -> None:
    """Retention per practice and arm, uplift, cost per retained customer, curves (needs DATABASE_URL).

    Every case followed, or with --cases-from/--cases-to the cohort of cases handled in that period of time;
    one experiment period (--period, or the latest)."""
    report = asyncio.run(_report(_cohort(cases_from, cases_to), period))
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        from billing.retention.report_text import format_report

        click.echo(format_report(report))
    if html_path is not None:
        from billing.retention.report_html import render_html

        html_path.write_text(render_html(report), encoding="utf-8")
        click.echo(f"HTML report written to {html_path}", err=True)


@click.command("retention")
@click.option("--accounts", default=4000, show_default=True, help="Customers in the simulated population.")
@click.option("--seed", default=2026, show_default=True, help="Random seed (same seed, same population).")
@click.option(
    "--holdout-share",
    type=float,
    default=None,
    help="Control-arm share for the simulated arms (default: RETENTION_HOLDOUT_SHARE).",
)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until every case is followed.")
@click.option(
    "--start",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="First day of the simulated era (default 2031-01-01): later than any other event time on the "
    "topics, and a fresh one for each population, since the partitions' event-time clocks only move on.",
)
def simulate_retention(accounts: int, seed: int, holdout_share: float | None, wait: bool, start) -> None:
    """Feed a population with known practice effects through the real topics (needs a running stack)."""
    from billing.entrypoints.stack.retention_simulation import (
        TRUE_EFFECTS,
        SimulationConfig,
        feed,
        register,
        simulate,
        wait_until_followed,
    )
    from billing.retention.plan_config import load_plan

    settings = load_settings()
    share = settings.retention_holdout_share if holdout_share is None else holdout_share
    config = SimulationConfig(
        accounts=accounts,
        seed=seed,
        holdout_share_bp=round(share * 10_000),
        plan=load_plan(settings),  # RETENTION_PLAN: the simulation's period is judged by it
        partitions=settings.workflow_partitions,
        **({} if start is None else {"start": start.replace(tzinfo=UTC)}),
    )
    sim = simulate(config)
    click.echo(
        f"simulated {accounts:,} customers, {sim.cases:,} handled cases, {len(sim.events):,} events; "
        f"true 90-day uplift per practice: " + ", ".join(f"{p} {100 * e:+.0f} pp" for p, e in TRUE_EFFECTS.items()),
        err=True,
    )

    async def run() -> None:
        import asyncpg

        pool = await asyncpg.create_pool(settings.require_database_url(), min_size=1, max_size=2)
        try:
            await register(pool, sim)  # the plan and the period, before the cases
            await feed(settings.require_bootstrap(), sim, lambda line: click.echo(f"  {line}", err=True))
            if wait:
                await wait_until_followed(pool, sim, progress=lambda line: click.echo(f"  {line}", err=True))
        finally:
            await pool.close()

    asyncio.run(run())
    first, last = sim.case_period()
    click.echo(
        "done: `billing report retention --cases-from "
        f"{first.isoformat()} --cases-to {last.isoformat()}` shows what the system learned",
        err=True,
    )


def register(main: click.Group) -> None:
    _group(main, "report", "Reports computed from what the workers stored.").add_command(report_retention)
    _group(main, "simulate", "Simulated traffic with known answers, through the real topics.").add_command(
        simulate_retention
    )
