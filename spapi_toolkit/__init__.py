"""spapi-lake: Amazon Selling Partner API data into an AWS data lake.

One folder per stage of the flow SP-API → raw → cleaned → aggregated → notebooks, with
dependencies pointing one way (checked by import-linter in ``make lint``):

* ``api/``    - talking to SP-API (LWA auth, rate limits, the client); knows nothing of the lake;
* ``lake/``   - the dataset registry, the key layout, storage and landing; standard library only,
  so a Glue job imports it without HTTP or auth code;
* ``ingest/`` - SP-API → raw: planner, ledger, report/Data Kiosk jobs, snapshots, notifications;
* top level   - ``clock`` (the one injectable clock), ``errors``, ``regions``, and ``cli``.
"""

__version__ = "0.1.0"
