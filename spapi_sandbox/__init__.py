"""A local SP-API: a simulated seller behind a loopback server that speaks SP-API as the models say.

For the demo (``demo``) and the tests, not for production: it serves reports, catalog, listings,
orders, pricing, inventory, Data Kiosk and notifications from a deterministic seller (same seed
and end date, same bytes) with Amazon's rate limits, quotas and injectable faults. It uses the
toolkit's models and rate-limit tables; the toolkit never imports it (``spapi sandbox`` is
mounted through the ``spapi.commands`` entry point).
"""
