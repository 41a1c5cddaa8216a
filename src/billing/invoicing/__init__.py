"""Cycle close (invoicing): due cycles -> invoices with gap-free numbers, invoice.issued.v1 events in the outbox.

The pricing rules and the catalog are the pure core's (``rules/``); the shell modules fetch inputs, call it, and
write the results with the bookkeeping that must commit with them.
"""
