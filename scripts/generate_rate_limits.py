"""Regenerate spapi_toolkit/data/rate_limits.csv from the bundled SP-API models.

Run after updating the models: ``.venv/bin/python scripts/generate_rate_limits.py``.
tests/test_models.py fails while the committed table and the models disagree.
"""

from spapi_toolkit.api.ratelimit import OFFICIAL_LIMITS_PATH, render_limits_table

if __name__ == "__main__":
    OFFICIAL_LIMITS_PATH.write_text(render_limits_table(), encoding="utf-8")
    print(f"wrote {OFFICIAL_LIMITS_PATH}")
