"""Ingestion: SP-API → the lake's raw zone, planned, resumable and idempotent.

``planner`` turns datasets × marketplaces × dates into requests within Amazon's window rules;
``ledger`` records each request before it is sent, so a crash resumes without asking twice;
``jobs`` runs the report loop (create, poll, download, land), ``kiosk`` the Data Kiosk queries
and ``snapshots`` the API snapshots; ``pipeline`` runs them for sellers × datasets;
``notifications`` sets up SQS notifications and lands what they announce. It joins the two
stages below it: ``spapi_toolkit.api`` and ``spapi_toolkit.lake``.
"""
