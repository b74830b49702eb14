"""Configuration options composed into the Hosting stack: per-model metrics of a multi-model endpoint, data
capture of a Serial pipeline, and their refusals, each in one line."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

import app
from stacks.config import DataCaptureConfig, EnvironmentConfig
from stacks.stage import ModelHostingStage
from tests.support import feature_environment, make_app

DEV = feature_environment()
MME = DEV.multi_model_endpoints[0]
DIRECT, SERIAL = DEV.multi_container_endpoints


def _hosting(config: EnvironmentConfig) -> dict[str, Any]:
    stage = ModelHostingStage(make_app(), config.stage_id, config=config)
    template: dict[str, Any] = Template.from_stack(stage.hosting).to_json()
    return template


def _one_line(config: EnvironmentConfig, capsys: pytest.CaptureFixture[str]) -> str:
    assert app.main(make_app(), (config,)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_per_model_metrics_attach_to_the_endpoints_log_group_and_draw_the_top_models() -> None:
    config = DEV.replace(
        multi_model_endpoints=(dataclasses.replace(MME, per_model_metrics=True),), multi_container_endpoints=()
    )
    template = _hosting(config)
    rules = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::InsightRule"]
    assert sorted(r["RuleName"] for r in rules) == [
        "sagemaker-dev-prices-errors-by-model",
        "sagemaker-dev-prices-invocations-by-model",
        "sagemaker-dev-prices-latency-by-model",
    ]
    for rule in rules:
        # The log group the ModelStore creates before the endpoint (and SageMaker writes the container's lines to).
        assert json.loads(rule["RuleBody"])["LogGroupNames"] == ["/aws/sagemaker/Endpoints/dev-prices"]
    assert not [r for r in template["Resources"].values() if r["Type"] == "AWS::Logs::MetricFilter"]
    dashboard = next(r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert "sagemaker-dev-prices-invocations-by-model" in body


def test_bounded_model_metrics_add_filters_with_a_model_dimension() -> None:
    config = DEV.replace(
        multi_model_endpoints=(dataclasses.replace(MME, bounded_model_metrics=True),), multi_container_endpoints=()
    )
    filters = [
        r["Properties"] for r in _hosting(config)["Resources"].values() if r["Type"] == "AWS::Logs::MetricFilter"
    ]
    assert len(filters) == 3
    for each in filters:
        assert each["LogGroupName"] == "/aws/sagemaker/Endpoints/dev-prices"
        (transformation,) = each["MetricTransformations"]
        assert transformation["Dimensions"] == [{"Key": "TargetModel", "Value": "$.target_model"}]


def test_a_serial_pipeline_captures_into_the_stages_bucket_under_its_key() -> None:
    capture = DataCaptureConfig(sampling_percent=10, csv_content_types=("text/csv",))
    config = DEV.replace(
        multi_model_endpoints=(), multi_container_endpoints=(dataclasses.replace(SERIAL, data_capture=capture),)
    )
    template = _hosting(config)
    (endpoint_config,) = [
        r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::EndpointConfig"
    ]
    captured = endpoint_config["DataCaptureConfig"]
    assert captured["InitialSamplingPercentage"] == 10
    assert captured["DestinationS3Uri"] == f"s3://{DEV.artifact_bucket_name}/capture/dev-scoring"
    assert captured["CaptureContentTypeHeader"] == {"CsvContentTypes": ["text/csv"]}
    assert sorted(o["CaptureMode"] for o in captured["CaptureOptions"]) == ["Input", "Output"]
    assert "KmsKeyId" in captured


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("mme", "data_capture is not supported on a multi-model endpoint"),
        ("direct", "data_capture is not supported on a multi-container, Direct endpoint"),
    ],
)
def test_data_capture_is_refused_where_sagemaker_does_not_document_it(
    where: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = DataCaptureConfig()
    if where == "mme":
        config = DEV.replace(
            multi_model_endpoints=(dataclasses.replace(MME, data_capture=capture),), multi_container_endpoints=()
        )
        name = "prices"
    else:
        config = DEV.replace(
            multi_model_endpoints=(), multi_container_endpoints=(dataclasses.replace(DIRECT, data_capture=capture),)
        )
        name = "vision"
    err = _one_line(config, capsys)
    assert err.startswith(f"error: environment 'dev', endpoint '{name}': "), err
    assert expected in err
