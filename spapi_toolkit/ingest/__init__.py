"""Ingestion: SP-API → the lake's raw zone, planned, resumable and idempotent.

``planner`` turns datasets × marketplaces × dates into requests within Amazon's window rules;
``ledger`` records each request before it is sent, so a crash resumes without asking twice;
``jobs`` runs the job loop (create, poll, download, land) for a ``kinds.JobKind``: reports
(``report_jobs``) and Data Kiosk queries (``kiosk``); ``snapshots`` lands the API snapshots;
``pipeline`` runs them for sellers × datasets; ``notifications`` sets up SQS notifications and
lands what they announce. It joins the two stages below it: ``spapi_toolkit.api`` and
``spapi_toolkit.lake``.
"""
