"""The validator imports Great Expectations only for a run that will validate, and then early,
in the background, while Spark stages the first batch."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys, threading
from spapi_toolkit.lake.quality.gate import Validator
from spapi_toolkit.lake.storage import Lake

idle = Validator(Lake.from_uri(sys.argv[1]), "run-1")
idle.close()
print("idle", "great_expectations" in sys.modules)
busy = Validator(Lake.from_uri(sys.argv[1]), "run-2")
busy.warm()
busy.warm()  # once is enough
names = [t.name for t in threading.enumerate()]
busy.close()  # waits for the import: nothing is left half done at exit
print("warmed", names.count("gx-import"), "great_expectations" in sys.modules,
      [t.name for t in threading.enumerate()].count("gx-import"))
"""


def test_gx_is_imported_only_when_warmed_and_the_import_is_awaited_on_close(tmp_path):
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["idle False", "warmed 1 True 0"]
