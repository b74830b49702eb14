"""The environments this app deploys (dev, staging, prod): edit the values to deploy into real accounts.

The placeholders synthesize as they are. The schema, and every check of these values, is ``stacks/config.py``;
a mistake here stops ``make synth`` with one line naming environment, endpoint, field and value.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk

from constructs_lib.alarm_factory import AlarmThresholds
from constructs_lib.component_scaling import ComponentScalingPlan
from constructs_lib.deployment_policy import BlueGreenDeployment, TrafficShift
from constructs_lib.inference_component import ComponentRollingUpdate, ComputeRequirements
from constructs_lib.inference_component_endpoint import ManagedInstanceScaling
from constructs_lib.multi_container_endpoint import InferenceMode
from constructs_lib.production_variant import ProductionVariant
from constructs_lib.smoke_test import SmokeInvocation
from stacks.config import (
    ComponentConfig,
    ComponentConsumerConfig,
    ConsumerConfig,
    ContainerConfig,
    ContainerConsumerConfig,
    DataCaptureConfig,
    EnvironmentConfig,
    FrameworkImage,
    ImageConfig,
    InferenceComponentEndpointConfig,
    MultiContainerEndpointConfig,
    MultiModelEndpointConfig,
    ScalingConfig,
    ScheduleConfig,
)

# SageMaker's first-party XGBoost image, resolved per region from the SDK's image table (xgboost.json).
_XGBOOST = ImageConfig(framework=FrameworkImage(framework="xgboost", version="1.7-1"))


#: A home as the XGBoost home-value models expect it: one CSV row of the six features the AWS sample trains on
#: (amazon-sagemaker-examples, multi_model_xgboost_home_value: YEAR_BUILT, SQUARE_FEET, NUM_BEDROOMS,
#: NUM_BATHROOMS, LOT_ACRES, GARAGE_SPACES).
_HOME = "1990,1500,3,2,0.25,2"


def _home_values(
    *, instance_type: str, instances: int, scaling: ScalingConfig, smoke: bool = False
) -> MultiModelEndpointConfig:
    """The seeds' example: one XGBoost home-value model per city, all behind one endpoint."""
    return MultiModelEndpointConfig(
        name="home-values",
        image=_XGBOOST,
        variants=(ProductionVariant(instance_type=instance_type, initial_instance_count=instances),),
        consumers=(ConsumerConfig(name="ChicagoAnalytics", models=("Chicago_IL*",)),),
        scaling=scaling,
        warm_up=True,
        smoke_tests=(SmokeInvocation(target_model="Chicago_IL.tar.gz", body=_HOME, content_type="text/csv"),)
        if smoke
        else (),
    )


# Dev runs small at night and on weekends: at most one instance from 20:00 to 07:00 (Europe/Dublin).
_DEV_NIGHTS = (
    ScheduleConfig(name="Night", cron="0 20 * * ? *", max_capacity=1, time_zone="Europe/Dublin"),
    ScheduleConfig(name="Morning", cron="0 7 ? * MON-FRI *", max_capacity=2, time_zone="Europe/Dublin"),
)


def _framework(framework: str, version: str, py_version: str) -> ImageConfig:
    return ImageConfig(framework=FrameworkImage(framework=framework, version=version, py_version=py_version))


def _mnist_image(key: str, shape: str) -> str:
    """A batch of one blank 28x28 MNIST image in each framework's request format, as the AWS example sends it:
    TensorFlow Serving ``{"instances": ...}`` of HWC images (``np.expand_dims(x, 3)``: 28x28x1), PyTorch
    ``{"inputs": ...}`` of CHW images (``np.expand_dims(x, axis=1)``: 1x28x28).
    """
    if shape == "hwc":
        image: list[Any] = [[[0.0] for _ in range(28)] for _ in range(28)]
    else:
        image = [[[0.0] * 28 for _ in range(28)]]
    return json.dumps({key: [image]}, separators=(",", ":"))


def _mnist(
    *, instances: int, deployment: BlueGreenDeployment | None = None, smoke: bool = False
) -> MultiContainerEndpointConfig:
    """The seeds' MNIST example: a TensorFlow and a PyTorch model side by side, each invoked by hostname."""
    return MultiContainerEndpointConfig(
        name="mnist",
        mode=InferenceMode.DIRECT,
        containers=(
            ContainerConfig(
                hostname="tensorflow-mnist",
                image=_framework("tensorflow", "2.20.0", "py312"),
                model_data_key="tensorflow-mnist/model.tar.gz",
            ),
            ContainerConfig(
                hostname="pytorch-mnist",
                image=_framework("pytorch", "2.6.0", "py312"),
                model_data_key="pytorch-mnist/model.tar.gz",
                environment={"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"},
            ),
        ),
        variants=(ProductionVariant(instance_type="ml.c5.xlarge", initial_instance_count=instances),),
        consumers=(
            ContainerConsumerConfig(name="TensorflowClient", containers=("tensorflow-mnist",), denied=("pytorch-*",)),
        ),
        scaling=ScalingConfig(min_capacity=instances, max_capacity=instances * 3, cpu_target_percent=60),
        deployment=deployment,
        smoke_tests=(
            SmokeInvocation(target_container="tensorflow-mnist", body=_mnist_image("instances", "hwc")),
            SmokeInvocation(target_container="pytorch-mnist", body=_mnist_image("inputs", "chw")),
        )
        if smoke
        else (),
    )


# SageMaker's first-party scikit-learn image (same source: sklearn.json, 1.2-1).
_SKLEARN = ImageConfig(framework=FrameworkImage(framework="sklearn", version="1.2-1"))


def _churn_pipeline(
    *, instances: int, smoke: bool = False, data_capture: DataCaptureConfig | None = None
) -> MultiContainerEndpointConfig:
    """A serial inference pipeline: scikit-learn preprocessing, then an XGBoost model."""
    return MultiContainerEndpointConfig(
        name="churn-pipeline",
        mode=InferenceMode.SERIAL,
        containers=(
            ContainerConfig(
                hostname="preprocess",
                image=_SKLEARN,
                model_data_key="preprocess/model.tar.gz",
                environment={"SAGEMAKER_PROGRAM": "preprocess.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"},
            ),
            ContainerConfig(hostname="xgboost", image=_XGBOOST, model_data_key="xgboost/model.tar.gz"),
        ),
        variants=(ProductionVariant(instance_type="ml.m5.large", initial_instance_count=instances),),
        consumers=(ContainerConsumerConfig(name="ChurnScoring"),),
        smoke_tests=(SmokeInvocation(body="42,1,0,79.5,1", content_type="text/csv"),) if smoke else (),
        data_capture=data_capture,
    )


#: A customer as the tabular models expect it: one CSV row of numeric features.
_CUSTOMER = "42,1,0,79.5,1"


def _tabular(
    *,
    instance_type: str,
    instances: ManagedInstanceScaling,
    copies: ComponentScalingPlan,
    rolling_update: ComponentRollingUpdate | None = None,
    smoke: bool = False,
) -> InferenceComponentEndpointConfig:
    """Two small XGBoost models on one CPU fleet, each with its own reservation, copies, scaling and metrics."""
    components = tuple(
        ComponentConfig(
            name=name,
            image=_XGBOOST,
            compute=ComputeRequirements(cpu_cores=1, min_memory_mb=1024, max_memory_mb=2048),
            initial_copies=max(copies.min_copies, 1),
            scaling=copies,
            rolling_update=rolling_update,
        )
        for name in ("churn", "fraud")
    )
    return InferenceComponentEndpointConfig(
        name="tabular",
        instance_type=instance_type,
        initial_instance_count=max(instances.min_instances, 1),
        managed_instance_scaling=instances,
        components=components,
        consumers=(ComponentConsumerConfig(name="ChurnScoring", components=("churn",)),),
        smoke_tests=(SmokeInvocation(inference_component="churn", body=_CUSTOMER, content_type="text/csv"),)
        if smoke
        else (),
    )


ENVIRONMENTS: tuple[EnvironmentConfig, ...] = (
    EnvironmentConfig(
        name="dev",
        account="111111111111",
        region="eu-west-1",
        retain_stateful_resources=False,
        noncurrent_version_expiration_days=14,
        multi_model_endpoints=(
            _home_values(
                instance_type="ml.m5.large",
                instances=1,
                scaling=ScalingConfig(
                    min_capacity=1, max_capacity=2, max_requests_per_second=20, schedules=_DEV_NIGHTS
                ),
            ),
        ),
        multi_container_endpoints=(_mnist(instances=1), _churn_pipeline(instances=1)),
        # Scale to zero: no instance runs while nobody calls; the first request after a quiet spell fails and wakes
        # the model, which takes minutes (an instance starts).
        inference_component_endpoints=(
            _tabular(
                instance_type="ml.m5.large",
                instances=ManagedInstanceScaling(min_instances=0, max_instances=2),
                copies=ComponentScalingPlan(min_copies=0, max_copies=2, invocations_per_copy=300),
            ),
        ),
    ),
    EnvironmentConfig(
        name="staging",
        account="222222222222",
        region="eu-west-1",
        retain_stateful_resources=True,
        noncurrent_version_expiration_days=30,
        multi_model_endpoints=(
            _home_values(
                instance_type="ml.m5.xlarge",
                instances=1,
                scaling=ScalingConfig(min_capacity=1, max_capacity=3, max_requests_per_second=40),
                smoke=True,
            ),
        ),
        multi_container_endpoints=(
            _mnist(
                instances=2,
                deployment=BlueGreenDeployment(
                    traffic=TrafficShift.LINEAR, size_percent=50, wait_interval=cdk.Duration.minutes(5)
                ),
                smoke=True,
            ),
            # Staging captures a fifth of the pipeline's requests and responses (CSV in and out) for analysis,
            # kept 30 days under capture/staging-churn-pipeline/.
            _churn_pipeline(
                instances=1,
                smoke=True,
                data_capture=DataCaptureConfig(sampling_percent=20, csv_content_types=("text/csv",)),
            ),
        ),
        inference_component_endpoints=(
            _tabular(
                instance_type="ml.m5.large",
                # Two copies at least: a rolling update replaces at most half of them per batch (the API's 50%),
                # on two instances (two components x two copies x one core, on two vCPUs each).
                instances=ManagedInstanceScaling(min_instances=2, max_instances=4),
                copies=ComponentScalingPlan(min_copies=2, max_copies=4, invocations_per_copy=300),
                rolling_update=ComponentRollingUpdate(batch_copies=1),
                smoke=True,
            ),
        ),
    ),
    EnvironmentConfig(
        name="prod",
        account="333333333333",
        region="eu-west-1",
        # A second region for clients in central Europe and for a region outage: its own stage, Prod-eu-central-1.
        additional_regions=("eu-central-1",),
        retain_stateful_resources=True,
        noncurrent_version_expiration_days=90,
        multi_model_endpoints=(
            _home_values(
                instance_type="ml.m5.xlarge",
                instances=2,
                scaling=ScalingConfig(
                    min_capacity=2, max_capacity=8, max_requests_per_second=40, cpu_target_percent=70
                ),
                smoke=True,
            ),
        ),
        multi_container_endpoints=(
            _mnist(
                instances=2,
                deployment=BlueGreenDeployment(
                    traffic=TrafficShift.CANARY, size_percent=50, wait_interval=cdk.Duration.minutes(10)
                ),
                smoke=True,
            ),
            _churn_pipeline(instances=2, smoke=True),
        ),
        inference_component_endpoints=(
            _tabular(
                instance_type="ml.m5.xlarge",
                instances=ManagedInstanceScaling(min_instances=2, max_instances=6),
                copies=ComponentScalingPlan(min_copies=2, max_copies=8, invocations_per_copy=300),
                # One copy at a time, each baking 5 minutes under alarms as strict as prod's own.
                rolling_update=ComponentRollingUpdate(
                    batch_copies=1,
                    wait_interval=cdk.Duration.minutes(5),
                    rollback_thresholds=AlarmThresholds(
                        error_rate_percent=0.5,
                        model_latency_p99=cdk.Duration.millis(500),
                        period=cdk.Duration.minutes(1),
                        evaluation_periods=2,
                    ),
                ),
                smoke=True,
            ),
        ),
        alarm_thresholds=AlarmThresholds(error_rate_percent=0.5, model_latency_p99=cdk.Duration.millis(500)),
    ),
)
