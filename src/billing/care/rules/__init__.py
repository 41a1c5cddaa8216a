"""Pure customer-care queue logic: no I/O, no clock, stdlib only.

Modules: ``routing_rules`` (which queue a call lands in; the default rule set
is in ``routing_defaults``), ``priority`` (the ordering number and its
explanation), ``widening`` (which extra pools may take a task after it has
waited), ``task_states`` (the offer/lease state machine), ``service_level``
(SL, SL2, ASA, abandonment, AHT from counters), and ``config_parsing`` (the
validation shared by the three configurable modules).
"""
