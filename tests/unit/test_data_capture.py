"""DataCapture and shadow variants: the rendered DataCaptureConfig, the role's scoped writes, every validation rule,
and the refusals on the kinds SageMaker does not support (or document) them on."""

from __future__ import annotations

from typing import Any, cast

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk.assertions import Match, Template

from constructs_lib import (
    Container,
    InferenceMode,
    ModelArchive,
    ModelPrefix,
    MultiContainerEndpoint,
    MultiModelEndpoint,
    ProductionVariant,
    ServerlessEndpoint,
    ServingImage,
    ValidationError,
)
from constructs_lib.data_capture import (
    CAPTURE_UNDOCUMENTED_DIRECT,
    CAPTURE_UNSUPPORTED_MULTI_MODEL,
    CAPTURE_UNSUPPORTED_SERVERLESS,
    SHADOW_UNSUPPORTED_MULTI_CONTAINER,
    SHADOW_UNSUPPORTED_MULTI_MODEL,
    SHADOW_UNSUPPORTED_SERVERLESS,
    DataCapture,
)
from constructs_lib.endpoint_base import create_endpoint
from stacks.compliance import add_compliance_checks
from tests.support import cfn_lint, compliance_findings, make_app

ENV = cdk.Environment(account="111111111111", region="eu-west-1")
BUCKET = "sagemaker-models-test-111111111111-eu-west-1"
SKLEARN = ServingImage.from_framework("sklearn", "1.2-1")
XGBOOST = ServingImage.from_framework("xgboost", "1.7-1")
KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CPU = [ProductionVariant(instance_type="ml.m5.xlarge")]


def _stack(app: cdk.App | None = None) -> cdk.Stack:
    return cdk.Stack(app or make_app(), "Hosting", env=ENV)


def _bucket(stack: cdk.Stack) -> s3.IBucket:
    existing = stack.node.try_find_child("Artifacts")
    return cast(s3.IBucket, existing) if existing else s3.Bucket.from_bucket_name(stack, "Artifacts", BUCKET)


def _key(stack: cdk.Stack) -> kms.IKey:
    return kms.Key.from_key_arn(stack, "ArtifactsKey", KEY_ARN)


def _capture(stack: cdk.Stack, **overrides: Any) -> DataCapture:
    props: dict[str, Any] = {"bucket": _bucket(stack), "encryption_key": _key(stack)}
    props.update(overrides)
    return DataCapture(**props)


def _pipeline(stack: cdk.Stack, mode: InferenceMode = InferenceMode.SERIAL, **overrides: Any) -> MultiContainerEndpoint:
    archive = ModelArchive(bucket=_bucket(stack), key="models/churn/xgb/model.tar.gz")
    props: dict[str, Any] = {
        "endpoint_name": "churn",
        "mode": mode,
        "containers": [
            Container(hostname="preprocess", image=SKLEARN),
            Container(hostname="xgboost", image=XGBOOST, model_data=archive),
        ],
        "variants": CPU,
    }
    props.update(overrides)
    return MultiContainerEndpoint(stack, "Churn", **props)


@pytest.fixture(scope="module")
def serial() -> Template:
    stack = _stack()
    _pipeline(stack, data_capture=_capture(stack, json_content_types=("application/json",)))
    return Template.from_stack(stack)


def _role_statements(template: Template) -> list[dict[str, Any]]:
    policy = next(
        p for k, p in template.find_resources("AWS::IAM::Policy").items() if k.startswith("ChurnExecutionRole")
    )
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


# -- what a Serial pipeline renders ----------------------------------------------------------------------------


def test_a_serial_pipeline_captures_into_its_own_prefix(serial: Template) -> None:
    (config,) = serial.find_resources("AWS::SageMaker::EndpointConfig").values()
    assert config["Properties"]["DataCaptureConfig"] == {
        "EnableCapture": True,
        "InitialSamplingPercentage": 20,
        # No trailing slash: SageMaker appends '/<endpoint>/<variant>/yyyy/mm/dd/hh/'.
        "DestinationS3Uri": f"s3://{BUCKET}/capture/churn",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        "KmsKeyId": KEY_ARN,
    }


def test_the_role_may_write_under_the_capture_prefix_only(serial: Template) -> None:
    statements = _role_statements(serial)
    writes = [s for s in statements if "s3:PutObject" in _actions(s)]
    assert writes == [
        {"Action": "s3:PutObject", "Effect": "Allow", "Resource": f"arn:aws:s3:::{BUCKET}/capture/churn/*"}
    ]
    # Captures are written, never read back by the model: no read on the capture prefix.
    reads = [s for s in statements if "s3:GetObject" in _actions(s)]
    assert all("capture/" not in str(s["Resource"]) for s in reads)


def test_the_role_encrypts_captures_through_s3_only(serial: Template) -> None:
    (statement,) = [s for s in _role_statements(serial) if "kms:GenerateDataKey" in _actions(s)]
    assert statement == {
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
        "Effect": "Allow",
        "Resource": KEY_ARN,
    }


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_responses_only_csv_and_the_bucket_key_by_default() -> None:
    stack = _stack()
    key = kms.Key(stack, "StoreKey", enable_key_rotation=True)
    bucket = s3.Bucket(stack, "Store", encryption_key=key, enforce_ssl=True)
    _pipeline(
        stack,
        data_capture=DataCapture(
            bucket=bucket, sampling_percent=100, capture_requests=False, csv_content_types=("text/csv",)
        ),
    )
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "DataCaptureConfig": {
                "EnableCapture": True,
                "InitialSamplingPercentage": 100,
                "DestinationS3Uri": Match.any_value(),
                "CaptureOptions": [{"CaptureMode": "Output"}],
                "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
                # Without encryption_key, the bucket's own key: the role can write with it, and says so.
                "KmsKeyId": {"Fn::GetAtt": [next(iter(template.find_resources("AWS::KMS::Key"))), "Arn"]},
            }
        },
    )


def test_a_custom_prefix_under_capture_root() -> None:
    stack = _stack()
    _pipeline(stack, data_capture=_capture(stack, prefix="capture/team-a/churn/"))
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {"DataCaptureConfig": Match.object_like({"DestinationS3Uri": f"s3://{BUCKET}/capture/team-a/churn"})},
    )
    assert any(s["Resource"] == f"arn:aws:s3:::{BUCKET}/capture/team-a/churn/*" for s in _role_statements(template))


def test_without_data_capture_the_config_has_none() -> None:
    stack = _stack()
    _pipeline(stack)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::SageMaker::EndpointConfig", {"DataCaptureConfig": Match.absent()})
    assert not [s for s in _role_statements(template) if "s3:PutObject" in _actions(s)]


def test_create_endpoint_renders_a_given_capture() -> None:
    stack = _stack()
    capture = sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
        capture_options=[sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input")],
        destination_s3_uri=f"s3://{BUCKET}/capture/x",
        initial_sampling_percentage=5,
    )
    variant = sagemaker.CfnEndpointConfig.ProductionVariantProperty(
        variant_name="AllTraffic", model_name="m", instance_type="ml.m5.xlarge", initial_instance_count=1
    )
    create_endpoint(
        stack, endpoint_name="x", production_variants=[variant], volume_encryption_key=None, data_capture=capture
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "DataCaptureConfig": {
                "CaptureOptions": [{"CaptureMode": "Input"}],
                "DestinationS3Uri": f"s3://{BUCKET}/capture/x",
                "InitialSamplingPercentage": 5,
            }
        },
    )


def test_the_rendered_template_passes_cfn_lint(serial: Template) -> None:
    assert cfn_lint(dict(serial.to_json())) == []


def test_compliance_clean_with_capture() -> None:
    app = make_app(**{"@aws-cdk/core:failSynthOnValidationErrors": False})
    stage = cdk.Stage(app, "X", env=ENV)
    stack = cdk.Stack(stage, "Hosting")
    key = kms.Key(stack, "StoreKey", enable_key_rotation=True)
    bucket = s3.Bucket(
        stack,
        "Store",
        encryption_key=key,
        enforce_ssl=True,
        versioned=True,
        server_access_logs_bucket=s3.Bucket.from_bucket_name(stack, "Logs", "access-logs"),
    )
    _pipeline(stack, data_capture=DataCapture(bucket=bucket), volume_encryption_key=key)
    add_compliance_checks(stage)
    findings = [f for f in compliance_findings(app) if "/Store" not in f.path]
    assert findings == []


# -- every validation rule fires --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sampling_percent": 101}, r"data_capture\.sampling_percent 101 must be between 0 and 100"),
        ({"sampling_percent": -1}, r"data_capture\.sampling_percent -1 must be at least 0"),
        ({"sampling_percent": 12.5}, r"data_capture\.sampling_percent 12\.5 must be a whole number"),
        ({"sampling_percent": float("nan")}, r"data_capture\.sampling_percent nan must be a finite number"),
        (
            {"capture_requests": False, "capture_responses": False},
            r"capture_requests/capture_responses \(False, False\) capture nothing",
        ),
        ({"json_content_types": "application/json"}, r"json_content_types 'application/json' must be a tuple"),
        ({"csv_content_types": tuple(f"text/csv{i}" for i in range(11))}, r"csv_content_types '11 types' exceeds 10"),
        ({"json_content_types": ("json",)}, r"json_content_types 'json' must be a MIME type/subtype"),
        ({"csv_content_types": ("text/" + "c" * 252,)}, r"csv_content_types 'text/c+' must be a MIME type"),
        (
            {"json_content_types": ("text/plain",), "csv_content_types": ("text/plain",)},
            r"content types \['text/plain'\] cannot be recorded both as JSON and as CSV",
        ),
        ({"prefix": "capture/churn"}, r"data_capture\.prefix 'capture/churn' must be S3-safe segments"),
        ({"prefix": "/capture/churn/"}, r"data_capture\.prefix '/capture/churn/' must be S3-safe segments"),
        ({"prefix": "capture/../models/"}, r"data_capture\.prefix 'capture/\.\./models/' must be S3-safe segments"),
        # IAM User Guide, "IAM JSON policy elements: Resource": '*' in a resource ARN is a wildcard.
        ({"prefix": "capture/*/"}, r"data_capture\.prefix 'capture/\*/' must be S3-safe segments"),
        ({"prefix": "models/churn/"}, r"data_capture\.prefix 'models/churn/' must be under 'capture/'"),
        ({"prefix": "quarantine/churn/"}, r"data_capture\.prefix 'quarantine/churn/' must be under 'capture/'"),
        (
            {"prefix": "capture/" + "a/" * 240},
            r"data_capture\.prefix 'capture/a/.*' makes a DestinationS3Uri of 5\d\d characters \(max 512\)",
        ),
    ],
)
def test_each_rule_names_the_endpoint_field_and_value(overrides: dict[str, Any], message: str) -> None:
    stack = _stack()
    with pytest.raises(ValidationError, match=r"^MultiContainerEndpoint Hosting/Churn: .*" + message):
        _pipeline(stack, data_capture=_capture(stack, **overrides))


def test_the_uri_limit_assumes_the_longest_bucket_name_when_it_is_a_token() -> None:
    stack = _stack()
    name = cdk.CfnParameter(stack, "ArtifactBucketName").value_as_string
    # s3:// (5) + the longest name (63) + / (1) + 443 characters = 512 passes; one character more does not.
    _pipeline(
        stack,
        data_capture=DataCapture(
            bucket=s3.Bucket.from_bucket_name(stack, "Imported", name), prefix="capture/" + "a" * 435 + "/"
        ),
    )
    other = _stack()
    name = cdk.CfnParameter(other, "ArtifactBucketName").value_as_string
    bucket = s3.Bucket.from_bucket_name(other, "Imported", name)
    with pytest.raises(ValidationError, match=r"makes a DestinationS3Uri of 513 characters"):
        _pipeline(other, data_capture=DataCapture(bucket=bucket, prefix="capture/" + "a" * 436 + "/"))


# -- refusals, with the kind and the reason ---------------------------------------------------------------------


def _multi_model(stack: cdk.Stack, **overrides: Any) -> MultiModelEndpoint:
    return MultiModelEndpoint(
        stack,
        "Mme",
        endpoint_name="mme",
        image=XGBOOST,
        model_prefix=ModelPrefix.for_endpoint(bucket=_bucket(stack), endpoint_name="mme"),
        variants=CPU,
        **overrides,
    )


def _serverless(stack: cdk.Stack, **overrides: Any) -> ServerlessEndpoint:
    return ServerlessEndpoint(stack, "Serverless", endpoint_name="sentiment", image=XGBOOST, **overrides)


def test_direct_multi_container_refuses_capture_because_the_documentation_is_silent() -> None:
    stack = _stack()
    with pytest.raises(ValidationError) as error:
        _pipeline(stack, mode=InferenceMode.DIRECT, data_capture=_capture(stack))
    assert str(error.value) == (
        "MultiContainerEndpoint Hosting/Churn: data_capture is not supported on a multi-container, Direct endpoint: "
        + CAPTURE_UNDOCUMENTED_DIRECT
    )
    assert "Supported features" in CAPTURE_UNDOCUMENTED_DIRECT


def test_multi_model_refuses_capture_because_model_monitor_does_not_support_it() -> None:
    stack = _stack()
    with pytest.raises(ValidationError) as error:
        _multi_model(stack, data_capture=_capture(stack))
    assert str(error.value) == (
        "MultiModelEndpoint Hosting/Mme: data_capture is not supported on a multi-model endpoint: "
        + CAPTURE_UNSUPPORTED_MULTI_MODEL
    )


def test_serverless_refuses_capture_because_it_is_a_feature_exclusion() -> None:
    stack = _stack()
    with pytest.raises(ValidationError) as error:
        _serverless(stack, data_capture=_capture(stack))
    assert str(error.value) == (
        "ServerlessEndpoint Hosting/Serverless: data_capture is not supported on a serverless endpoint: "
        + CAPTURE_UNSUPPORTED_SERVERLESS
    )


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (
            lambda stack: _pipeline(stack, shadow_variants=CPU),
            "MultiContainerEndpoint Hosting/Churn: shadow_variants are not supported on a multi-container, Serial "
            "endpoint: " + SHADOW_UNSUPPORTED_MULTI_CONTAINER,
        ),
        (
            lambda stack: _pipeline(stack, mode=InferenceMode.DIRECT, shadow_variants=CPU),
            "MultiContainerEndpoint Hosting/Churn: shadow_variants are not supported on a multi-container, Direct "
            "endpoint: " + SHADOW_UNSUPPORTED_MULTI_CONTAINER,
        ),
        (
            lambda stack: _multi_model(stack, shadow_variants=CPU),
            "MultiModelEndpoint Hosting/Mme: shadow_variants are not supported on a multi-model endpoint: "
            + SHADOW_UNSUPPORTED_MULTI_MODEL,
        ),
        (
            lambda stack: _serverless(stack, shadow_variants=CPU),
            "ServerlessEndpoint Hosting/Serverless: shadow_variants are not supported on a serverless endpoint: "
            + SHADOW_UNSUPPORTED_SERVERLESS,
        ),
    ],
)
def test_every_kind_refuses_shadow_variants_with_the_exclusion(build: Any, expected: str) -> None:
    with pytest.raises(ValidationError) as error:
        build(_stack())
    assert str(error.value) == expected
    assert "Shadow tests" in expected


def test_refusals_happen_before_any_resource_is_created() -> None:
    stack = _stack()
    with pytest.raises(ValidationError):
        _multi_model(stack, data_capture=_capture(stack))
    assert not [c for c in stack.node.find_all() if isinstance(c, cdk.CfnResource)]
