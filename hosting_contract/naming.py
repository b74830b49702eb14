"""Deployed endpoint names: ``<environment>-<endpoint>``, unique in an account shared by several environments."""

from __future__ import annotations


def endpoint_name(environment: str, endpoint: str) -> str:
    """The deployed name of endpoint ``endpoint`` of ``environment``, e.g. ``dev-home-values``."""
    return f"{environment}-{endpoint}"


def deployed_endpoint_name(environment: str, given: str) -> str:
    """``given`` as a deployed name: the short name (``home-values``) or the deployed one (``dev-home-values``)."""
    return given if given.startswith(endpoint_name(environment, "")) else endpoint_name(environment, given)
