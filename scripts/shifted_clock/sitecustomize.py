"""Moves the wall clock of every Python process started with ``SPAPI_TEST_SHIFT_DAYS`` set.

Used by ``scripts/test-shifted-clock`` through ``PYTHONPATH``, so the test processes and every
process they start (the sandbox, moto, ``spapi`` subprocesses) see the same moved clock.
time-machine moves ``datetime.now``, ``time.time`` and friends; monotonic time and sleeping are
left alone, as on a machine whose clock is simply set to another day.
"""

import os

_days = os.environ.get("SPAPI_TEST_SHIFT_DAYS")
if _days:
    from datetime import UTC, datetime, timedelta

    import time_machine

    _real = datetime.now(UTC)
    time_machine.travel(_real + timedelta(days=float(_days)), tick=True).start()
