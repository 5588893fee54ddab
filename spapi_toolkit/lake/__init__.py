"""The lake core: what the data is, where it lives and how it lands.

``registry`` declares every dataset once (``data/datasets.toml``); ``layout`` says where each
zone and raw key lives; ``storage`` reads and writes a local folder or S3; ``landing`` stores a
streamed document unchanged with its manifest. It needs the standard library alone (boto3 only
when an S3 lake is used), so a Glue job imports it without HTTP or auth code; the import-linter
contracts in ``pyproject.toml`` and ``tests/test_layout.py`` keep it so.
"""
