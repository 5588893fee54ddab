"""SP-API: Login with Amazon, rate limits and one client for every operation of the models.

The first stage of the flow SP-API → raw → cleaned → aggregated → notebooks. ``client``'s
``SpApiClient`` owns the connection, the LWA token (``auth``, from ``credentials``), the rate
limits (``ratelimit/``) and retries; ``reports`` streams report documents; ``rdt`` gets
Restricted Data Tokens; ``consent`` runs website authorization; ``models`` reads Amazon's
bundled API models; ``errors`` is the exception family. Nothing here knows of the lake.
"""
