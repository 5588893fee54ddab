"""The toolkit on AWS: Lambda handlers (``handlers``) that run ingestion one step at a time for
Step Functions (``ingest``), consume the notification queue (``notifications``), set up Lake
Formation (``lakeformation``), log redacted JSON (``logs``), and ``deploy`` (build, upload,
CloudFormation). Everything they do is the CLI's code: the ledger, the landing, the consumer.

Only the CLI imports this package; it imports ``ingest``, ``api`` and ``lake``.
"""
