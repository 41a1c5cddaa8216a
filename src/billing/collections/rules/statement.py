"""An account statement: the ledger entries of a period with a running balance that ends at the balance.

The opening balance is the signed sum of every entry before the period; each line adds its entry; the closing
balance is the balance at the end of the period (the account's balance when the period reaches today).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from billing.collections.rules.ledger import Entry, ordered


@dataclass(frozen=True)
class StatementLine:
    entry: Entry
    amount_minor: int  # signed: what it added to the balance
    balance_minor: int  # after it


@dataclass(frozen=True)
class Statement:
    opening_minor: int
    lines: tuple[StatementLine, ...]

    @property
    def closing_minor(self) -> int:
        return self.lines[-1].balance_minor if self.lines else self.opening_minor


def statement(entries: Iterable[Entry], start: datetime, end: datetime) -> Statement:
    """Entries at or after `start` and before `end`."""
    facts = ordered(entries)
    running = sum(e.signed_minor for e in facts if e.at < start)
    opening = running
    lines = []
    for entry in facts:
        if start <= entry.at < end:
            running += entry.signed_minor
            lines.append(StatementLine(entry, entry.signed_minor, running))
    return Statement(opening, tuple(lines))
