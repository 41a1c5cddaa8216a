"""Cycle close (invoicing): due cycles -> invoices with gap-free numbers, invoice.issued.v1 events in the outbox.

The pricing rules are the pure core's (streams/billing/); this package fetches inputs, calls it, and writes
the results with the bookkeeping that must commit with them.
"""

from streams.invoicing.closer import close_due_cycles, due_cutoff
from streams.invoicing.held import ReleaseError, held_invoices, release_held, void_held
from streams.invoicing.loop import CycleCloser, event_time_clock
from streams.invoicing.model import CloseReport

__all__ = [
    "CloseReport",
    "CycleCloser",
    "ReleaseError",
    "close_due_cycles",
    "due_cutoff",
    "event_time_clock",
    "held_invoices",
    "release_held",
    "void_held",
]
