"""AWS Glue 5.1 job: the lake's cleaned zone into its marts (``spapi_toolkit.lake.curate``).

A thin entry script; arguments, Glue-or-local and exit status are ``spapi_toolkit.lake.curate.
entry``'s (its docstring says them all). Only the mart partitions whose cleaned partitions
changed since the last run are rebuilt. The same file runs on Glue and locally::

    python glue_jobs/cleaned_to_aggregated.py --lake ./lake [--tables sales_daily]
        [--full_refresh true]
"""

import sys

from spapi_toolkit.lake.curate.entry import CLEANED_TO_AGGREGATED, main

if __name__ == "__main__":
    status = main(CLEANED_TO_AGGREGATED)
    if status:  # no sys.exit(0): success is the script simply ending, on Glue too
        sys.exit(status)
