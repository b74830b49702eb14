"""The prefixes the artifact guard watches, and the one encoding of them in its function's environment.

Every served prefix sits under ``SERVED_ROOT`` (``models/``): the guard's event rule watches that root, and the
endpoints' execution roles read below it. The ``ArtifactGuard`` construct writes its ``ServedPrefix`` list with
``encode`` into ``ENVIRONMENT_VARIABLE``; the function reads it back with ``decode``. Captured inference data goes
under ``CAPTURE_ROOT`` (``capture/``), outside the guard's root, and expires there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from hosting_contract.archive_rules import Layout

#: Every served prefix sits under this root: the artifact guard watches it, execution roles read below it.
SERVED_ROOT: Final = "models/"
#: Endpoints write their captured requests and responses under this root (``capture_prefix``); the model-artifact
#: bucket expires it, and it is outside ``SERVED_ROOT``, so the guard never takes a capture file for an archive.
CAPTURE_ROOT: Final = "capture/"
#: The artifact guard function's environment variable that holds its served prefixes (``encode``).
ENVIRONMENT_VARIABLE: Final = "SERVED_PREFIXES"


def endpoint_prefix(endpoint_name: str) -> str:
    """The conventional prefix of the endpoint deployed as ``endpoint_name``: ``models/<endpoint_name>/``."""
    return f"{SERVED_ROOT}{endpoint_name}/"


def capture_prefix(endpoint_name: str) -> str:
    """Where the endpoint deployed as ``endpoint_name`` writes captured data: ``capture/<endpoint_name>/``."""
    return f"{CAPTURE_ROOT}{endpoint_name}/"


@dataclass(frozen=True, kw_only=True)
class ServedPrefix:
    """One prefix an endpoint serves from, which the guard watches."""

    prefix: str
    """E.g. ``models/prod-home-values/``; must be under ``SERVED_ROOT`` and end with ``/``."""

    endpoint_name: str
    """The endpoint serving it (for notifications and warm-up)."""

    layout: str = Layout.FLAT.value
    """The archive layout its container expects, a ``Layout`` value: flat, tensorflow, triton or mms."""

    warm_up: bool = False
    """After a valid verdict, invoke the new model once with ``NAME.warmup.json`` stored beside it."""

    @property
    def archive_layout(self) -> Layout:
        """``layout`` as the checker takes it (``ValueError`` for an unknown one)."""
        return Layout(self.layout)


def encode(prefixes: Iterable[ServedPrefix]) -> str:
    """The environment variable's value: a JSON list of {prefix, endpoint, layout, warmUp}, keys sorted."""
    return json.dumps(
        [{"prefix": p.prefix, "endpoint": p.endpoint_name, "layout": p.layout, "warmUp": p.warm_up} for p in prefixes],
        sort_keys=True,
    )


def decode(text: str) -> list[ServedPrefix]:
    """The prefixes ``encode`` wrote; ``ValueError`` for an unknown layout or a malformed value."""
    items: Any = json.loads(text)
    if not isinstance(items, list):
        raise ValueError(f"{ENVIRONMENT_VARIABLE} must be a JSON list, not {type(items).__name__}")
    return [
        ServedPrefix(
            prefix=str(item["prefix"]),
            endpoint_name=str(item["endpoint"]),
            layout=Layout(item.get("layout", Layout.FLAT.value)).value,
            warm_up=bool(item.get("warmUp", False)),
        )
        for item in items
    ]
