"""Deployed endpoint names: ``<environment>-<endpoint>``, unique in an account shared by several environments."""

from __future__ import annotations

import re

#: EndpointName, VariantName, ContainerHostname, InferenceComponentName: alphanumerics and inner hyphens (botocore's
#: patterns, anchored here).
NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}\Z")
#: SageMaker names: 63 characters at most. The pattern counts groups, not characters ('a' plus 62 groups of
#: '-a' is 125 characters), so the length is checked on its own (botocore: EndpointName ``max`` 63).
MAX_NAME = 63


def is_sagemaker_name(name: str) -> bool:
    """Whether ``name`` is a valid SageMaker endpoint, variant, hostname or inference component name."""
    return bool(NAME.match(name)) and len(name) <= MAX_NAME


def endpoint_name(environment: str, endpoint: str) -> str:
    """The deployed name of endpoint ``endpoint`` of ``environment``, e.g. ``dev-home-values``."""
    return f"{environment}-{endpoint}"


def deployed_endpoint_name(environment: str, given: str) -> str:
    """``given`` as a deployed name: the short name (``home-values``) or the deployed one (``dev-home-values``)."""
    return given if given.startswith(endpoint_name(environment, "")) else endpoint_name(environment, given)


#: Where SageMaker writes an endpoint's container logs (SageMaker Developer Guide, "Log Amazon SageMaker AI Events
#: with Amazon CloudWatch": log group ``/aws/sagemaker/Endpoints/[EndpointName]``).
ENDPOINT_LOG_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"


def endpoint_log_group(endpoint: str) -> str:
    """The log group of the deployed endpoint named ``endpoint``."""
    return f"{ENDPOINT_LOG_GROUP_PREFIX}{endpoint}"


def component_name(endpoint: str, component: str) -> str:
    """The deployed name of inference component ``component`` of the deployed endpoint ``endpoint``."""
    return f"{endpoint}-{component}"


#: Where SageMaker writes an inference component's container logs: ``/aws/sagemaker/InferenceComponents/<name>``.
#: Not on AWS's page of log groups; the name AWS's own samples read component logs from (confirm in a sandbox).
COMPONENT_LOG_GROUP_PREFIX = "/aws/sagemaker/InferenceComponents/"


def component_log_group(component: str) -> str:
    """The log group of the deployed inference component named ``component``."""
    return f"{COMPONENT_LOG_GROUP_PREFIX}{component}"
