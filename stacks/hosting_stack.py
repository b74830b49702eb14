"""Hosting: the stateless stack of an environment (models, endpoint configs, endpoints, example consumers)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from constructs_lib import (
    Container,
    HostingDashboard,
    ModelArchive,
    ModelPrefix,
    MultiContainerEndpoint,
    MultiModelEndpoint,
    ScalingGuardProvider,
    ServingImage,
)
from constructs_lib.compliance import acknowledge_control_rule, default_policy
from constructs_lib.data_capture import DataCapture
from constructs_lib.endpoint_base import construct_id_from_name
from constructs_lib.endpoint_scaling import EndpointScaling
from constructs_lib.errors import ValidationError
from constructs_lib.inference_component_endpoint import InferenceComponentEndpoint
from constructs_lib.operations_key import OperationsKey
from constructs_lib.smoke_test import EndpointSmokeTest, SmokeInvocation, SmokeTestProvider
from hosting_contract import ssm_paths
from hosting_contract.archive_rules import VALID, VERDICT_TAG
from stacks.config import (
    DataCaptureConfig,
    EnvironmentConfig,
    ImageConfig,
    InferenceComponentEndpointConfig,
    MultiContainerEndpointConfig,
    MultiModelEndpointConfig,
    ScalingConfig,
    endpoint_errors,
)
from stacks.hosting_shards import HostingShard, shards
from stacks.model_store_stack import ModelStoreStack

#: Execution roles may read an archive only once the artifact guard tagged it valid.
VALID_ARCHIVE = (VERDICT_TAG, VALID)


class HostingStack(cdk.Stack):
    """Everything that can be destroyed and rebuilt without losing an artifact.

    It reads the ModelStore by name (the artifact bucket) and through its key; deleting this stack deletes
    endpoints, never models.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        model_store: ModelStoreStack,
        shard: HostingShard | None = None,
        **kwargs: Any,
    ) -> None:
        """Host ``shard``'s endpoints (default: every endpoint of ``config``, in one stack)."""
        super().__init__(scope, construct_id, **kwargs)
        shard = shard or shards(config.replace(hosting_stacks=1))[0]
        self.add_stack_dependency(model_store, "endpoints read model archives from the ModelStore bucket")
        self._config = config
        self._model_store = model_store
        # By name, not by reference: no cross-stack export ties the stateful stack to this one.
        self.artifact_bucket = s3.Bucket.from_bucket_attributes(
            self, "ArtifactBucket", bucket_name=config.artifact_bucket_name, encryption_key=model_store.key
        )
        self.operations_key = OperationsKey(
            self,
            "OperationsKey",
            description=f"SageMaker hosting ({config.name}): custom-resource logs",
            removal_policy=(
                cdk.RemovalPolicy.RETAIN if config.retain_stateful_resources else cdk.RemovalPolicy.DESTROY
            ),
        ).key
        """Encrypts the log groups of the scaling guard and the smoke test."""
        self.alarm_topic = model_store.alarm_topic
        """Every alarm of the stage notifies the ModelStore's topic (it exists first: the guard uses it too)."""
        self.scaling_guard = ScalingGuardProvider(
            self,
            "ScalingGuardProvider",
            log_encryption_key=self.operations_key,
            snapshot_parameter_path=config.ssm_path,
        )
        self.scaling_guard.add_alarms(self.alarm_topic.alarm_action)
        self.smoke_test_provider = (
            SmokeTestProvider(self, "SmokeTestProvider", log_encryption_key=self.operations_key)
            if any(e.smoke_tests for e in shard.multi_model_endpoints)
            or any(e.smoke_tests for e in shard.multi_container_endpoints)
            or any(e.smoke_tests for e in shard.inference_component_endpoints)
            else None
        )
        self.dashboard = HostingDashboard(self, "Dashboard", dashboard_name=shard.dashboard_name(config.placement_name))
        """One dashboard per Hosting stack, a section per endpoint (CloudWatch allows 500 widgets per dashboard)."""

        self.multi_model_endpoints: dict[str, MultiModelEndpoint] = {}
        """The multi-model endpoints, by configured name."""
        for endpoint_config in shard.multi_model_endpoints:
            with endpoint_errors(config.name, endpoint_config.name):
                mme = self._multi_model_endpoint(endpoint_config)
                self._operate(mme, self._scale(mme, endpoint_config.scaling), endpoint_config.smoke_tests)
                self.multi_model_endpoints[endpoint_config.name] = mme
        self.multi_container_endpoints: dict[str, MultiContainerEndpoint] = {}
        """The multi-container endpoints, by configured name."""
        for mce_config in shard.multi_container_endpoints:
            with endpoint_errors(config.name, mce_config.name):
                mce = self._multi_container_endpoint(mce_config)
                self._operate(mce, self._scale(mce, mce_config.scaling), mce_config.smoke_tests)
                for rollback_alarm in mce.rollback_alarms:
                    rollback_alarm.add_alarm_action(self.alarm_topic.alarm_action)
                self.multi_container_endpoints[mce_config.name] = mce
        self.inference_component_endpoints: dict[str, InferenceComponentEndpoint] = {}
        """The inference-component endpoints, by configured name."""
        for ice_config in shard.inference_component_endpoints:
            with endpoint_errors(config.name, ice_config.name):
                ice = self._inference_component_endpoint(ice_config)
                smoke = [
                    replace(t, inference_component=ice.component(t.inference_component or "").component_name)
                    for t in ice_config.smoke_tests
                ]
                self._operate(ice, (), smoke)
                for component in ice.components.values():
                    for rollback_alarm in component.rollback_alarms:
                        rollback_alarm.add_alarm_action(self.alarm_topic.alarm_action)
                self.inference_component_endpoints[ice_config.name] = ice

    def _multi_model_endpoint(self, endpoint: MultiModelEndpointConfig) -> MultiModelEndpoint:
        name = self._config.endpoint_name(endpoint.name)
        construct_id = self._free_id(construct_id_from_name(endpoint.name), "name", endpoint.name)
        mme = MultiModelEndpoint(
            self,
            construct_id,
            endpoint_name=name,
            image=self._serving_image(endpoint.image),
            model_prefix=ModelPrefix.for_endpoint(
                bucket=self.artifact_bucket,
                endpoint_name=name,
                encryption_key=self._model_store.key,
                required_tag=VALID_ARCHIVE,
            ),
            variants=endpoint.variants,
            model_cache_enabled=endpoint.model_cache_enabled,
            environment=endpoint.environment,
            volume_encryption_key=self._model_store.key,
            enable_network_isolation=endpoint.network_isolation is True,
            parameter_path=ssm_paths.endpoint_path(self._config.name, name),
            data_capture=self._data_capture(endpoint.data_capture),
        )
        if endpoint.per_model_metrics or endpoint.bounded_model_metrics:
            mme.add_per_model_metrics(bounded_models=endpoint.bounded_model_metrics)
        for consumer in endpoint.consumers:
            role = self._consumer_role(
                f"{construct_id}{consumer.name}", f"May invoke {name} for TargetModel {', '.join(consumer.models)}"
            )
            mme.grant_invoke(role, models=consumer.models)
            self._acknowledge_inline_policy(role)
        return mme

    def _multi_container_endpoint(self, endpoint: MultiContainerEndpointConfig) -> MultiContainerEndpoint:
        name = self._config.endpoint_name(endpoint.name)
        construct_id = self._free_id(construct_id_from_name(endpoint.name), "name", endpoint.name)
        prefix = ModelPrefix.for_endpoint(bucket=self.artifact_bucket, endpoint_name=name)
        mce = MultiContainerEndpoint(
            self,
            construct_id,
            endpoint_name=name,
            mode=endpoint.mode,
            containers=[
                Container(
                    hostname=container.hostname,
                    image=self._serving_image(container.image),
                    model_data=self._archive(prefix, container.model_data_key) if container.model_data_key else None,
                    environment=container.environment,
                )
                for container in endpoint.containers
            ],
            variants=endpoint.variants,
            volume_encryption_key=self._model_store.key,
            parameter_path=ssm_paths.endpoint_path(self._config.name, name),
            deployment=endpoint.deployment,
            enable_network_isolation=endpoint.isolated,
            data_capture=self._data_capture(endpoint.data_capture),
        )
        for consumer in endpoint.consumers:
            scope = ", ".join(consumer.containers) if consumer.containers else "the whole pipeline"
            role = self._consumer_role(f"{construct_id}{consumer.name}", f"May invoke {name}: {scope}")
            mce.grant_invoke(role, containers=consumer.containers)
            if consumer.denied:
                mce.deny_invoke(role, containers=consumer.denied)
            self._acknowledge_inline_policy(role)
        return mce

    def _inference_component_endpoint(self, endpoint: InferenceComponentEndpointConfig) -> InferenceComponentEndpoint:
        name = self._config.endpoint_name(endpoint.name)
        construct_id = self._free_id(construct_id_from_name(endpoint.name), "name", endpoint.name)
        prefix = ModelPrefix.for_endpoint(bucket=self.artifact_bucket, endpoint_name=name)
        ice = InferenceComponentEndpoint(
            self,
            construct_id,
            endpoint_name=name,
            instance_type=endpoint.instance_type,
            initial_instance_count=endpoint.initial_instance_count,
            managed_instance_scaling=endpoint.managed_instance_scaling,
            routing_strategy=endpoint.routing_strategy,
            volume_encryption_key=self._model_store.key,
            enable_network_isolation=endpoint.isolated,
            parameter_path=ssm_paths.endpoint_path(self._config.name, name),
            data_capture=self._data_capture(endpoint.data_capture),
        )
        for component in endpoint.components:
            added = ice.add_component(
                component.name,
                image=self._serving_image(component.image),
                model_data=self._archive(prefix, component.archive_key),
                compute=component.compute,
                initial_copies=component.initial_copies,
                environment=component.environment,
                rolling_update=component.rolling_update,
            )
            if component.scaling is not None:
                component.scaling.apply(added)
        for consumer in endpoint.consumers:
            role = self._consumer_role(
                f"{construct_id}{consumer.name}", f"May invoke {name}: components {', '.join(consumer.components)}"
            )
            ice.grant_invoke(role, components=consumer.components, streaming=consumer.streaming)
            self._acknowledge_inline_policy(role)
        return ice

    def _archive(self, prefix: ModelPrefix, key: str) -> ModelArchive:
        """The archive ``key`` under an endpoint's ``prefix`` in the stage's bucket, served only once the artifact
        guard tagged it valid."""
        return ModelArchive(
            bucket=self.artifact_bucket,
            key=prefix.prefix + key,
            encryption_key=self._model_store.key,
            required_tag=VALID_ARCHIVE,
        )

    def _scale(
        self, endpoint: MultiModelEndpoint | MultiContainerEndpoint, scaling: ScalingConfig | None
    ) -> tuple[EndpointScaling, ...]:
        """The variant scaling of ``endpoint`` from configuration (none without it)."""
        return (scaling.apply(endpoint, guard_provider=self.scaling_guard),) if scaling is not None else ()

    def _operate(
        self,
        endpoint: MultiModelEndpoint | MultiContainerEndpoint | InferenceComponentEndpoint,
        scalings: Sequence[EndpointScaling],
        smoke_tests: Sequence[SmokeInvocation],
    ) -> None:
        """The endpoint's alarms, its dashboard section (with its variant scaling) and its smoke test."""
        alarms = endpoint.add_alarms(self._config.alarm_thresholds, action=self.alarm_topic.alarm_action)
        self.dashboard.add_endpoint(endpoint, scaling=scalings, alarms=alarms)
        if smoke_tests and self.smoke_test_provider is not None:
            EndpointSmokeTest(
                endpoint, "SmokeTest", endpoint=endpoint, invocations=smoke_tests, provider=self.smoke_test_provider
            )

    def _free_id(self, construct_id: str, field: str, value: str) -> str:
        """``construct_id``, refused (naming the configured value) when the stack already holds a construct so named."""
        if self.node.try_find_child(construct_id) is not None:
            raise ValidationError(
                f"field {field!r}: {value!r} becomes construct id {construct_id!r}, which the Hosting stack already "
                "uses (for its own resources or another endpoint's); choose another name"
            )
        return construct_id

    def _consumer_role(self, construct_id: str, description: str) -> iam.Role:
        """An example application role, assumable from this account."""
        self._free_id(construct_id, "consumers", construct_id)
        # IAM CreateRole ``Description``: at most 1000 characters of tab, newline, carriage return and
        # U+0020-U+007E, U+00A1-U+00FF (IAM API Reference); the description names the consumer's patterns.
        if len(description) > _MAX_ROLE_DESCRIPTION or not _ROLE_DESCRIPTION.match(description):
            raise ValidationError(
                f"consumer {construct_id}: its patterns make the role description {description[:60]!r}... invalid "
                f"for IAM ({len(description)} characters; at most {_MAX_ROLE_DESCRIPTION} of Latin-1 letters)"
            )
        return iam.Role(self, construct_id, assumed_by=iam.AccountRootPrincipal(), description=description)

    @staticmethod
    def _acknowledge_inline_policy(role: iam.Role) -> None:
        """Called after the grants, which create the role's default (inline) policy."""
        acknowledge_control_rule(
            default_policy(role),
            "IAMNoInlinePolicy",
            "This invoke policy belongs to this one consumer role and lives and dies with it.",
        )

    def _data_capture(self, capture: DataCaptureConfig | None) -> DataCapture | None:
        """Capture into the stage's artifact bucket (by name: no cross-stack reference), under its key."""
        if capture is None:
            return None
        return DataCapture(
            bucket=self.artifact_bucket,
            encryption_key=self._model_store.key,
            sampling_percent=capture.sampling_percent,
            capture_requests=capture.capture_requests,
            capture_responses=capture.capture_responses,
            json_content_types=capture.json_content_types,
            csv_content_types=capture.csv_content_types,
        )

    def _serving_image(self, image: ImageConfig) -> ServingImage:
        if image.framework is not None:
            f = image.framework
            return ServingImage.from_framework(f.framework, f.version, processor=f.processor, py_version=f.py_version)
        if image.registry_uri is not None:
            return ServingImage.from_registry(image.registry_uri)
        if image.deep_learning_container is not None:
            return ServingImage.from_deep_learning_container(*image.deep_learning_container)
        assert image.model_store_tag is not None  # ImageConfig guarantees exactly one source
        return ServingImage.from_ecr_repository(self._model_store.repository, tag=image.model_store_tag)


_MAX_ROLE_DESCRIPTION = 1000
_ROLE_DESCRIPTION = re.compile(r"^[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*\Z")
