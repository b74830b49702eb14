"""The SSM parameter names the stacks publish and the tools and Lambda functions read.

Every environment publishes under ``/sagemaker-hosting/<environment>`` (no trailing slash anywhere):

- ``.../model-store/<name>``: the ModelStore stack's bucket, key, repository, guard function and alarm topic
  (``MODEL_STORE_PARAMETERS``), read by ``modelctl`` before any endpoint exists;
- ``.../artifacts/<endpoint name>``: each endpoint's archive locations (the artifact catalog, JSON);
- ``.../endpoints/<endpoint name>/<name>``: what each endpoint publishes for its clients;
- ``<snapshot root>/scaling-guard/<endpoint name>/<variant>``: the scaling guard's snapshots of released
  scalable targets; the root is handed to the function in ``SNAPSHOT_PATH_VARIABLE``.
"""

from __future__ import annotations

import re
from typing import Final

#: The root of every environment's parameters.
ROOT: Final = "/sagemaker-hosting"

BUCKET_NAME: Final = "bucket-name"
"""Model store: the model-artifact bucket's name."""
KMS_KEY_ARN: Final = "kms-key-arn"
"""Model store: the ARN of the bucket's KMS key."""
REPOSITORY_URI: Final = "repository-uri"
"""Model store: the serving-image repository's URI."""
ARTIFACT_GUARD_FUNCTION: Final = "artifact-guard-function"
"""Model store: the artifact guard function's name (``modelctl rescan`` invokes it)."""
ALARM_TOPIC_ARN: Final = "alarm-topic-arn"
"""Model store: the stage's alarm topic."""
#: Every parameter of the model store, under ``model_store_path``.
MODEL_STORE_PARAMETERS: Final = (BUCKET_NAME, KMS_KEY_ARN, REPOSITORY_URI, ARTIFACT_GUARD_FUNCTION, ALARM_TOPIC_ARN)

#: The environment variable of the scaling guard function that holds its snapshot root.
SNAPSHOT_PATH_VARIABLE: Final = "SNAPSHOT_PARAMETER_PATH"
#: The scaling guard's environment variable naming the endpoints its stack guards (comma-separated): after a
#: rollback it settles those only (the snapshot folder is shared by every Hosting stack of an environment).
GUARDED_ENDPOINTS_VARIABLE: Final = "GUARDED_ENDPOINTS"
#: An SSM parameter path: '/'-separated names of SSM's characters, no trailing '/'.
_PATH = re.compile(r"^(/[a-zA-Z0-9_.-]+)+\Z")


def is_path(path: str) -> bool:
    """Whether ``path`` is a parameter path as these functions take it: starts, not ends, with '/'."""
    return _PATH.match(path) is not None


def environment_path(environment: str) -> str:
    """Where ``environment`` publishes what tools need: ``/sagemaker-hosting/<environment>``."""
    return f"{ROOT}/{environment}"


def model_store_path(environment: str) -> str:
    """The folder of the ModelStore stack's parameters."""
    return f"{environment_path(environment)}/model-store"


def model_store_parameter(environment: str, name: str) -> str:
    """One parameter of the ModelStore stack, ``name`` one of ``MODEL_STORE_PARAMETERS``."""
    if name not in MODEL_STORE_PARAMETERS:
        raise ValueError(f"{name!r} is no model-store parameter; known: {', '.join(MODEL_STORE_PARAMETERS)}")
    return f"{model_store_path(environment)}/{name}"


def artifacts_path(environment: str) -> str:
    """The folder of the artifact catalog: one parameter per endpoint."""
    return f"{environment_path(environment)}/artifacts"


def artifacts_parameter(environment: str, endpoint_name: str) -> str:
    """The catalog entry of the endpoint deployed as ``endpoint_name`` (JSON: prefix, kind, layout, containers)."""
    return f"{artifacts_path(environment)}/{endpoint_name}"


def endpoint_path(environment: str, endpoint_name: str) -> str:
    """The folder of the parameters the endpoint deployed as ``endpoint_name`` publishes."""
    return f"{environment_path(environment)}/endpoints/{endpoint_name}"


def snapshot_root(stack_name: str) -> str:
    """The scaling guard's default snapshot root when no environment path is given: ``/sagemaker-hosting/<stack>``."""
    return f"{ROOT}/{stack_name}"


def snapshots_path(root: str) -> str:
    """The folder of every scaling-guard snapshot under ``root`` (an environment path, or ``snapshot_root``)."""
    return f"{root}/scaling-guard"


def endpoint_snapshots_path(root: str, endpoint_name: str) -> str:
    """The folder of one endpoint's snapshots: one parameter per released variant."""
    return f"{snapshots_path(root)}/{endpoint_name}"


def snapshot_parameter(root: str, endpoint_name: str, variant_name: str) -> str:
    """The snapshot of one released variant."""
    return f"{endpoint_snapshots_path(root, endpoint_name)}/{variant_name}"
