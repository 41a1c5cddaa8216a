"""Process settings for the long-running billing processes (worker, cycle close, benchmark).

Python's cyclic garbage collector runs a young-generation pass every 700 container allocations and, now and
then, a pass over every object in the process. The usage path allocates a few dozen objects per event and
the workers keep large long-lived structures (account views, Faust's tables), so with the defaults the
collector took a fifth of the worker's CPU per event and of the closer's per invoice (tools/bench/PROFILE.md).
Rarer young passes and freezing what exists at start-up (imports, configuration, the Faust app) cut that
without turning collection off: reference cycles are still collected, a full pass still runs, only less often.
"""

from __future__ import annotations

import gc

# young pass every 100,000 net allocations; middle every 50 of those; full every 100 middle passes (at the
# worker's rate, every few minutes, and a full pass skips what gc.freeze() set aside).
GC_THRESHOLDS = (100_000, 50, 100)


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
