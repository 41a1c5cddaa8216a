"""The pre-tax part of a bill explanation: every charge and discount line of two invoices falls into one cause.

Each function returns causes whose amounts are differences of line amounts (or a difference split in two by a
re-rounded counterfactual), so together they add up to the change of the taxable amount exactly; tax shares are
added by ``explanation.py``. A line that lacks the reader fields (an invoice rebuilt from an older stored row)
is read from its deterministic line id instead (see ``calculation.py``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from billing.invoicing.rules.catalog import ServiceKind
from billing.invoicing.rules.explanation_model import Cause, CauseKind
from billing.invoicing.rules.invoice_model import InvoiceDraft, InvoiceLine, LineKind
from billing.money import round_minor

_USAGE_KINDS = {LineKind.INCLUDED, LineKind.USAGE, LineKind.MINIMUM}


def line_service(line: InvoiceLine) -> ServiceKind | None:
    if line.service is not None:
        return line.service
    if line.kind in _USAGE_KINDS:
        return ServiceKind(line.line_id.split(":")[-2])
    if line.kind is LineKind.LATE_USAGE:
        return ServiceKind(line.line_id.split(":")[-1])
    return None


def line_plan(line: InvoiceLine) -> str | None:
    """ "plan_id:vN" of a recurring or usage line."""
    if line.plan_id is not None:
        return f"{line.plan_id}:v{line.plan_version}"
    if line.kind is LineKind.RECURRING or line.kind in _USAGE_KINDS:
        parts = line.line_id.split(":")
        return f"{parts[1]}:{parts[2]}"
    return None


def _plan_id(label: str) -> str:
    return label.rsplit(":v", 1)[0]


def _charge(kind: CauseKind, amount: int, detail: str, **about: object) -> Cause:
    return Cause(kind, amount, amount, 0, detail, **about)  # type: ignore[arg-type]


def _change_kind(previous: str | None, current: str | None) -> CauseKind:
    if previous is not None and current is not None and _plan_id(previous) == _plan_id(current):
        return CauseKind.PRICE_CHANGE
    return CauseKind.PLAN_CHANGE


# -- recurring fee -------------------------------------------------------------------------------------------


def _fee(draft: InvoiceDraft | None) -> tuple[int, int, str | None, str]:
    """(the whole-cycle fee of the plan in force at the cycle's end, proration against it, that plan, days text)."""
    lines = [] if draft is None else [line for line in draft.lines if line.kind is LineKind.RECURRING]
    if not lines:
        return 0, 0, None, ""
    reference = lines[-1]  # segments are in date order: the last is the plan the customer is on now
    full = reference.amount_minor if reference.full_fee_minor is None else reference.full_fee_minor
    days = ", ".join(f"{line.units} days on {line_plan(line)}" for line in lines)
    return full, sum(line.amount_minor for line in lines) - full, line_plan(reference), days


def fee_causes(current: InvoiceDraft, previous: InvoiceDraft | None) -> list[Cause]:
    full, proration, plan, days = _fee(current)
    old_full, old_proration, old_plan, old_days = _fee(previous)
    causes = []
    if previous is None:
        causes.append(_charge(CauseKind.RECURRING_FEE, full, f"fee of {plan}", plan=plan))
    elif full != old_full or plan != old_plan:
        kind = CauseKind.PRORATION if plan is None or old_plan is None else _change_kind(old_plan, plan)
        causes.append(
            _charge(kind, full - old_full, f"fee of {plan} instead of {old_plan}", plan=plan, previous_plan=old_plan)
        )
    if proration != old_proration:
        detail = f"{days or 'no fee'} of {current.cycle.days} (previously {old_days or 'none'})"
        causes.append(_charge(CauseKind.PRORATION, proration - old_proration, detail, plan=plan))
    return causes


# -- usage per service ---------------------------------------------------------------------------------------


@dataclass
class _ServiceBill:
    units: int = 0
    allowance: bool = False  # the plan granted an allowance that this usage drew on
    tiers: dict[int, list[InvoiceLine]] = field(default_factory=lambda: defaultdict(list))
    minimum_minor: int = 0
    plans: set[str] = field(default_factory=set)

    def tier(self, number: int) -> tuple[int, int, set[Decimal]]:
        """(units, amount, unit prices) of one tier over the plan versions that priced this service."""
        lines = self.tiers.get(number, [])
        prices = {line.unit_price for line in lines if line.unit_price is not None}
        return sum(line.units or 0 for line in lines), sum(line.amount_minor for line in lines), prices


def _service_bills(draft: InvoiceDraft | None) -> dict[ServiceKind, _ServiceBill]:
    bills: dict[ServiceKind, _ServiceBill] = defaultdict(_ServiceBill)
    for line in () if draft is None else draft.lines:
        if line.kind not in _USAGE_KINDS:
            continue
        bill = bills[line_service(line)]  # type: ignore[index]
        bill.plans.add(line_plan(line) or "")
        bill.units += line.units or 0
        if line.kind is LineKind.INCLUDED:
            bill.allowance = True
        elif line.kind is LineKind.MINIMUM:
            bill.minimum_minor += line.amount_minor
        else:
            bill.tiers[int(line.line_id.rsplit(":tier", 1)[1])].append(line)
    return bills


def _tier_causes(service: ServiceKind, number: int, now: _ServiceBill, before: _ServiceBill) -> list[Cause]:
    units, amount, prices = now.tier(number)
    old_units, old_amount, old_prices = before.tier(number)
    about = {"service": service, "units_change": units - old_units}
    if bool(units) != bool(old_units):  # the tier was reached, or is no longer reached
        reached = "reached" if units else "no longer reached"
        if number > 1:
            return [
                _charge(
                    CauseKind.TIER_CROSSED,
                    amount - old_amount,
                    f"{service} tier {number} {reached}",
                    tier=number,
                    **about,
                )
            ]
        if now.allowance or before.allowance:
            beyond = "beyond" if units else "back within"
            return [
                _charge(
                    CauseKind.ALLOWANCE_EXHAUSTED, amount - old_amount, f"{service} {beyond} the allowance", **about
                )
            ]
        return [_charge(CauseKind.USAGE, amount - old_amount, f"{service} usage", **about)]
    if len(prices) == len(old_prices) == 1 and prices != old_prices:
        # Another price for the tier: this tier's units at the old price tell the price's part from the volume's.
        at_old_price = round_minor(units * next(iter(old_prices)))
        kind = _change_kind(min(before.plans), min(now.plans))
        return [
            _charge(
                kind,
                amount - at_old_price,
                f"{service} tier {number} price",
                service=service,
                plan=min(now.plans),
                previous_plan=min(before.plans),
            ),
            _charge(CauseKind.USAGE, at_old_price - old_amount, f"{service} usage", **about),
        ]
    return [_charge(CauseKind.USAGE, amount - old_amount, f"{service} usage", **about)]


def usage_causes(current: InvoiceDraft, previous: InvoiceDraft | None) -> list[Cause]:
    now_bills, old_bills = _service_bills(current), _service_bills(previous)
    causes: list[Cause] = []
    for service in ServiceKind:
        if service not in now_bills and service not in old_bills:
            continue
        now, before = now_bills[service], old_bills[service]
        for number in sorted(set(now.tiers) | set(before.tiers)):
            causes += _tier_causes(service, number, now, before)
        if now.minimum_minor != before.minimum_minor:
            detail = f"{service} top-up to the minimum charge"
            causes.append(
                _charge(CauseKind.MINIMUM_CHARGE, now.minimum_minor - before.minimum_minor, detail, service=service)
            )
    return causes


# -- late usage, discounts, credits --------------------------------------------------------------------------


def late_causes(current: InvoiceDraft, previous: InvoiceDraft | None) -> list[Cause]:
    amounts: dict[ServiceKind, int] = defaultdict(int)
    periods: dict[ServiceKind, list[str]] = defaultdict(list)
    for sign, draft in ((1, current), (-1, previous)):
        for line in () if draft is None else draft.lines:
            if line.kind is LineKind.LATE_USAGE:
                service = line_service(line)
                amounts[service] += sign * line.amount_minor  # type: ignore[index]
                if sign == 1 and line.period is not None:
                    periods[service].append(f"cycle starting {line.period.start}")  # type: ignore[index]
    return [
        _charge(
            CauseKind.LATE_USAGE,
            amount,
            f"late {service} usage ({', '.join(periods[service]) or 'none now'})",
            service=service,
        )
        for service, amount in amounts.items()
        if amount
    ]


def _grants(draft: InvoiceDraft | None, kind: LineKind) -> dict[str, int]:
    lines = () if draft is None else draft.lines
    return {line.line_id.split(":", 1)[1]: line.amount_minor for line in lines if line.kind is kind}


def grant_causes(current: InvoiceDraft, previous: InvoiceDraft | None, kind: LineKind) -> list[Cause]:
    """Discount (``LineKind.DISCOUNT``) or credit (``LineKind.CREDIT``) causes, one per grant that moved."""
    now, before = _grants(current, kind), _grants(previous, kind)
    causes = []
    for grant_id in [*now, *(grant for grant in before if grant not in now)]:
        change = now.get(grant_id, 0) - before.get(grant_id, 0)
        if not change:
            continue
        if kind is LineKind.CREDIT:
            cause_kind = CauseKind.CREDIT
        elif grant_id not in before:
            cause_kind = CauseKind.DISCOUNT_STARTED
        elif grant_id not in now:
            cause_kind = CauseKind.DISCOUNT_ENDED
        else:
            cause_kind = CauseKind.DISCOUNT_CHANGED
        causes.append(_charge(cause_kind, change, f"{kind} grant {grant_id}", grant_id=grant_id))
    return causes
