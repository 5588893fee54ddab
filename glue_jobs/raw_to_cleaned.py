"""AWS Glue 5.1 job: the lake's raw zone into its cleaned zone (``spapi_toolkit.lake.curate``).

A thin entry script; arguments, Glue-or-local and exit status are ``spapi_toolkit.lake.curate.
entry``'s (its docstring says them all). The same file runs on Glue and locally::

    python glue_jobs/raw_to_cleaned.py --lake ./lake [--tables order_items,listings]
        [--full_refresh true] [--pii_hash_key_secret_id NAME_OR_ARN]
"""

import sys

from spapi_toolkit.lake.curate.entry import RAW_TO_CLEANED, main

if __name__ == "__main__":
    status = main(RAW_TO_CLEANED)
    if status:  # no sys.exit(0): success is the script simply ending, on Glue too
        sys.exit(status)
