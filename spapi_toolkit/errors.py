"""The base exceptions every part of the toolkit shares.

``SpApiToolkitError`` is the base of every error the package raises on purpose, so a caller can
catch the toolkit's failures in one place; ``ConfigurationError`` says which setting is missing or
malformed and where. The SP-API family (HTTP status, error code, request id) is in
``spapi_toolkit.api.errors``.
"""

from __future__ import annotations


class SpApiToolkitError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigurationError(SpApiToolkitError):
    """Settings or credentials are missing or malformed; the message says which and where."""
