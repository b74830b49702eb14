"""Reusable constructs for hosting models on SageMaker multi-model, multi-container and inference-component
endpoints."""

from constructs_lib.alarm_factory import AlarmThresholds
from constructs_lib.alarm_topic import AlarmTopic
from constructs_lib.artifact_guard import ArtifactGuard
from constructs_lib.compliance import acknowledge
from constructs_lib.component_scaling import ComponentScaling, ComponentScalingPlan
from constructs_lib.deployment_policy import BlueGreenDeployment, TrafficShift
from constructs_lib.endpoint_alarms import EndpointAlarms
from constructs_lib.endpoint_base import EndpointBase, EndpointNetwork
from constructs_lib.endpoint_scaling import EndpointScaling
from constructs_lib.errors import ValidationError
from constructs_lib.execution_role import ExecutionRole
from constructs_lib.hardened_function import HardenedFunction
from constructs_lib.hosting_dashboard import HostingDashboard
from constructs_lib.inference_component import ComponentRollingUpdate, ComputeRequirements, InferenceComponent
from constructs_lib.inference_component_endpoint import (
    InferenceComponentEndpoint,
    ManagedInstanceScaling,
    RoutingStrategy,
    ScaleInStrategy,
)
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
from constructs_lib.per_model_metrics import PerModelMetrics
from constructs_lib.production_variant import ProductionVariant
from constructs_lib.scaling_guard import ScalingGuard, ScalingGuardProvider
from constructs_lib.serverless_endpoint import ServerlessEndpoint
from constructs_lib.serving_image import ServingImage
from constructs_lib.serving_image_repository import ServingImageRepository
from constructs_lib.smoke_test import EndpointSmokeTest, SmokeInvocation, SmokeTestProvider

__all__ = [
    "AlarmThresholds",
    "AlarmTopic",
    "ArtifactGuard",
    "BlueGreenDeployment",
    "ComponentRollingUpdate",
    "ComponentScaling",
    "ComponentScalingPlan",
    "ComputeRequirements",
    "Container",
    "EndpointAlarms",
    "EndpointBase",
    "EndpointNetwork",
    "EndpointScaling",
    "EndpointSmokeTest",
    "ExecutionRole",
    "HardenedFunction",
    "HostingDashboard",
    "InferenceComponent",
    "InferenceComponentEndpoint",
    "InferenceMode",
    "ManagedInstanceScaling",
    "ModelArchive",
    "ModelArtifactStore",
    "ModelPrefix",
    "MultiContainerEndpoint",
    "MultiContainerEndpointBase",
    "MultiModelEndpoint",
    "MultiModelEndpointBase",
    "PerModelMetrics",
    "ProductionVariant",
    "RoutingStrategy",
    "ScaleInStrategy",
    "ScalingGuard",
    "ScalingGuardProvider",
    "ServerlessEndpoint",
    "ServingImage",
    "ServingImageRepository",
    "SmokeInvocation",
    "SmokeTestProvider",
    "TrafficShift",
    "ValidationError",
    "acknowledge",
]
