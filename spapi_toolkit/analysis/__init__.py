"""What the notebooks share: the scope of an analysis (``scope``) and honest charts (``charts``).

A notebook's parameters cell names a lake (or an Athena workgroup), marketplaces, a date range
and a reporting currency; ``scope()`` turns them into a ``Scope`` that runs the package's named
queries with those parameters, refuses empty results, and says how fresh and how good the
tables it reads are.
"""

from spapi_toolkit.analysis.scope import EmptyResult, Scope, scope

__all__ = ["EmptyResult", "Scope", "scope"]
