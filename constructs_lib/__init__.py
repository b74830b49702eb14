"""Reusable constructs for hosting models on SageMaker multi-model and multi-container endpoints."""

from constructs_lib.compliance import acknowledge
from constructs_lib.errors import ValidationError
from constructs_lib.model_artifact_store import ModelArtifactStore
from constructs_lib.serving_image_repository import ServingImageRepository

__all__ = [
    "ModelArtifactStore",
    "ServingImageRepository",
    "ValidationError",
    "acknowledge",
]
