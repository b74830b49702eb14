"""MultiModelEndpoint: rendered properties, exact IAM, metrics, validation (one test per rule)."""

from __future__ import annotations

import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from constructs_lib import (
    EndpointNetwork,
    ModelPrefix,
    MultiModelEndpoint,
    ProductionVariant,
    ServingImage,
    ValidationError,
)
from tests.support import make_app

ENV = cdk.Environment(account="111111111111", region="eu-west-1")
BUCKET = "sagemaker-models-test-111111111111-eu-west-1"
XGBOOST = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"
TRITON = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-tritonserver:24.09-py3"


def _stack() -> cdk.Stack:
    return cdk.Stack(make_app(), "Hosting", env=ENV)


def _mme(stack: cdk.Stack, construct_id: str = "Mme", **overrides: Any) -> MultiModelEndpoint:
    bucket = s3.Bucket.from_bucket_name(stack, f"{construct_id}Bucket", BUCKET)
    props: dict[str, Any] = {
        "endpoint_name": "home-values",
        "image": ServingImage.from_registry(XGBOOST),
        "model_prefix": ModelPrefix.for_endpoint(bucket=bucket, endpoint_name="home-values"),
        "variants": [ProductionVariant(instance_type="ml.m5.xlarge")],
    }
    props.update(overrides)
    return MultiModelEndpoint(stack, construct_id, **props)


@pytest.fixture(scope="module")
def rendered() -> tuple[MultiModelEndpoint, Template]:
    stack = _stack()
    key = kms.Key(stack, "Key")
    bucket = s3.Bucket.from_bucket_attributes(stack, "Bucket", bucket_name=BUCKET, encryption_key=key)
    mme = MultiModelEndpoint(
        stack,
        "Mme",
        endpoint_name="home-values",
        image=ServingImage.from_registry(XGBOOST),
        model_prefix=ModelPrefix.for_endpoint(bucket=bucket, endpoint_name="home-values", encryption_key=key),
        variants=[
            ProductionVariant(
                instance_type="ml.m5.xlarge",
                initial_instance_count=2,
                volume_size_in_gb=50,
                model_data_download_timeout=cdk.Duration.minutes(10),
                container_startup_health_check_timeout=cdk.Duration.seconds(300),
            ),
            ProductionVariant(variant_name="Canary", instance_type="ml.c5.xlarge", initial_variant_weight=0.1),
        ],
        environment={"SAGEMAKER_MODEL_SERVER_WORKERS": "2"},
        volume_encryption_key=key,
        parameter_path="/sagemaker-hosting/test/endpoints/home-values",
    )
    consumer = iam.Role(stack, "Consumer", assumed_by=iam.AccountRootPrincipal())
    mme.grant_invoke(consumer, models=["Chicago_IL*", "team-a/*"])
    return mme, Template.from_stack(stack)


def test_model_is_multi_model_on_the_prefix(rendered: tuple[MultiModelEndpoint, Template]) -> None:
    _, template = rendered
    template.resource_count_is("AWS::SageMaker::Model", 1)
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "ModelName": Match.absent(),
            "PrimaryContainer": {
                "Image": XGBOOST,
                "Mode": "MultiModel",
                "ModelDataUrl": f"s3://{BUCKET}/models/home-values/",
                "MultiModelConfig": {"ModelCacheSetting": "Enabled"},
                "Environment": {"SAGEMAKER_MODEL_SERVER_WORKERS": "2"},
            },
            "Containers": Match.absent(),
            "VpcConfig": Match.absent(),
            "EnableNetworkIsolation": Match.absent(),
        },
    )


def test_model_waits_for_its_role_policy(rendered: tuple[MultiModelEndpoint, Template]) -> None:
    _, template = rendered
    model = next(iter(template.find_resources("AWS::SageMaker::Model").values()))
    policy_id = next(
        iter(
            template.find_resources(
                "AWS::IAM::Policy", {"Properties": {"PolicyName": Match.string_like_regexp("MmeExecutionRole")}}
            )
        )
    )
    assert policy_id in model["DependsOn"]


def test_endpoint_config_has_no_name_and_renders_variants(rendered: tuple[MultiModelEndpoint, Template]) -> None:
    _, template = rendered
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "EndpointConfigName": Match.absent(),
            "KmsKeyId": {"Fn::GetAtt": [Match.string_like_regexp("^Key"), "Arn"]},
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": {"Fn::GetAtt": [Match.string_like_regexp("^MmeModel"), "ModelName"]},
                    "InstanceType": "ml.m5.xlarge",
                    "InitialInstanceCount": 2,
                    "InitialVariantWeight": 1,
                    "VolumeSizeInGB": 50,
                    "ModelDataDownloadTimeoutInSeconds": 600,
                    "ContainerStartupHealthCheckTimeoutInSeconds": 300,
                },
                {
                    "VariantName": "Canary",
                    "ModelName": Match.any_value(),
                    "InstanceType": "ml.c5.xlarge",
                    "InitialInstanceCount": 1,
                    "InitialVariantWeight": 0.1,
                },
            ],
        },
    )


def test_endpoint_has_a_stable_name(rendered: tuple[MultiModelEndpoint, Template]) -> None:
    mme, template = rendered
    template.has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "EndpointName": "home-values",
            "EndpointConfigName": {"Fn::GetAtt": [Match.string_like_regexp("^MmeConfig"), "EndpointConfigName"]},
        },
    )
    assert (
        cdk.Stack.of(mme).resolve(mme.endpoint_arn) == "arn:aws:sagemaker:eu-west-1:111111111111:endpoint/home-values"
    )


def test_outputs_and_parameters(rendered: tuple[MultiModelEndpoint, Template]) -> None:
    _, template = rendered
    values = {o["Value"] for o in template.find_outputs("*").values()}
    assert values == {"home-values", BUCKET, "models/home-values/"}
    parameters = {
        p["Properties"]["Name"]: p["Properties"]["Value"]
        for p in template.find_resources("AWS::SSM::Parameter").values()
    }
    assert parameters == {
        "/sagemaker-hosting/test/endpoints/home-values/endpoint-name": "home-values",
        "/sagemaker-hosting/test/endpoints/home-values/bucket-name": BUCKET,
        "/sagemaker-hosting/test/endpoints/home-values/prefix": "models/home-values/",
    }


def _policy_statements(template: Template, role_prefix: str) -> list[dict[str, Any]]:
    policies = template.find_resources("AWS::IAM::Policy")
    matching = [p for k, p in policies.items() if k.startswith(role_prefix)]
    assert len(matching) == 1, list(policies)
    statements: list[dict[str, Any]] = matching[0]["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_execution_role_is_least_privilege(rendered: tuple[MultiModelEndpoint, Template]) -> None:
    _, template = rendered
    role = next(
        iter(
            template.find_resources(
                "AWS::IAM::Role",
                {
                    "Properties": {
                        "AssumeRolePolicyDocument": {
                            "Statement": [Match.object_like({"Principal": {"Service": "sagemaker.amazonaws.com"}})]
                        }
                    }
                },
            ).values()
        )
    )
    assert "ManagedPolicyArns" not in role["Properties"]
    log_group = "arn:aws:logs:eu-west-1:111111111111:log-group:/aws/sagemaker/Endpoints/home-values"
    statements = _policy_statements(template, "MmeExecutionRole")
    key_arn = statements[-1]["Resource"]
    assert statements == [
        {
            "Action": ["logs:CreateLogGroup", "logs:DescribeLogStreams"],
            "Effect": "Allow",
            "Resource": log_group,
        },
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": log_group + ":log-stream:*",
        },
        {"Action": ["cloudwatch:PutMetricData", "ecr:GetAuthorizationToken"], "Effect": "Allow", "Resource": "*"},
        {
            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Effect": "Allow",
            "Resource": "arn:aws:ecr:eu-west-1:141502667606:repository/sagemaker-xgboost",
        },
        {
            "Action": "s3:GetObject",
            "Effect": "Allow",
            "Resource": f"arn:aws:s3:::{BUCKET}/models/home-values/*",
        },
        {
            "Action": "s3:ListBucket",
            "Condition": {"StringLike": {"s3:prefix": ["models/home-values/*"]}},
            "Effect": "Allow",
            "Resource": f"arn:aws:s3:::{BUCKET}",
        },
        {
            "Action": "kms:Decrypt",
            "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
            "Effect": "Allow",
            "Resource": key_arn,
        },
    ]
    assert key_arn["Fn::GetAtt"][0].startswith("Key")
    assert key_arn["Fn::GetAtt"][1] == "Arn"


def test_grant_invoke_is_scoped_by_target_model(rendered: tuple[MultiModelEndpoint, Template]) -> None:
    _, template = rendered
    assert _policy_statements(template, "ConsumerDefaultPolicy") == [
        {
            "Action": "sagemaker:InvokeEndpoint",
            "Condition": {"StringLike": {"sagemaker:TargetModel": ["Chicago_IL*", "team-a/*"]}},
            "Effect": "Allow",
            "Resource": "arn:aws:sagemaker:eu-west-1:111111111111:endpoint/home-values",
        }
    ]


def test_grant_on_an_imported_endpoint() -> None:
    stack = _stack()
    imported = MultiModelEndpoint.from_endpoint_name(stack, "Imported", "other-mme")
    role = iam.Role(stack, "App", assumed_by=iam.AccountRootPrincipal())
    imported.grant_invoke(role, models=["*"])
    statements = _policy_statements(Template.from_stack(stack), "AppDefaultPolicy")
    assert statements[0]["Condition"] == {"StringLike": {"sagemaker:TargetModel": ["*"]}}
    assert statements[0]["Resource"] == "arn:aws:sagemaker:eu-west-1:111111111111:endpoint/other-mme"
    assert statements[0]["Action"] == "sagemaker:InvokeEndpoint"


def test_cache_can_be_disabled_and_network_configured() -> None:
    stack = _stack()
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=1)
    _mme(stack, model_cache_enabled=False, network=EndpointNetwork(vpc=vpc), enable_network_isolation=True)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": Match.object_like({"MultiModelConfig": {"ModelCacheSetting": "Disabled"}}),
            "EnableNetworkIsolation": True,
            "VpcConfig": {
                "Subnets": [
                    {"Ref": Match.string_like_regexp("PrivateSubnet1")},
                    {"Ref": Match.string_like_regexp("PrivateSubnet2")},
                ],
                "SecurityGroupIds": [{"Fn::GetAtt": [Match.string_like_regexp("MmeSecurityGroup"), "GroupId"]}],
            },
        },
    )
    ec2_statement = next(
        s for s in _policy_statements(template, "MmeExecutionRole") if "ec2:CreateNetworkInterface" in s["Action"]
    )
    assert ec2_statement["Resource"] == "*"


METRICS = [
    ("metric_invocations", "AWS/SageMaker", "Invocations", "Sum", None),
    ("metric_invocations_per_instance", "AWS/SageMaker", "InvocationsPerInstance", "Sum", None),
    ("metric_model_latency", "AWS/SageMaker", "ModelLatency", "Average", cloudwatch.Unit.MICROSECONDS),
    ("metric_overhead_latency", "AWS/SageMaker", "OverheadLatency", "Average", cloudwatch.Unit.MICROSECONDS),
    ("metric_invocation_4xx_errors", "AWS/SageMaker", "Invocation4XXErrors", "Sum", None),
    ("metric_invocation_5xx_errors", "AWS/SageMaker", "Invocation5XXErrors", "Sum", None),
    ("metric_model_cache_hit", "AWS/SageMaker", "ModelCacheHit", "Average", None),
    ("metric_loaded_model_count", "/aws/sagemaker/Endpoints", "LoadedModelCount", "Sum", None),
    (
        "metric_model_loading_wait_time",
        "AWS/SageMaker",
        "ModelLoadingWaitTime",
        "Average",
        cloudwatch.Unit.MICROSECONDS,
    ),
    ("metric_model_downloading_time", "AWS/SageMaker", "ModelDownloadingTime", "Average", cloudwatch.Unit.MICROSECONDS),
    ("metric_model_loading_time", "AWS/SageMaker", "ModelLoadingTime", "Average", cloudwatch.Unit.MICROSECONDS),
    ("metric_model_unloading_time", "AWS/SageMaker", "ModelUnloadingTime", "Average", cloudwatch.Unit.MICROSECONDS),
    ("metric_model_unloads", "AWS/SageMaker", "ModelUnloadingTime", "SampleCount", None),
    ("metric_cpu_utilization", "/aws/sagemaker/Endpoints", "CPUUtilization", "Average", cloudwatch.Unit.PERCENT),
    ("metric_memory_utilization", "/aws/sagemaker/Endpoints", "MemoryUtilization", "Average", cloudwatch.Unit.PERCENT),
    ("metric_disk_utilization", "/aws/sagemaker/Endpoints", "DiskUtilization", "Average", cloudwatch.Unit.PERCENT),
    ("metric_gpu_utilization", "/aws/sagemaker/Endpoints", "GPUUtilization", "Average", cloudwatch.Unit.PERCENT),
]


@pytest.mark.parametrize(("method", "namespace", "name", "statistic", "unit"), METRICS)
def test_metric_helpers(
    rendered: tuple[MultiModelEndpoint, Template],
    method: str,
    namespace: str,
    name: str,
    statistic: str,
    unit: cloudwatch.Unit | None,
) -> None:
    mme, _ = rendered
    metric: cloudwatch.Metric = getattr(mme, method)()
    assert (metric.namespace, metric.metric_name, metric.statistic, metric.unit) == (namespace, name, statistic, unit)
    assert metric.dimensions == {"EndpointName": "home-values", "VariantName": "AllTraffic"}
    assert getattr(mme, method)(variant_name="Canary").dimensions["VariantName"] == "Canary"


# -- validation: one test per rule ----------------------------------------------------------------------------


def _refused(match: str, **overrides: Any) -> None:
    with pytest.raises(ValidationError, match=match):
        _mme(_stack(), **overrides)


def test_endpoint_name_pattern() -> None:
    _refused(r"MultiModelEndpoint Hosting/Mme: endpoint_name 'home_values' must be 1-63", endpoint_name="home_values")


def test_endpoint_name_length() -> None:
    _refused(r"endpoint_name '" + "a" * 64 + "' must be 1-63", endpoint_name="a" * 64)


def test_endpoint_name_lowercase() -> None:
    _refused(r"endpoint_name 'HomeValues' must be lowercase", endpoint_name="HomeValues")


def test_variant_name_pattern() -> None:
    _refused(
        r"variant_name of variant 'all traffic' 'all traffic' must be 1-63",
        variants=[ProductionVariant(variant_name="all traffic", instance_type="ml.m5.large")],
    )


def test_variant_names_unique() -> None:
    _refused(
        r"variant_name 'A' is used by more than one variant",
        variants=[ProductionVariant(variant_name="A", instance_type="ml.m5.large")] * 2,
    )


def test_at_least_one_variant() -> None:
    _refused(r"variants '0 variants' must number between 1 and 10", variants=[])


def test_at_most_ten_variants() -> None:
    variants = [ProductionVariant(variant_name=f"v{i}", instance_type="ml.m5.large") for i in range(11)]
    _refused(r"variants '11 variants' must number between 1 and 10", variants=variants)


def test_instance_type_shape() -> None:
    _refused(
        r"instance_type of variant 'AllTraffic' 'm5.large' is not a SageMaker endpoint instance type; "
        r"did you mean ml\.m5\.large",
        variants=[ProductionVariant(instance_type="m5.large")],
    )


@pytest.mark.parametrize(
    ("typo", "suggested"), [("ml.m5.xlage", "ml.m5.xlarge"), ("ml.g5.xlarg", "ml.g5.xlarge"), ("gpu-please", None)]
)
def test_instance_types_are_the_closed_list_sagemaker_publishes(typo: str, suggested: str | None) -> None:
    # botocore's SageMaker model, ProductionVariantInstanceType: the shape check alone let ml.m5.huge through
    # to a deploy-time failure.
    from constructs_lib import service_model

    assert "ml.m5.xlarge" in service_model.endpoint_instance_types()
    assert typo not in service_model.endpoint_instance_types()
    hint = rf"did you mean {re.escape(suggested)}" if suggested else r"\(e\.g\. ml\.m5\.xlarge\)"
    _refused(
        rf"'{re.escape(typo)}' is not a SageMaker endpoint instance type.*{hint}",
        variants=[ProductionVariant(instance_type=typo)],
    )


def test_names_are_63_characters_at_most_whatever_their_groups() -> None:
    # EndpointName's pattern counts groups of '-*[a-zA-Z0-9]': 'a' + 31 x '-a' matches it with 63 characters,
    # 'a' + 32 x '-a' has 65 (botocore: max 63).
    _refused(r"must be 1-63 letters, digits and inner hyphens \(65 given\)", endpoint_name="a" + "-a" * 32)


def test_initial_instance_count_at_least_one() -> None:
    _refused(
        r"initial_instance_count of variant 'AllTraffic' 0 must be at least 1",
        variants=[ProductionVariant(instance_type="ml.m5.large", initial_instance_count=0)],
    )


def test_weight_not_negative() -> None:
    _refused(
        r"initial_variant_weight of variant 'AllTraffic' -0.5 must be at least 0",
        variants=[ProductionVariant(instance_type="ml.m5.large", initial_variant_weight=-0.5)],
    )


def test_volume_size_range() -> None:
    _refused(
        r"volume_size_in_gb of variant 'AllTraffic' 513 must be between 1 and 512",
        variants=[ProductionVariant(instance_type="ml.m5.large", volume_size_in_gb=513)],
    )


@pytest.mark.parametrize("seconds", [59, 3601])
def test_download_timeout_range(seconds: int) -> None:
    _refused(
        rf"model_data_download_timeout of variant 'AllTraffic' {seconds} must be between 60 and 3600",
        variants=[
            ProductionVariant(instance_type="ml.m5.large", model_data_download_timeout=cdk.Duration.seconds(seconds))
        ],
    )


@pytest.mark.parametrize("seconds", [30, 7200])
def test_health_check_timeout_range(seconds: int) -> None:
    _refused(
        rf"container_startup_health_check_timeout of variant 'AllTraffic' {seconds} must be between 60 and 3600",
        variants=[
            ProductionVariant(
                instance_type="ml.m5.large", container_startup_health_check_timeout=cdk.Duration.seconds(seconds)
            )
        ],
    )


def test_environment_entry_count() -> None:
    _refused(r"environment of the container '101 entries' exceeds 100", environment={f"K{i}": "v" for i in range(101)})


def test_environment_key_pattern() -> None:
    _refused(r"environment key of the container '1BAD' must match", environment={"1BAD": "v"})


def test_environment_total_size() -> None:
    _refused(r"environment '\d+ bytes' exceeds 32 KB", environment={f"K{i}": "v" * 1000 for i in range(40)})


def test_gpu_needs_triton() -> None:
    _refused(
        r"instance_type of variant 'AllTraffic' 'ml.g5.xlarge' is a GPU type: GPU multi-model needs a Triton",
        variants=[ProductionVariant(instance_type="ml.g5.xlarge")],
    )


def test_gpu_must_be_single_gpu_type() -> None:
    _refused(
        r"'ml.g5.12xlarge' is not a single-GPU type for multi-model",
        image=ServingImage.from_registry(TRITON),
        variants=[ProductionVariant(instance_type="ml.g5.12xlarge")],
    )


def test_gpu_with_triton_on_a_single_gpu_type_is_accepted() -> None:
    stack = _stack()
    _mme(stack, image=ServingImage.from_registry(TRITON), variants=[ProductionVariant(instance_type="ml.g4dn.xlarge")])
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {"ProductionVariants": [Match.object_like({"InstanceType": "ml.g4dn.xlarge"})]},
    )


@pytest.mark.parametrize("prefix", ["models/mme", "/models/mme/", "models//mme/", "models/../mme/", ""])
def test_prefix_form(prefix: str) -> None:
    bucket = s3.Bucket.from_bucket_name(_stack(), "B", BUCKET)
    with pytest.raises(ValidationError, match=rf"ModelPrefix: prefix '{prefix}' must be S3-safe segments"):
        ModelPrefix(bucket=bucket, prefix=prefix)


@pytest.mark.parametrize(
    ("models", "match"),
    [
        ([], r"models \[\] must list at least one pattern"),
        ("Chicago_IL*", r"models 'Chicago_IL\*' must list at least one pattern"),
        ([" leading"], r"models pattern ' leading' must be 1-1024 printable"),
        (["s3://bucket/x.tar.gz"], r"models pattern 's3://bucket/x.tar.gz' must be relative"),
        (["x" * 1025], r"must be 1-1024 printable"),
    ],
)
def test_grant_invoke_patterns(models: Any, match: str) -> None:
    stack = _stack()
    mme = _mme(stack)
    with pytest.raises(ValidationError, match=match):
        mme.grant_invoke(iam.Role(stack, "R", assumed_by=iam.AccountRootPrincipal()), models=models)


def test_tokens_are_not_validated() -> None:
    stack = _stack()
    count = cdk.Token.as_number(cdk.CfnParameter(stack, "Count", type="Number").value_as_number)
    instance_type = cdk.CfnParameter(stack, "Type").value_as_string
    _mme(stack, variants=[ProductionVariant(instance_type=instance_type, initial_instance_count=count)])
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                Match.object_like({"InstanceType": {"Ref": "Type"}, "InitialInstanceCount": {"Ref": "Count"}})
            ]
        },
    )


def test_an_endpoint_is_a_resource_and_imports_by_arn_from_another_account() -> None:
    """Like the CDK's own L2s: ``cdk.Resource``, ``from_endpoint_arn`` carrying the ARN's environment."""
    stack = _stack()
    imported = MultiModelEndpoint.from_endpoint_arn(
        stack, "Remote", "arn:aws:sagemaker:us-east-1:222222222222:endpoint/shared-models"
    )
    assert isinstance(imported, cdk.Resource)
    assert imported.endpoint_name == "shared-models"
    assert (imported.env.account, imported.env.region) == ("222222222222", "us-east-1")
    assert imported.endpoint_arn == "arn:aws:sagemaker:us-east-1:222222222222:endpoint/shared-models"
    with pytest.raises(ValidationError, match="endpoint_arn 'arn:aws:s3:::bucket' is not a SageMaker endpoint ARN"):
        MultiModelEndpoint.from_endpoint_arn(stack, "Bad", "arn:aws:s3:::bucket")


def test_any_role_can_run_the_model() -> None:
    """An ``iam.IRole`` of the caller's is extended with the grants; the model uses it and waits for its policy."""
    stack = _stack()
    role = iam.Role(stack, "Mine", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    endpoint = _mme(stack, execution_role=role)
    assert endpoint.execution_role.role is role
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::IAM::Role", 1)
    model = next(iter(template.find_resources("AWS::SageMaker::Model").values()))
    assert model["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0].startswith("Mine")
    assert any(d.startswith("MineDefaultPolicy") for d in model["DependsOn"])


def test_a_role_sagemaker_cannot_assume_is_refused() -> None:
    """CreateModel fails unless SageMaker may assume the role: a role trusting another service is refused."""
    stack = _stack()
    role = iam.Role(stack, "ForLambda", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    with pytest.raises(ValidationError, match=r"must trust sagemaker\.amazonaws\.com"):
        _mme(stack, execution_role=role)


def _kms_key_id_documentation() -> str:
    import botocore.loaders

    model = botocore.loaders.Loader().load_service_model("sagemaker", "service-2")
    text = model["shapes"]["CreateEndpointConfigInput"]["members"]["KmsKeyId"]["documentation"]
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())


def test_aws_documents_that_a_volume_key_leaves_local_instance_storage_alone() -> None:
    # The volume key stays on an endpoint config whose instances have local NVMe storage because SageMaker's API
    # model (CreateEndpointConfig, KmsKeyId) says it "does not encrypt instance local storage" there. Earlier
    # editions said that "the call to CreateEndpointConfig fails": if AWS says so again, drop the key for them.
    documentation = _kms_key_id_documentation()
    assert "the KmsKeyId parameter does not encrypt instance local storage" in documentation
    assert "CreateEndpointConfig fails" not in documentation


@pytest.mark.parametrize(
    ("instance_type", "local_storage"),
    [
        ("ml.g5.xlarge", True),
        ("ml.g4dn.xlarge", True),
        ("ml.m5d.large", True),
        ("ml.m5.xlarge", False),
        ("ml.c5.large", False),
    ],
)
def test_a_volume_key_on_local_storage_instances_is_kept_and_flagged(instance_type: str, local_storage: bool) -> None:
    stack = _stack()
    # GPU multi-model endpoints serve with Triton.
    image = ServingImage.from_registry(TRITON if instance_type.startswith("ml.g") else XGBOOST)
    key = kms.Key(stack, "Key")
    mme = _mme(stack, image=image, variants=[ProductionVariant(instance_type=instance_type)], volume_encryption_key=key)
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::EndpointConfig", {"KmsKeyId": Match.any_value()}
    )
    warnings = [
        entry.data
        for entry in mme.endpoint_config.node.metadata
        if entry.type == "aws:cdk:warning" and "sagemaker:nvme-volume-key" in str(entry.data)
    ]
    assert bool(warnings) is local_storage, warnings
