"""Pure rating and invoicing core: no I/O, no clock, stdlib only.

Modules: ``money`` (the rounding rule), ``catalog`` (versioned price plans),
``cycles`` (billing periods), ``rating`` (events to units to money),
``invoicing`` (invoice drafts), ``safety`` (outlier check), ``numbering``.
"""
