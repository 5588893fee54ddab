"""The suites run on demand over what is published (``spapi quality``), gating nothing.

Each published cleaned table and mart is read whole (partition columns typed as its contract
says) and validated by its suite in one GX run, with the same ``_check_*`` columns the jobs'
gates add: the request windows from the raw documents' manifests, and a mart's totals from the
cleaned rows it was built from as published (``gate.with_mart_totals``: its ``from_table``, or
an ``or_from`` table's on a day the former does not hold). The latest result per table, the
full GX results and the Data Docs land in the lake's ``_quality/`` as in a job run (``gate``'s
module doc).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from spapi_toolkit.clock import SYSTEM_CLOCK, Clock
from spapi_toolkit.lake.curate import publish as publishing
from spapi_toolkit.lake.curate import sources
from spapi_toolkit.lake.curate.publish import is_published
from spapi_toolkit.lake.marts import Mart, marts
from spapi_toolkit.lake.quality.gate import (
    Outcome,
    Validator,
    gated_run,
    with_mart_totals,
    with_windows,
)
from spapi_toolkit.lake.quality.suites import CLEANED, Spec, specs
from spapi_toolkit.lake.quality.suites import spec as spec_of
from spapi_toolkit.lake.storage import Lake
from spapi_toolkit.lake.tables import Table, tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def _contract(spec: Spec) -> Table | Mart:
    """The contract ``spec`` was generated from: a cleaned table's or a mart's."""
    return tables()[spec.table] if spec.zone == CLEANED else marts()[spec.table]


def read_published(spark: SparkSession, lake: Lake, spec: Spec) -> DataFrame:
    """The whole published table of ``spec`` (``publish.read_published``)."""
    return publishing.read_published(spark, lake, _contract(spec), spec.zone)


def check_published(
    spark: SparkSession,
    lake: Lake,
    names: Sequence[str] | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
    progress: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run the suites of ``names`` (tables or marts; default all) on their published tables;
    tables not published yet are skipped. Writes the results and Data Docs (module doc)."""

    def check(spec: Spec, validator: Validator) -> Outcome:
        frame = read_published(spark, lake, spec)
        if spec.needs_windows():
            documents = sources.raw_documents(lake, tables()[spec.table])
            frame = with_windows(spark, frame, spec, sources.windows(documents))
        if spec.totals():
            mart = marts()[spec.table]
            cleaned = {name: read_published(spark, lake, spec_of(CLEANED, name))
                       for name in mart.sources
                       if is_published(lake, tables()[name], CLEANED)}  # fmt: skip
            frame = with_mart_totals(frame, spec, mart, cleaned)
        return validator.validate(frame, spec)

    chosen = [s for s in specs(list(names) if names else None)
              if is_published(lake, _contract(s), s.zone)]  # fmt: skip
    return gated_run(lake, clock, chosen, check, progress)
