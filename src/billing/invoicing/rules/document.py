"""The customer invoice document as data: every block and line already worded and formatted, so the HTML template
(``invoicing/templates/invoice.html.j2``), the API's JSON and the CLI print the same text.

Pure: the shell (``invoicing/documents.py``) reads the stored invoice, the account, the credit notes and the event
counts; this module only words and formats them (``formatting.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from babel import Locale

from billing.invoicing.rules import formatting as fmt
from billing.invoicing.rules.explanation_model import Cause, CauseKind, Explanation
from billing.invoicing.rules.stored_invoice import StoredInvoice

# The unit each service is rated in on the wire (billing.contracts.usage), for lines that do not say theirs.
_SERVICE_UNIT = {"voice": "second", "sms": "message", "data": "byte"}
_SERVICE_NAME = {"voice": "Voice", "sms": "SMS", "data": "Data"}


@dataclass(frozen=True)
class Party:
    name: str
    address: str = ""
    email: str | None = None
    phone: str | None = None
    tax_id: str | None = None
    account_id: str | None = None


@dataclass(frozen=True)
class CreditNote:
    number: str
    issued_at: datetime
    amount_minor: int
    reason: str


EventCounts = Mapping[tuple[str, int, str], int]  # (plan_id, plan_version, service) -> events in the period


def _row(title: str, amount_minor: int | None, ctx: _Context, **extra: Any) -> dict[str, Any]:
    return {
        "title": title,
        "detail": extra.pop("detail", ""),
        "quantity": extra.pop("quantity", ""),
        "unit_price": extra.pop("unit_price", ""),
        "amount_minor": amount_minor,
        "amount": "" if amount_minor is None else ctx.money(amount_minor),
        **extra,
    }


@dataclass(frozen=True)
class _Context:
    currency: str
    locale: Locale

    def money(self, amount_minor: int) -> str:
        return fmt.format_money(amount_minor, self.currency, self.locale)

    def signed(self, amount_minor: int) -> str:
        return ("+" if amount_minor > 0 else "") + self.money(amount_minor)

    def day(self, value: date | str | None) -> str:
        if value is None:
            return ""
        return fmt.format_day(value if isinstance(value, date) else date.fromisoformat(value), self.locale)

    def period(self, start: date | str, end: date | str) -> str:
        """Inclusive dates as a customer reads them: the stored end is the day after."""
        last = (end if isinstance(end, date) else date.fromisoformat(end)).toordinal() - 1
        return f"{self.day(start)} - {self.day(date.fromordinal(last))}"


def _plan(line: Mapping[str, Any]) -> str:
    return f"{line['plan_id']} v{line['plan_version']}" if line.get("plan_id") else ""


def _quantity(line: Mapping[str, Any], ctx: _Context) -> str:
    if line.get("quantity") is None:
        return ""
    unit = line.get("unit") or _SERVICE_UNIT.get(line.get("service") or "")
    return fmt.format_quantity(int(line["quantity"]), unit, ctx.locale)


def _recurring(line: Mapping[str, Any], ctx: _Context) -> dict[str, Any]:
    days, period_days, full = line.get("days"), line.get("period_days"), line.get("full_fee_minor")
    detail = ""
    if days is not None and period_days is not None:
        detail = f"{days} of {period_days} days" + (f" of {ctx.money(full)}" if full is not None else "")
    return _row(f"{_plan(line) or line['description']}: recurring fee", line["amount_minor"], ctx, detail=detail)


def _band(line: Mapping[str, Any], ctx: _Context) -> str:
    unit = line.get("unit") or _SERVICE_UNIT.get(line.get("service") or "")
    low, high = line.get("tier_from_units"), line.get("tier_up_to_units")
    if low is None:
        return ""
    start = fmt.format_quantity(int(low), unit, ctx.locale)
    if high is None:
        return f"beyond the allowance, over {start}" if low else "beyond the allowance"
    end = fmt.format_quantity(int(high), unit, ctx.locale)
    return f"first {end} beyond the allowance" if not low else f"beyond the allowance, {start} to {end}"


def _usage(line: Mapping[str, Any], ctx: _Context) -> dict[str, Any]:
    service = _SERVICE_NAME.get(line.get("service") or "", "")
    line_id = str(line["line_id"])
    if line.get("allowance_units") is not None or line_id.endswith(":included"):
        allowance = line.get("allowance_units")
        detail = ""
        if allowance is not None:
            unit = line.get("unit") or _SERVICE_UNIT.get(line.get("service") or "")
            used = int(line.get("quantity") or 0)
            left = fmt.format_quantity(max(0, int(allowance) - used), unit, ctx.locale)
            detail = f"allowance {fmt.format_quantity(int(allowance), unit, ctx.locale)}: {left} left"
        return _row(
            f"{service} included in plan", line["amount_minor"], ctx, detail=detail, quantity=_quantity(line, ctx)
        )
    if line_id.endswith(":minimum"):
        return _row(f"{service} top-up to the minimum charge", line["amount_minor"], ctx)
    price = line.get("unit_price_minor")
    unit = line.get("unit") or _SERVICE_UNIT.get(line.get("service") or "")
    title = f"{service} tier {line['tier']}" if line.get("tier") else line["description"]
    return _row(
        title,
        line["amount_minor"],
        ctx,
        detail=_band(line, ctx),
        quantity=_quantity(line, ctx),
        unit_price="" if price is None else fmt.format_unit_price(Decimal(price), unit, ctx.currency, ctx.locale),
    )


def _late(line: Mapping[str, Any], ctx: _Context) -> dict[str, Any]:
    service = _SERVICE_NAME.get(line.get("service") or "", "")
    if line.get("late_period_start") and line.get("late_period_end"):
        title = f"Late {service or 'other'} usage of {ctx.period(line['late_period_start'], line['late_period_end'])}"
    else:
        title = line["description"]
    detail = f"priced on {_plan(line)} as it would have been on time" if line.get("plan_id") else ""
    return _row(title, line["amount_minor"], ctx, detail=detail, quantity=_quantity(line, ctx))


def _grant(line: Mapping[str, Any], ctx: _Context) -> dict[str, Any]:
    what = "Discount" if line["kind"] == "discount" else "Account credit"
    if line.get("percent_bp") is not None:
        what += f" {fmt.format_rate(int(line['percent_bp']))}"
    detail = f"grant {line['grant_id']}" if line.get("grant_id") else line["description"]
    if line.get("carried_forward_minor") is not None:
        detail += f"; {ctx.money(int(line['carried_forward_minor']))} carried forward to your next bill"
    return _row(what, line["amount_minor"], ctx, detail=detail)


_ROWS = {"recurring": _recurring, "usage": _usage, "adjustment": _late, "discount": _grant, "credit": _grant}


def _groups(invoice: StoredInvoice, ctx: _Context, events: EventCounts) -> list[dict[str, Any]]:
    """Charge lines grouped by plan and service, each group headed by what was used ("12 calls, 47 min 13 s")."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for line in invoice.lines:
        if line["kind"] not in ("recurring", "usage"):
            continue
        key = (_plan(line), (line.get("service") or "") if line["kind"] == "usage" else "")
        if key not in groups:
            groups[key] = {"title": _group_title(key), "used": "", "rows": [], "units": 0, "line": line}
        groups[key]["rows"].append(_ROWS[line["kind"]](line, ctx))
        groups[key]["units"] += int(line.get("quantity") or 0) if line["kind"] == "usage" else 0
    for (_plan_label, service), group in groups.items():
        line = group.pop("line")
        units = group.pop("units")
        if service:
            count = events.get((str(line.get("plan_id")), int(line.get("plan_version") or 0), service))
            # An SMS is one message: its count of events is its quantity, said once.
            used = [fmt.format_events(service, count, ctx.locale)] if count is not None and service != "sms" else []
            unit = line.get("unit") or _SERVICE_UNIT.get(service)
            group["used"] = ", ".join([*used, fmt.format_quantity(units, unit, ctx.locale)])
    return list(groups.values())


def _group_title(key: tuple[str, str]) -> str:
    plan, service = key
    if not service:
        return f"Plan {plan}" if plan else "Plan"
    name = _SERVICE_NAME.get(service, service)
    return f"{name} ({plan})" if plan else name


_CAUSE_TEXT = {
    CauseKind.ALLOWANCE_EXHAUSTED: "{service} usage went beyond the allowance{on}",
    CauseKind.TIER_CROSSED: "{service} usage reached price tier {tier}",
    CauseKind.USAGE: "{more} {service} usage",
    CauseKind.LATE_USAGE: "{detail}",
}


def cause_text(cause: Cause, ctx: _Context) -> str:
    service = _SERVICE_NAME.get(cause.service or "", "")
    if cause.amount_minor < 0 and cause.kind is CauseKind.ALLOWANCE_EXHAUSTED:
        return f"{service} usage stayed within the allowance"
    template = _CAUSE_TEXT.get(cause.kind) if service else None
    if template is None:
        return cause.detail[:1].upper() + cause.detail[1:]
    return template.format(
        service=service,
        tier=cause.tier,
        on=f" on {ctx.day(cause.day)}" if cause.day else "",
        more="More" if cause.amount_minor > 0 else "Less",
        detail=cause.detail,
    )


def changes(explanation: Explanation | None, note: str | None, ctx: _Context) -> dict[str, Any]:
    if explanation is None:
        return {"available": False, "note": note or "", "causes": []}
    return {
        "available": True,
        "first": explanation.is_first,
        "previous_total": None if explanation.is_first else ctx.money(explanation.previous_total_minor or 0),
        "change": ctx.signed(explanation.change_minor),
        "change_minor": explanation.change_minor,
        "note": note or "",
        "causes": [
            {
                "kind": c.kind.value,
                "text": cause_text(c, ctx),
                "amount": ctx.signed(c.amount_minor),
                "amount_minor": c.amount_minor,
            }
            for c in explanation.causes
        ],
    }


def invoice_document(
    invoice: StoredInvoice,
    *,
    seller: Party,
    customer: Party,
    credit_notes: Sequence[CreditNote] = (),
    events: EventCounts | None = None,
    explanation: Explanation | None = None,
    explanation_note: str | None = None,
    jurisdiction: str | None = None,
) -> dict[str, Any]:
    """The document's data: JSON-ready (strings, ints, lists, dicts) and the same for every surface."""
    jurisdiction = invoice.jurisdiction or jurisdiction
    ctx = _Context(invoice.currency, fmt.locale_for(jurisdiction))
    rate = invoice.tax_rate_bp
    tax_label = fmt.tax_name(jurisdiction) + (f" {fmt.format_rate(rate)}" if rate is not None else "")
    where = fmt.territory_name(jurisdiction, ctx.locale)
    credited = sum(note.amount_minor for note in credit_notes)
    return {
        "invoice_id": invoice.invoice_id,
        "origin": invoice.origin,
        "status": invoice.status,
        "number": invoice.invoice_number or "",
        "issued_on": ctx.day(invoice.issued_at.date()) if invoice.issued_at else "",
        "due_on": ctx.day(invoice.due_date),
        "period": ctx.period(invoice.period_start, invoice.period_end),
        "currency": invoice.currency,
        "locale": str(ctx.locale),
        "seller": vars(seller),
        "customer": vars(customer),
        "groups": _groups(invoice, ctx, events or {}),
        "late_usage": [_late(line, ctx) for line in invoice.lines if line["kind"] == "adjustment"],
        "reductions": [_grant(line, ctx) for line in invoice.lines if line["kind"] in ("discount", "credit")],
        "subtotal": ctx.money(invoice.sum_of("recurring", "usage", "adjustment")),
        "discounts": ctx.money(invoice.sum_of("discount")),
        "tax": {"label": tax_label + (f" ({where})" if where else ""), "amount": ctx.money(invoice.sum_of("tax"))},
        "credits": ctx.money(invoice.sum_of("credit")),
        "total_minor": invoice.total_minor,
        "total": ctx.money(invoice.total_minor),
        "credit_notes": [
            {
                "number": n.number,
                "issued_on": ctx.day(n.issued_at.date()),
                "amount": ctx.money(-n.amount_minor),
                "reason": n.reason,
            }
            for n in credit_notes
        ],
        "remaining": ctx.money(invoice.total_minor - credited) if credit_notes else "",
        "changes": changes(explanation, explanation_note, ctx),
    }
