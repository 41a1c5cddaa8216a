"""Plan advisor: what the account's last closed cycles, and its open cycle at the current pace, would have cost
on every plan it may move to, priced by the same calculation that billed them (``calculation.build_invoice``).

Each closed cycle comes as the closer priced it (its ``InvoiceInput``: billable units per plan version and
service, plan segments, tax rate, late usage, grants) with the total it was billed. On another plan, the
cycle's real plan segments are replaced by that plan's versions in force over the same days (the not-yet-open
stand-in of an opening cycle stays), the units move to it per service, and everything else (tax, late usage,
grants) stays: only the plan differs. On the plan the account was on, the input is priced as it is, so that
figure is what was billed.

Billable units were rounded per event to the billed plan's increment (``pricing.billable_units``). A plan with
another increment needs the events' raw quantities to round them its way (``quantities``: quantity -> number
of events); without them its figure uses the billed units and is marked not exact.

The open cycle's forecast scales its usage so far by cycle days / elapsed days (the day of ``as_of`` counts as
elapsed), rounded half up as money.py rounds, and prices the whole cycle with its fee.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType

from billing.invoicing.rules.calculation import build_invoice
from billing.invoicing.rules.catalog import Catalog, CatalogError, PricePlan, ServiceKind
from billing.invoicing.rules.inputs import NOT_YET_OPEN, PlanCalendar
from billing.invoicing.rules.invoice_model import InvoiceError, InvoiceInput, PlanSegment
from billing.invoicing.rules.pricing import UsageKey, billable_units
from billing.money import allocate, round_minor

Quantities = Mapping[ServiceKind, Mapping[int, int]]  # service -> raw event quantity -> number of events


@dataclass(frozen=True)
class BilledCycle:
    """A closed cycle as the closer priced it, and the total its invoice was issued with."""

    invoice: InvoiceInput
    billed_total_minor: int
    quantities: Quantities | None = None


@dataclass(frozen=True)
class CycleSoFar:
    """The open cycle: its usage so far, priced as if it closed now (``preview.open_cycle``'s input)."""

    invoice: InvoiceInput
    as_of: date
    quantities: Quantities | None = None

    @property
    def elapsed_days(self) -> int:
        return min(self.invoice.cycle.days, max(1, (self.as_of - self.invoice.cycle.start).days + 1))


@dataclass(frozen=True)
class PlanOption:
    plan_id: str
    cycle_totals_minor: tuple[int | None, ...]  # closed cycles, oldest first; None: the plan was not offered then
    differences_minor: tuple[int | None, ...]  # cycle total - billed total (negative: it would have saved)
    forecast_minor: int | None  # the open cycle's total at the current pace on this plan
    is_current: bool
    exact: bool  # False: another increment and no raw quantities, so the billed units were priced as they are

    @property
    def total_minor(self) -> int | None:
        return None if None in self.cycle_totals_minor else sum(self.cycle_totals_minor)  # type: ignore[arg-type]

    @property
    def difference_minor(self) -> int | None:
        return None if None in self.differences_minor else sum(self.differences_minor)  # type: ignore[arg-type]


@dataclass(frozen=True)
class PlanAdvice:
    currency: str
    billed_minor: tuple[int, ...]  # the closed cycles' issued totals, oldest first
    options: tuple[PlanOption, ...]  # cheapest first; plans without a figure for every cycle last
    cheapest_plan_id: str | None
    best_saving_minor: int  # what the cheapest plan would have saved over the closed cycles (or the forecast)
    forecast_elapsed_days: int | None = None
    forecast_cycle_days: int | None = None
    excluded: Mapping[str, str] = field(default_factory=dict)  # plan id -> why it is not an option

    def __post_init__(self) -> None:
        object.__setattr__(self, "excluded", MappingProxyType(dict(self.excluded)))


def advise_plans(
    catalog: Catalog,
    cycles: Sequence[BilledCycle],
    open_cycle: CycleSoFar | None,
    current_plan_id: str,
    as_of: datetime,
) -> PlanAdvice:
    """Every plan in the account's currency with a version in force at ``as_of``, priced over ``cycles`` (oldest
    first) and the open cycle's forecast; ``current_plan_id`` is the plan the account is on now."""
    inputs = [cycle.invoice for cycle in cycles] + ([open_cycle.invoice] if open_cycle else [])
    if not inputs:
        raise ValueError("the plan advisor needs a closed cycle or the open cycle")
    currency = inputs[0].currency
    calendar = PlanCalendar(catalog)
    candidates, excluded = _candidates(catalog, currency, _services_used(inputs), as_of)
    options = [_option(calendar, plan_id, cycles, open_cycle, current_plan_id) for plan_id in candidates]
    options.sort(key=_cheapest_first)
    billed = tuple(cycle.billed_total_minor for cycle in cycles)
    cheapest = options[0] if options and _comparable(options[0]) is not None else None
    saving = 0
    if cheapest is not None:
        reference = next((option for option in options if option.is_current), None)
        baseline = sum(billed) if cycles else (reference.forecast_minor if reference else None)
        saving = max(0, (baseline or 0) - (_comparable(cheapest) or 0)) if baseline is not None else 0
    return PlanAdvice(
        currency=currency,
        billed_minor=billed,
        options=tuple(options),
        cheapest_plan_id=cheapest.plan_id if cheapest else None,
        best_saving_minor=saving,
        forecast_elapsed_days=open_cycle.elapsed_days if open_cycle else None,
        forecast_cycle_days=open_cycle.invoice.cycle.days if open_cycle else None,
        excluded=excluded,
    )


def _comparable(option: PlanOption) -> int | None:
    """The figure plans are ranked by: the closed cycles' total, or the forecast when there is no closed cycle."""
    return option.total_minor if option.cycle_totals_minor else option.forecast_minor


def _cheapest_first(option: PlanOption) -> tuple[object, ...]:
    figure = _comparable(option)
    return (figure is None, figure or 0, not option.is_current, option.plan_id)


def _services_used(inputs: Sequence[InvoiceInput]) -> set[ServiceKind]:
    used = {key.service for invoice in inputs for key, units in invoice.usage_totals.items() if units}
    return used | {late.service for invoice in inputs for late in invoice.late_usage if late.units}


def _candidates(
    catalog: Catalog, currency: str, used: set[ServiceKind], as_of: datetime
) -> tuple[list[str], dict[str, str]]:
    candidates, excluded = [], {}
    for plan_id in catalog.plan_ids:
        if plan_id == NOT_YET_OPEN:
            continue
        try:
            plan = catalog.plan_in_force(plan_id, as_of)
        except CatalogError:
            excluded[plan_id] = f"no version in force at {as_of.isoformat()}"
            continue
        missing = sorted(used - set(plan.services))
        if plan.currency != currency:
            excluded[plan_id] = f"priced in {plan.currency}, not {currency}"
        elif missing:
            excluded[plan_id] = f"does not offer {', '.join(missing)}"
        else:
            candidates.append(plan_id)
    return candidates, excluded


def _option(
    calendar: PlanCalendar,
    plan_id: str,
    cycles: Sequence[BilledCycle],
    open_cycle: CycleSoFar | None,
    current_plan_id: str,
) -> PlanOption:
    exact = True
    totals: list[int | None] = []
    for cycle in cycles:
        total, cycle_exact = _price(calendar, plan_id, cycle.invoice, cycle.quantities, None)
        totals.append(total)
        exact = exact and cycle_exact
    forecast = None
    if open_cycle is not None:
        scale = (open_cycle.invoice.cycle.days, open_cycle.elapsed_days)
        forecast, forecast_exact = _price(calendar, plan_id, open_cycle.invoice, open_cycle.quantities, scale)
        exact = exact and forecast_exact
    return PlanOption(
        plan_id=plan_id,
        cycle_totals_minor=tuple(totals),
        differences_minor=tuple(
            None if total is None else total - cycle.billed_total_minor for total, cycle in zip(totals, cycles)
        ),
        forecast_minor=forecast,
        is_current=plan_id == current_plan_id,
        exact=exact,
    )


def _price(
    calendar: PlanCalendar,
    plan_id: str,
    invoice: InvoiceInput,
    quantities: Quantities | None,
    scale: tuple[int, int] | None,
) -> tuple[int | None, bool]:
    """The cycle's total on ``plan_id`` (None: not offered over the whole cycle), and whether it is exact."""
    real = [segment for segment in invoice.plan_segments if segment.plan.plan_id != NOT_YET_OPEN]
    exact = True
    if all(segment.plan.plan_id == plan_id for segment in real):
        on_plan, usage = invoice, dict(invoice.usage_totals)  # the plan it was billed on: priced as it was
    else:
        segments = _segments_on(calendar, plan_id, invoice.plan_segments)
        late_plans = [_in_force(calendar, plan_id, late.period.start) for late in invoice.late_usage]
        if segments is None or None in late_plans:
            return None, True
        late = tuple(replace(late, plan=plan) for late, plan in zip(invoice.late_usage, late_plans) if plan)
        usage, exact = _moved_usage(invoice, segments, quantities)
        on_plan = replace(invoice, plan_segments=segments, late_usage=late, usage_only_plans=())
    if scale is not None:
        usage = {key: round_minor(Decimal(units) * scale[0] / scale[1]) for key, units in usage.items()}
    try:
        return build_invoice(replace(on_plan, usage_totals=usage)).total_minor, exact
    except (InvoiceError, CatalogError):  # a version of the plan without a service the account used
        return None, True


def _in_force(calendar: PlanCalendar, plan_id: str, day: date) -> PricePlan | None:
    try:
        return calendar.in_force(plan_id, day)
    except CatalogError:
        return None


def _segments_on(
    calendar: PlanCalendar, plan_id: str, segments: Sequence[PlanSegment]
) -> tuple[PlanSegment, ...] | None:
    """The same days on ``plan_id``'s versions in force, split where a version starts; the stand-in stays."""
    version_starts = calendar.version_days(plan_id)
    result: list[PlanSegment] = []
    for segment in segments:
        if segment.plan.plan_id == NOT_YET_OPEN:
            result.append(segment)
            continue
        days = sorted({segment.start} | {day for day in version_starts if segment.start < day < segment.end})
        for first, after in zip(days, [*days[1:], segment.end]):
            plan = _in_force(calendar, plan_id, first)
            if plan is None:
                return None
            if result and result[-1].plan.label == plan.label and result[-1].end == first:
                result[-1] = replace(result[-1], end=after)
            else:
                result.append(PlanSegment(plan, first, after))
    return tuple(result)


def _moved_usage(
    invoice: InvoiceInput, segments: Sequence[PlanSegment], quantities: Quantities | None
) -> tuple[dict[UsageKey, int], bool]:
    """Each service's units on the new plan's versions (shared by their days when there are several),
    re-rounded to the new increment when it differs and the raw quantities are known."""
    billed: dict[ServiceKind, int] = defaultdict(int)
    increments: dict[ServiceKind, set[object]] = defaultdict(set)
    plans = {plan.label: plan for plan in (*(s.plan for s in invoice.plan_segments), *invoice.usage_only_plans)}
    for key, units in invoice.usage_totals.items():
        billed[key.service] += units
        increments[key.service].add(plans[f"{key.plan_id}:v{key.plan_version}"].rate_for(key.service).increment)
    days: dict[str, int] = defaultdict(int)
    versions: dict[str, PricePlan] = {}
    for segment in segments:
        if segment.plan.plan_id != NOT_YET_OPEN:
            days[segment.plan.label] += segment.days
            versions[segment.plan.label] = segment.plan
    labels = list(days)
    exact = True
    usage: dict[UsageKey, int] = {}
    for service, units in billed.items():
        increment = (
            versions[labels[-1]].rate_for(service).increment if service in versions[labels[-1]].services else None
        )
        if increment is not None and increments[service] != {increment}:
            if quantities is not None and service in quantities:
                units = sum(
                    count * billable_units(quantity, increment) for quantity, count in quantities[service].items()
                )
            else:
                exact = False
        for label, share in zip(labels, allocate(units, [days[label] for label in labels])):
            plan = versions[label]
            usage[UsageKey(plan.plan_id, plan.version, service)] = share
    return usage, exact
