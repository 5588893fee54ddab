"""spapi-lake: Amazon Selling Partner API data into an AWS data lake.

The package is layered so that dependencies point one way: ``models`` (Amazon's published API
models) and ``regions`` (endpoints, marketplaces) are data; ``auth``, ``ratelimit`` and
``client`` talk to SP-API and know nothing of the lake.
"""

__version__ = "0.1.0"
