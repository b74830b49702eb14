"""MultiContainerEndpoint: rendering, hostname-scoped IAM, per-container metrics, validation, cfn-lint limits."""

from __future__ import annotations

import copy
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from constructs_lib import (
    Container,
    InferenceMode,
    ModelArchive,
    ModelPrefix,
    MultiContainerEndpoint,
    ProductionVariant,
    ServingImage,
    ValidationError,
)
from tests.support import cfn_lint, make_app

ENV = cdk.Environment(account="111111111111", region="eu-west-1")
BUCKET = "sagemaker-models-test-111111111111-eu-west-1"
ARN = "arn:aws:sagemaker:eu-west-1:111111111111:endpoint/mnist"
TF = ServingImage.from_framework("tensorflow", "2.20.0", py_version="py312")
PT = ServingImage.from_deep_learning_container("pytorch-inference", "2.6.0-cpu-py312")
CPU = [ProductionVariant(instance_type="ml.c5.xlarge")]


def _stack() -> cdk.Stack:
    return cdk.Stack(make_app(), "Hosting", env=ENV)


def _archive(stack: cdk.Stack, key: str) -> ModelArchive:
    bucket = s3.Bucket.from_bucket_name(stack, f"Bucket{abs(len(key))}{key.replace('/', '')[:20]}", BUCKET)
    return ModelArchive(bucket=bucket, key=key)


def _mce(stack: cdk.Stack, construct_id: str = "Mnist", **overrides: Any) -> MultiContainerEndpoint:
    props: dict[str, Any] = {
        "endpoint_name": "mnist",
        "mode": InferenceMode.DIRECT,
        "containers": [Container(hostname="tensorflow-mnist", image=TF), Container(hostname="pytorch-mnist", image=PT)],
        "variants": CPU,
    }
    props.update(overrides)
    return MultiContainerEndpoint(stack, construct_id, **props)


@pytest.fixture(scope="module")
def direct() -> tuple[MultiContainerEndpoint, Template]:
    stack = _stack()
    mce = _mce(
        stack,
        containers=[
            Container(
                hostname="tensorflow-mnist", image=TF, model_data=_archive(stack, "models/mnist/tf/model.tar.gz")
            ),
            Container(
                hostname="pytorch-mnist",
                image=PT,
                model_data=_archive(stack, "models/mnist/pt/model.tar.gz"),
                environment={"SAGEMAKER_PROGRAM": "inference.py"},
            ),
        ],
        parameter_path="/sagemaker-hosting/test/endpoints/mnist",
    )
    client = iam.Role(stack, "Client", assumed_by=iam.AccountRootPrincipal())
    mce.grant_invoke(client, containers=["tensorflow-*"])
    mce.deny_invoke(client, containers=["pytorch-mnist"])
    return mce, Template.from_stack(stack)


def test_direct_model_renders_containers_and_mode(direct: tuple[MultiContainerEndpoint, Template]) -> None:
    _, template = direct
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "ModelName": Match.absent(),
            "PrimaryContainer": Match.absent(),
            "InferenceExecutionConfig": {"Mode": "Direct"},
            "Containers": [
                {
                    "ContainerHostname": "tensorflow-mnist",
                    "Image": Match.any_value(),
                    "ModelDataUrl": f"s3://{BUCKET}/models/mnist/tf/model.tar.gz",
                },
                {
                    "ContainerHostname": "pytorch-mnist",
                    "Image": Match.any_value(),
                    "ModelDataUrl": f"s3://{BUCKET}/models/mnist/pt/model.tar.gz",
                    "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
                },
            ],
        },
    )
    template.has_resource_properties("AWS::SageMaker::EndpointConfig", {"EndpointConfigName": Match.absent()})
    template.has_resource_properties("AWS::SageMaker::Endpoint", {"EndpointName": "mnist"})


def test_outputs_name_mode_and_hostnames(direct: tuple[MultiContainerEndpoint, Template]) -> None:
    _, template = direct
    parameters = {
        p["Properties"]["Name"].rsplit("/", 1)[1]: p["Properties"]["Value"]
        for p in template.find_resources("AWS::SSM::Parameter").values()
    }
    assert parameters == {"endpoint-name": "mnist", "mode": "Direct", "containers": "tensorflow-mnist,pytorch-mnist"}


def test_execution_role_reads_each_archive_only(direct: tuple[MultiContainerEndpoint, Template]) -> None:
    _, template = direct
    policy = next(
        p for k, p in template.find_resources("AWS::IAM::Policy").items() if k.startswith("MnistExecutionRole")
    )
    reads = [
        s["Resource"] for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Action"] == "s3:GetObject"
    ]
    # CDK merges the two grants into one statement: exactly the two archives, nothing else.
    assert reads == [
        [
            f"arn:aws:s3:::{BUCKET}/models/mnist/pt/model.tar.gz",
            f"arn:aws:s3:::{BUCKET}/models/mnist/tf/model.tar.gz",
        ]
    ]
    pulls = [
        s["Resource"] for s in policy["Properties"]["PolicyDocument"]["Statement"] if "ecr:BatchGetImage" in s["Action"]
    ]
    assert pulls == [
        [
            "arn:aws:ecr:eu-west-1:763104351884:repository/pytorch-inference",
            "arn:aws:ecr:eu-west-1:763104351884:repository/tensorflow-inference",
        ]
    ]


def test_grant_and_deny_are_scoped_by_hostname(direct: tuple[MultiContainerEndpoint, Template]) -> None:
    _, template = direct
    policy = next(
        p for k, p in template.find_resources("AWS::IAM::Policy").items() if k.startswith("ClientDefaultPolicy")
    )
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {
            "Action": "sagemaker:InvokeEndpoint",
            "Condition": {"StringLike": {"sagemaker:TargetContainerHostname": ["tensorflow-*"]}},
            "Effect": "Allow",
            "Resource": ARN,
        },
        {
            "Action": "sagemaker:InvokeEndpoint",
            "Condition": {"StringLike": {"sagemaker:TargetContainerHostname": ["pytorch-mnist"]}},
            "Effect": "Deny",
            "Resource": ARN,
        },
        # Fail closed: a request whose context lacks the key is denied too (IAM Null condition).
        {
            "Action": "sagemaker:InvokeEndpoint",
            "Condition": {"Null": {"sagemaker:TargetContainerHostname": "true"}},
            "Effect": "Deny",
            "Resource": ARN,
        },
    ]


def test_serial_pipeline_and_whole_pipeline_grant() -> None:
    stack = _stack()
    mce = _mce(
        stack,
        endpoint_name="churn",
        mode=InferenceMode.SERIAL,
        containers=[Container(hostname="preprocess", image=TF), Container(hostname="model", image=PT)],
    )
    role = iam.Role(stack, "App", assumed_by=iam.AccountRootPrincipal())
    mce.grant_invoke(role)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::SageMaker::Model", {"InferenceExecutionConfig": {"Mode": "Serial"}})
    policy = next(p for k, p in template.find_resources("AWS::IAM::Policy").items() if k.startswith("AppDefaultPolicy"))
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "sagemaker:InvokeEndpoint", "Effect": "Allow", "Resource": ARN.replace("mnist", "churn")}
    ]


def test_serial_pipeline_may_hold_one_multi_model_container() -> None:
    stack = _stack()
    prefix = ModelPrefix(bucket=s3.Bucket.from_bucket_name(stack, "B", BUCKET), prefix="models/churn/xgb/")
    _mce(
        stack,
        endpoint_name="churn",
        mode=InferenceMode.SERIAL,
        containers=[Container(image=TF), Container(image=PT, model_data=prefix)],
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "Containers": [
                Match.object_like({"Image": Match.any_value()}),
                Match.object_like({"Mode": "MultiModel", "ModelDataUrl": f"s3://{BUCKET}/models/churn/xgb/"}),
            ]
        },
    )


def test_imported_endpoint_grants_by_hostname() -> None:
    stack = _stack()
    imported = MultiContainerEndpoint.from_endpoint_name(
        stack, "Imported", "mnist", mode=InferenceMode.DIRECT, hostnames=["tensorflow-mnist"]
    )
    role = iam.Role(stack, "App", assumed_by=iam.AccountRootPrincipal())
    imported.grant_invoke(role, containers=["tensorflow-mnist"])
    policy = next(iter(Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()))
    assert policy["Properties"]["PolicyDocument"]["Statement"][0]["Resource"] == ARN


CONTAINER_METRICS = [
    ("metric_container_invocations", "AWS/SageMaker", "Invocations", "Sum", None),
    ("metric_container_invocation_4xx_errors", "AWS/SageMaker", "Invocation4XXErrors", "Sum", None),
    ("metric_container_invocation_5xx_errors", "AWS/SageMaker", "Invocation5XXErrors", "Sum", None),
    ("metric_container_latency", "AWS/SageMaker", "ContainerLatency", "Average", cloudwatch.Unit.MICROSECONDS),
    (
        "metric_container_cpu_utilization",
        "/aws/sagemaker/Endpoints",
        "CPUUtilization",
        "Average",
        cloudwatch.Unit.PERCENT,
    ),
    (
        "metric_container_memory_utilization",
        "/aws/sagemaker/Endpoints",
        "MemoryUtilization",
        "Average",
        cloudwatch.Unit.PERCENT,
    ),
]


@pytest.mark.parametrize(("method", "namespace", "name", "statistic", "unit"), CONTAINER_METRICS)
def test_per_container_metrics(
    direct: tuple[MultiContainerEndpoint, Template], method: str, namespace: str, name: str, statistic: str, unit: Any
) -> None:
    mce, _ = direct
    metric: cloudwatch.Metric = getattr(mce, method)("pytorch-mnist")
    assert (metric.namespace, metric.metric_name, metric.statistic, metric.unit) == (namespace, name, statistic, unit)
    assert metric.dimensions == {"EndpointName": "mnist", "VariantName": "AllTraffic", "ContainerName": "pytorch-mnist"}


def test_variant_level_metrics_exist_too(direct: tuple[MultiContainerEndpoint, Template]) -> None:
    mce, _ = direct
    assert mce.metric_invocations().dimensions == {"EndpointName": "mnist", "VariantName": "AllTraffic"}


def test_metric_of_an_unknown_container_is_refused(direct: tuple[MultiContainerEndpoint, Template]) -> None:
    mce, _ = direct
    with pytest.raises(ValidationError, match=r"container 'mxnet' is not one of tensorflow-mnist, pytorch-mnist"):
        mce.metric_container_latency("mxnet")


# -- validation: one test per rule ----------------------------------------------------------------------------


def _refused(match: str, **overrides: Any) -> None:
    with pytest.raises(ValidationError, match=match):
        _mce(_stack(), **overrides)


def test_at_least_one_container() -> None:
    _refused(
        r"MultiContainerEndpoint Hosting/Mnist: containers '0 containers' must number between 1 and 15", containers=[]
    )


def test_at_most_fifteen_containers() -> None:
    containers = [Container(hostname=f"c{i}", image=TF) for i in range(16)]
    _refused(r"containers '16 containers' must number between 1 and 15", containers=containers)


def test_hostname_pattern() -> None:
    _refused(r"hostname 'bad_host!0' must be 1-63", containers=[Container(hostname="bad_host!0", image=TF)])


def test_hostname_length() -> None:
    _refused(r"hostname '" + "h" * 64 + "' must be 1-63", containers=[Container(hostname="h" * 64, image=TF)])


def test_hostnames_unique() -> None:
    _refused(r"hostname 'tf' is used by more than one container", containers=[Container(hostname="tf", image=TF)] * 2)


def test_hostname_required_in_direct_mode() -> None:
    _refused(
        r"hostname of container 1 None is required in Direct mode",
        containers=[Container(hostname="tf", image=TF), Container(image=PT)],
    )


def test_hostnames_all_or_none_in_serial_mode() -> None:
    _refused(
        r"hostname '1 of 2 set' must be set on all containers or none",
        mode=InferenceMode.SERIAL,
        containers=[Container(hostname="tf", image=TF), Container(image=PT)],
    )


def test_direct_mode_refuses_gpu_instances() -> None:
    _refused(
        r"instance_type of variant 'AllTraffic' 'ml.g5.xlarge' is a GPU type: SageMaker runs Direct .* CPU only",
        variants=[ProductionVariant(instance_type="ml.g5.xlarge")],
    )


def test_direct_mode_refuses_a_multi_model_container() -> None:
    stack = _stack()
    prefix = ModelPrefix(bucket=s3.Bucket.from_bucket_name(stack, "B", BUCKET), prefix="models/mnist/")
    with pytest.raises(
        ValidationError, match=r"model_data of container 'tf' 'a prefix' is MultiModel, not supported in Direct"
    ):
        _mce(stack, containers=[Container(hostname="tf", image=TF, model_data=prefix)])


def test_serial_mode_allows_one_multi_model_container_only() -> None:
    stack = _stack()
    bucket = s3.Bucket.from_bucket_name(stack, "B", BUCKET)
    containers = [Container(image=TF, model_data=ModelPrefix(bucket=bucket, prefix=f"models/p{i}/")) for i in range(2)]
    with pytest.raises(ValidationError, match=r"containers 'MultiModel at positions \[0, 1\]' allows at most one"):
        _mce(stack, mode=InferenceMode.SERIAL, containers=containers)


def test_environment_entries_per_container() -> None:
    env = {f"K{i}": "v" for i in range(101)}
    _refused(
        r"environment of container 'pytorch-mnist' '101 entries' exceeds 100",
        containers=[
            Container(hostname="tensorflow-mnist", image=TF),
            Container(hostname="pytorch-mnist", image=PT, environment=env),
        ],
    )


def test_environment_size_counted_across_containers() -> None:
    # 20 KB in each container: legal alone, over 32 KB together.
    env = {f"K{i}": "v" * 1000 for i in range(20)}
    containers = [
        Container(hostname="a", image=TF, environment=env),
        Container(hostname="b", image=PT, environment=env),
    ]
    _refused(r"environment '\d+ bytes' exceeds 32 KB across all containers", containers=containers)


def test_model_archive_key_must_be_a_tar_gz() -> None:
    with pytest.raises(
        ValidationError, match=r"ModelArchive: key 'models/mnist/model.zip' must be a relative S3 key ending in .tar.gz"
    ):
        _archive(_stack(), "models/mnist/model.zip")


@pytest.mark.parametrize(
    ("containers", "match"),
    [
        (None, r"containers None must list hostname patterns"),
        ([], r"containers \[\] must list hostname patterns"),
        (
            ["mxnet-*"],
            r"containers pattern 'mxnet-\*' matches no container \(hostnames: tensorflow-mnist, pytorch-mnist\)",
        ),
    ],
)
def test_direct_grant_patterns(containers: Any, match: str) -> None:
    stack = _stack()
    mce = _mce(stack)
    with pytest.raises(ValidationError, match=match):
        mce.grant_invoke(iam.Role(stack, "R", assumed_by=iam.AccountRootPrincipal()), containers=containers)


def test_serial_grant_cannot_be_scoped() -> None:
    stack = _stack()
    mce = _mce(stack, mode=InferenceMode.SERIAL)
    role = iam.Role(stack, "R", assumed_by=iam.AccountRootPrincipal())
    with pytest.raises(ValidationError, match=r"containers \['tensorflow-mnist'\] cannot be scoped: a Serial pipeline"):
        mce.grant_invoke(role, containers=["tensorflow-mnist"])
    with pytest.raises(ValidationError, match=r"denied \['tensorflow-mnist'\] does not apply to a Serial pipeline"):
        mce.deny_invoke(role, containers=["tensorflow-mnist"])


# -- cfn-lint agrees with our limits ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def largest_legal_endpoint() -> dict[str, Any]:
    """The template of an endpoint at every limit at once: 15 containers, 10 variants (tests copy before editing)."""
    stack = _stack()
    bucket = s3.Bucket.from_bucket_name(stack, "B", BUCKET)
    containers = [
        Container(
            hostname=f"container-{i:02d}",
            image=TF,
            model_data=ModelArchive(bucket=bucket, key=f"models/big/c{i}/model.tar.gz"),
        )
        for i in range(15)
    ]
    variants = [ProductionVariant(variant_name=f"v{i}", instance_type="ml.c5.xlarge") for i in range(10)]
    _mce(stack, endpoint_name="big", containers=containers, variants=variants)
    template: dict[str, Any] = Template.from_stack(stack).to_json()
    return template


def test_largest_legal_endpoint_lints_clean(largest_legal_endpoint: dict[str, Any]) -> None:
    assert cfn_lint(copy.deepcopy(largest_legal_endpoint)) == []


def test_cfn_lint_rejects_one_container_more(largest_legal_endpoint: dict[str, Any]) -> None:
    # What our validation refuses, cfn-lint refuses too: a second gate if a limit check ever regresses.
    template = copy.deepcopy(largest_legal_endpoint)
    model = next(r for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::Model")
    extra = copy.deepcopy(model["Properties"]["Containers"][0])
    extra["ContainerHostname"] = "container-15"
    model["Properties"]["Containers"].append(extra)
    findings = cfn_lint(template)
    assert any(f.startswith("E3032") and "15" in f for f in findings), findings
