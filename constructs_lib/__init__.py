"""Reusable constructs for hosting models on SageMaker multi-model and multi-container endpoints."""

from constructs_lib.compliance import acknowledge
from constructs_lib.endpoint_base import EndpointBase, EndpointNetwork
from constructs_lib.errors import ValidationError
from constructs_lib.execution_role import ExecutionRole
from constructs_lib.model_archive import ModelArchive
from constructs_lib.model_artifact_store import ModelArtifactStore
from constructs_lib.model_prefix import ModelPrefix
from constructs_lib.multi_container_endpoint import (
    Container,
    InferenceMode,
    MultiContainerEndpoint,
    MultiContainerEndpointBase,
)
from constructs_lib.multi_model_endpoint import MultiModelEndpoint, MultiModelEndpointBase
from constructs_lib.production_variant import ProductionVariant
from constructs_lib.serving_image import ServingImage
from constructs_lib.serving_image_repository import ServingImageRepository

__all__ = [
    "Container",
    "EndpointBase",
    "EndpointNetwork",
    "ExecutionRole",
    "InferenceMode",
    "ModelArchive",
    "ModelArtifactStore",
    "ModelPrefix",
    "MultiContainerEndpoint",
    "MultiContainerEndpointBase",
    "MultiModelEndpoint",
    "MultiModelEndpointBase",
    "ProductionVariant",
    "ServingImage",
    "ServingImageRepository",
    "ValidationError",
    "acknowledge",
]
