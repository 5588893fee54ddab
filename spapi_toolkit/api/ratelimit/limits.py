"""The official rate-limit table: each operation's default rate and burst.

Amazon publishes a usage plan (rate, burst) in every operation's model; ``data/rate_limits.csv``
is generated from the bundled models (``render_limits_table``) and read by ``official_limits``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from spapi_toolkit.api.models import all_operations

OFFICIAL_LIMITS_PATH = Path(str(resources.files("spapi_toolkit").joinpath("data/rate_limits.csv")))

# Operations whose model has no usage plan (sandbox-only or new) get this, the most cautious
# limit the published tables use.
DEFAULT_LIMIT = (0.0167, 1)


_TABLE_FIELDS = ("model", "operation_id", "method", "path", "rate", "burst", "notes")


def render_limits_table() -> str:
    """The CSV of every bundled operation's default rate and burst, generated from the models."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_TABLE_FIELDS)
    for op in all_operations():
        plan = op.usage_plan
        notes = [
            flag
            for flag, on in (
                ("deprecated", op.deprecated),
                ("sandbox-only", op.sandbox_only),
                ("grantless", op.grantless),
                ("no usage plan in model", plan is None),
            )
            if on
        ]
        rate, burst = (f"{plan[0]:g}", str(plan[1])) if plan else ("", "")
        writer.writerow(
            (op.model, op.operation_id, op.method, op.path, rate, burst, ";".join(notes))
        )
    return out.getvalue()


@dataclass(frozen=True)
class OfficialLimit:
    """The default usage plan of one operation."""

    model: str
    operation_id: str
    rate: float
    burst: int
    from_model: bool  # False where the model has no usage plan and DEFAULT_LIMIT applies


def official_limits() -> dict[str, OfficialLimit]:
    """The shipped table, keyed by ``"<model>.<operationId>"``."""
    limits = {}
    with OFFICIAL_LIMITS_PATH.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            from_model = bool(row["rate"])
            rate, burst = (float(row["rate"]), int(row["burst"])) if from_model else DEFAULT_LIMIT
            key = f"{row['model']}.{row['operation_id']}"
            limits[key] = OfficialLimit(row["model"], row["operation_id"], rate, burst, from_model)
    return limits
