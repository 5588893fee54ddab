"""Moves the wall clock of every Python process of the project's virtual environment.

``scripts/test-shifted-clock`` copies this module into ``.venv``'s site-packages with a ``.pth``
line that calls ``travel(days)`` at interpreter start, and removes both when it ends. Every
Python process of the venv then sees the moved clock (the tests, the sandbox, moto, ``spapi``
subprocesses, whatever environment they were given), as on a machine whose clock is set to
another day. time-machine moves ``datetime.now``, ``time.time`` and friends; monotonic time and
sleeping are left alone.
"""

from datetime import UTC, datetime, timedelta

_travelling = False


def travel(days: float) -> None:
    """Start the move once per interpreter (site may read the .pth twice: lib and lib64)."""
    global _travelling
    if _travelling:
        return
    _travelling = True
    import time_machine

    time_machine.travel(datetime.now(UTC) + timedelta(days=days), tick=True).start()
