"""SageMaker's own API model (botocore's ``sagemaker/service-2.json``), for the limits it states.

botocore is already a dependency (boto3), ships the model as data, and is updated with every API change: the
closed list of endpoint instance types (``ProductionVariantInstanceType``) and the lengths of fields such as
``ContainerDefinition.ModelDataUrl`` and ``Image`` come from there, not from hand-typed copies.
"""

from __future__ import annotations

import difflib
import functools
from typing import Any, cast


@functools.cache
def _model() -> dict[str, Any]:
    import botocore.loaders

    return cast(dict[str, Any], botocore.loaders.Loader().load_service_model("sagemaker", "service-2"))


def shape(name: str) -> dict[str, Any]:
    """One shape of the model, e.g. ``Url`` (``{"type": "string", "max": 1024, ...}``)."""
    found: dict[str, Any] = _model()["shapes"][name]
    return found


@functools.cache
def endpoint_instance_types() -> frozenset[str]:
    """Every instance type a real-time endpoint variant may use (``ProductionVariantInstanceType``)."""
    return frozenset(shape("ProductionVariantInstanceType")["enum"])


def nearest_instance_types(value: str, count: int = 3) -> list[str]:
    """The known instance types that look most like ``value`` (for a did-you-mean), the ``ml.`` form first."""
    known = endpoint_instance_types()
    prefixed = [f"ml.{value}"] if f"ml.{value}" in known else []
    close = difflib.get_close_matches(value, sorted(known), n=count, cutoff=0.6)
    return (prefixed + [c for c in close if c not in prefixed])[:count]


def max_length(shape_name: str) -> int:
    """The ``max`` length botocore's model gives a string shape."""
    return int(shape(shape_name)["max"])
