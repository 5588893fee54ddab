"""Data quality: Great Expectations suites generated from the contracts (``suites``), run on a
batch before it is published and on demand (``gate``), and their Data Docs (``docs``)."""
