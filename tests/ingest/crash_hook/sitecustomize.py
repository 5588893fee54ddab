"""Loaded at start-up by the ``spapi ingest`` processes of the crash test (the test puts this
folder on their PYTHONPATH); does nothing unless ``CRASH_PAUSE_AT`` is set.

``CRASH_PAUSE_AT=<kind>:<n>`` holds the process just before it renames its n-th temp file of
that kind into place (``ledger``: a ledger entry, ``raw``: a raw object, ``manifest``: a raw
object's manifest): the temp file is complete and fsynced, the rename not done. The path of the
temp file is written to ``CRASH_PAUSE_MARKER``, then the process sleeps until the test kills it,
so the kill lands inside that write however loaded the machine is.
"""

from __future__ import annotations

import os
import threading
import time

_SPEC = os.environ.get("CRASH_PAUSE_AT", "")
_real_replace = os.replace
_seen = 0
_lock = threading.Lock()


def _kind(target: str) -> str | None:
    if f"{os.sep}_state{os.sep}ledger{os.sep}" in target:
        return "ledger"
    if f"{os.sep}raw{os.sep}" in target:
        return "manifest" if target.endswith(".manifest.json") else "raw"
    return None


def _replace(src, dst, *args, **kwargs):  # type: ignore[no-untyped-def]
    global _seen
    kind, _, count = _SPEC.partition(":")
    if os.path.basename(os.fspath(src)).startswith(".tmp-") and _kind(os.fspath(dst)) == kind:
        with _lock:
            _seen += 1
            hit = _seen == int(count)
        if hit:
            marker = os.environ["CRASH_PAUSE_MARKER"]
            with open(marker + ".part", "w") as out:
                out.write(os.fspath(src))
            _real_replace(marker + ".part", marker)
            time.sleep(300)  # the test kills the process here
    return _real_replace(src, dst, *args, **kwargs)


if _SPEC:
    os.replace = _replace
