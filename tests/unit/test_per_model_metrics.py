"""PerModelMetrics: the Contributor Insights rules, the opt-in metric filters, their metrics and dashboard widget,
validation, and that all of them read exactly the line the Multi Model Server handler logs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, cast

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from constructs_lib import ValidationError
from constructs_lib import per_model_metrics as pmm
from constructs_lib.per_model_metrics import PerModelMetrics
from tests.support import byoc_model_handler, cfn_lint, make_app

ENV = cdk.Environment(account="111111111111", region="eu-west-1")
GROUP = "/aws/sagemaker/Endpoints/dev-prices"


handler = byoc_model_handler()


def _stack() -> cdk.Stack:
    return cdk.Stack(make_app(), "Hosting", env=ENV)


def _metrics(stack: cdk.Stack, **overrides: Any) -> PerModelMetrics:
    props: dict[str, Any] = {"endpoint_name": "dev-prices", "log_group_name": GROUP}
    props.update(overrides)
    return PerModelMetrics(stack, "PerModel", **props)


def _rules(template: Template) -> dict[str, dict[str, Any]]:
    """Each rule's properties by RuleName, with RuleBody parsed."""
    rules = {}
    for resource in template.find_resources("AWS::CloudWatch::InsightRule").values():
        properties = dict(resource["Properties"])
        properties["RuleBody"] = json.loads(properties["RuleBody"])
        rules[properties["RuleName"]] = properties
    return rules


def _filters(template: Template) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["FilterName"]: r["Properties"]
        for r in template.find_resources("AWS::Logs::MetricFilter").values()
    }


# -- what synthesizes --------------------------------------------------------------------------------------------


def test_three_enabled_rules_with_exact_bodies() -> None:
    stack = _stack()
    _metrics(stack)
    rules = _rules(Template.from_stack(stack))
    schema = {"Name": "CloudWatchLogRule", "Version": 1}
    invocation = {"Match": "$.event", "In": ["invocation"]}
    assert rules == {
        "sagemaker-dev-prices-invocations-by-model": {
            "RuleName": "sagemaker-dev-prices-invocations-by-model",
            "RuleState": "ENABLED",
            "RuleBody": {
                "Schema": schema,
                "LogGroupNames": [GROUP],
                "LogFormat": "JSON",
                "Contribution": {"Keys": ["$.target_model"], "Filters": [invocation]},
                "AggregateOn": "Count",
            },
        },
        "sagemaker-dev-prices-errors-by-model": {
            "RuleName": "sagemaker-dev-prices-errors-by-model",
            "RuleState": "ENABLED",
            "RuleBody": {
                "Schema": schema,
                "LogGroupNames": [GROUP],
                "LogFormat": "JSON",
                "Contribution": {
                    "Keys": ["$.target_model"],
                    "Filters": [invocation, {"Match": "$.status", "In": ["error"]}],
                },
                "AggregateOn": "Count",
            },
        },
        "sagemaker-dev-prices-latency-by-model": {
            "RuleName": "sagemaker-dev-prices-latency-by-model",
            "RuleState": "ENABLED",
            "RuleBody": {
                "Schema": schema,
                "LogGroupNames": [GROUP],
                "LogFormat": "JSON",
                "Contribution": {"Keys": ["$.target_model"], "Filters": [invocation], "ValueOf": "$.latency_ms"},
                "AggregateOn": "Sum",
            },
        },
    }


def test_no_metric_filter_and_no_metric_by_default() -> None:
    stack = _stack()
    metrics = _metrics(stack)
    Template.from_stack(stack).resource_count_is("AWS::Logs::MetricFilter", 0)
    assert metrics.metric_filters == {}
    with pytest.raises(ValidationError, match=r"bounded_models False means no Invocations metric per model"):
        metrics.metric_invocations("paris.tar.gz")


def test_bounded_models_adds_three_filters_with_a_target_model_dimension() -> None:
    stack = _stack()
    _metrics(stack, bounded_models=True, namespace="Prices/PerModel")
    dimension = [{"Key": "TargetModel", "Value": "$.target_model"}]

    def transformation(name: str, value: str, unit: str) -> list[dict[str, Any]]:
        return [
            {
                "MetricNamespace": "Prices/PerModel",
                "MetricName": name,
                "MetricValue": value,
                "Unit": unit,
                "Dimensions": dimension,
            }
        ]

    assert _filters(Template.from_stack(stack)) == {
        "sagemaker-dev-prices-invocations-by-model": {
            "FilterName": "sagemaker-dev-prices-invocations-by-model",
            "LogGroupName": GROUP,
            "FilterPattern": '{ $.event = "invocation" }',
            "MetricTransformations": transformation("Invocations", "1", "Count"),
        },
        "sagemaker-dev-prices-errors-by-model": {
            "FilterName": "sagemaker-dev-prices-errors-by-model",
            "LogGroupName": GROUP,
            "FilterPattern": '{ ($.event = "invocation") && ($.status = "error") }',
            "MetricTransformations": transformation("Errors", "1", "Count"),
        },
        "sagemaker-dev-prices-latency-by-model": {
            "FilterName": "sagemaker-dev-prices-latency-by-model",
            "LogGroupName": GROUP,
            "FilterPattern": '{ $.event = "invocation" }',
            "MetricTransformations": transformation("ModelLatency", "$.latency_ms", "Milliseconds"),
        },
    }


def test_metrics_of_the_bounded_filters() -> None:
    metrics = _metrics(_stack(), bounded_models=True)
    shapes = [
        (m.namespace, m.metric_name, m.dimensions, m.statistic, m.unit)
        for m in (
            metrics.metric_invocations("paris.tar.gz"),
            metrics.metric_errors("paris.tar.gz"),
            metrics.metric_model_latency("paris.tar.gz"),
        )
    ]
    per_model = {"TargetModel": "paris.tar.gz"}
    assert shapes == [
        ("SageMakerHosting/PerModel", "Invocations", per_model, "Sum", cloudwatch.Unit.COUNT),
        ("SageMakerHosting/PerModel", "Errors", per_model, "Sum", cloudwatch.Unit.COUNT),
        ("SageMakerHosting/PerModel", "ModelLatency", per_model, "Average", cloudwatch.Unit.MILLISECONDS),
    ]
    assert metrics.metric_model_latency("paris.tar.gz", statistic="p99").statistic == "p99"


def test_top_models_widget_renders_a_contributor_insights_graph() -> None:
    stack = _stack()
    metrics = _metrics(stack)
    dashboard = cloudwatch.Dashboard(stack, "Dashboard")
    dashboard.add_widgets(metrics.top_models_widget(), metrics.top_models_widget("errors", title="Failing", width=8))
    [resource] = Template.from_stack(stack).find_resources("AWS::CloudWatch::Dashboard").values()
    widgets = json.loads(resource["Properties"]["DashboardBody"])["widgets"]
    assert widgets == [
        {
            "type": "metric",
            "width": 12,
            "height": 6,
            "x": 0,
            "y": 0,
            "properties": {
                "insightRule": {
                    "maxContributorCount": 10,
                    "orderBy": "Sum",
                    "ruleName": "sagemaker-dev-prices-invocations-by-model",
                },
                "region": "eu-west-1",
                "title": "dev-prices: top models by requests",
                "view": "timeSeries",
                "stacked": False,
                "legend": {"position": "bottom"},
            },
        },
        {
            "type": "metric",
            "width": 8,
            "height": 6,
            "x": 12,
            "y": 0,
            "properties": {
                "insightRule": {
                    "maxContributorCount": 10,
                    "orderBy": "Sum",
                    "ruleName": "sagemaker-dev-prices-errors-by-model",
                },
                "region": "eu-west-1",
                "title": "Failing",
                "view": "timeSeries",
                "stacked": False,
                "legend": {"position": "bottom"},
            },
        },
    ]
    # Every widget names a rule the construct created.
    rules = _rules(Template.from_stack(stack))
    assert {w["properties"]["insightRule"]["ruleName"] for w in widgets} <= set(rules)


def test_a_log_group_from_another_construct_is_a_token_in_the_rule_body() -> None:
    stack = _stack()
    group = logs.LogGroup(stack, "Group", log_group_name=GROUP)
    _metrics(stack, log_group_name=group.log_group_name, bounded_models=True)
    template = Template.from_stack(stack)
    ref = {"Ref": stack.get_logical_id(cast(cdk.CfnElement, group.node.default_child))}
    rules = template.find_resources("AWS::CloudWatch::InsightRule").values()
    assert len(rules) == 3
    for rule in rules:
        separator, parts = rule["Properties"]["RuleBody"]["Fn::Join"]
        # With the reference resolved to the group's name, the body is the plain one.
        body = json.loads(separator.join(GROUP if part == ref else part for part in parts))
        assert body["LogGroupNames"] == [GROUP]
    assert {f["LogGroupName"] == ref for f in _filters(template).values()} == {True}


def test_cfn_lint_finds_nothing() -> None:
    stack = _stack()
    metrics = _metrics(stack, bounded_models=True)
    cloudwatch.Dashboard(stack, "Dashboard", widgets=[[metrics.top_models_widget("latency")]])
    assert cfn_lint(dict(Template.from_stack(stack).to_json())) == []


# -- the rules and filters read the handler's line -----------------------------------------------------------------


def test_the_field_names_are_the_handlers() -> None:
    assert (pmm.EVENT_FIELD, pmm.TARGET_MODEL_FIELD, pmm.LATENCY_FIELD, pmm.STATUS_FIELD) == (
        handler.EVENT,
        handler.TARGET_MODEL,
        handler.LATENCY_MS,
        handler.STATUS,
    )
    assert (pmm.INVOCATION_EVENT, pmm.ERROR_STATUS) == (handler.INVOCATION, handler.STATUS_ERROR)


def _path(line: dict[str, Any], selector: str) -> Any:
    """A ``$.field`` selector (the only form the rules and filters use) on a parsed line; KeyError if absent."""
    assert re.fullmatch(r"\$\.[a-z_]+", selector), selector
    return line[selector[2:]]


def _rule_contribution(body: dict[str, Any], line: dict[str, Any]) -> tuple[Any, float] | None:
    """(contributor key, value) the rule takes from ``line``, or None when its filters drop it."""
    contribution = body["Contribution"]
    for condition in contribution["Filters"]:
        if _path(line, condition["Match"]) not in condition["In"]:
            return None
    [key] = [_path(line, k) for k in contribution["Keys"]]
    value = float(_path(line, contribution["ValueOf"])) if body["AggregateOn"] == "Sum" else 1.0
    return key, value


def _pattern_matches(pattern: str, line: dict[str, Any]) -> bool:
    """A JSON filter pattern made of ``($.field = "value")`` terms joined by ``&&`` (what the construct writes)."""
    terms = re.findall(r'(\$\.[a-z_]+) = "([^"]*)"', pattern)
    assert terms
    assert pattern.count("&&") == len(terms) - 1
    return all(_path(line, selector) == value for selector, value in terms)


@pytest.fixture
def handler_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], dict[str, Any]]:
    """An ok line and an error line, as the handler writes them."""
    monkeypatch.setattr(handler, "CONTAINER_STDOUT", str(tmp_path / "stdout"))
    (tmp_path / "stdout").touch()
    ok = json.loads(handler.log_invocation("paris/model.tar.gz", 12.5))
    failed = json.loads(handler.log_invocation("lyon.tar.gz", 3.25, handler.ModelError("bad row")))
    assert [json.loads(line) for line in (tmp_path / "stdout").read_text().splitlines()] == [ok, failed]
    return ok, failed


def test_the_rules_count_the_handlers_lines(handler_lines: tuple[dict[str, Any], dict[str, Any]]) -> None:
    ok, failed = handler_lines
    stack = _stack()
    _metrics(stack)
    bodies = {name.split("-")[-3]: r["RuleBody"] for name, r in _rules(Template.from_stack(stack)).items()}
    assert [_rule_contribution(bodies["invocations"], line) for line in (ok, failed)] == [
        ("paris/model.tar.gz", 1.0),
        ("lyon.tar.gz", 1.0),
    ]
    assert [_rule_contribution(bodies["errors"], line) for line in (ok, failed)] == [None, ("lyon.tar.gz", 1.0)]
    assert [_rule_contribution(bodies["latency"], line) for line in (ok, failed)] == [
        ("paris/model.tar.gz", 12.5),
        ("lyon.tar.gz", 3.25),
    ]


def test_the_filters_count_the_handlers_lines(handler_lines: tuple[dict[str, Any], dict[str, Any]]) -> None:
    ok, failed = handler_lines
    stack = _stack()
    _metrics(stack, bounded_models=True)
    published = {}
    for properties in _filters(Template.from_stack(stack)).values():
        [transformation] = properties["MetricTransformations"]
        [dimension] = transformation["Dimensions"]
        value = transformation["MetricValue"]
        published[transformation["MetricName"]] = [
            (_path(line, dimension["Value"]), float(_path(line, value) if value.startswith("$.") else value))
            for line in (ok, failed)
            if _pattern_matches(properties["FilterPattern"], line)
        ]
    assert published == {
        "Invocations": [("paris/model.tar.gz", 1.0), ("lyon.tar.gz", 1.0)],
        "Errors": [("lyon.tar.gz", 1.0)],
        "ModelLatency": [("paris/model.tar.gz", 12.5), ("lyon.tar.gz", 3.25)],
    }


# -- validation ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"endpoint_name": "Dev-Prices", "log_group_name": "/aws/sagemaker/Endpoints/Dev-Prices"},
            "'Dev-Prices' must be lowercase",
        ),
        ({"endpoint_name": "dev_prices"}, "endpoint_name 'dev_prices' must be 1-63 letters"),
        ({"endpoint_name": "a" * 64}, "must be 1-63 letters, digits and inner hyphens (64 given)"),
        (
            {"log_group_name": "/aws/sagemaker/Endpoints/dev prices"},
            "log_group_name '/aws/sagemaker/Endpoints/dev prices' must be 1-512",
        ),
        (
            {"log_group_name": "/aws/sagemaker/Endpoints/prod-prices"},
            "must be /aws/sagemaker/Endpoints/dev-prices, where SageMaker writes",
        ),
        ({"log_group_name": "/aws/sagemaker/Endpoints/*"}, "log_group_name '/aws/sagemaker/Endpoints/*' must be 1-512"),
        ({"namespace": "AWS/SageMaker"}, "namespace 'AWS/SageMaker' must not start with 'AWS/'"),
        ({"namespace": "Per Model"}, "namespace 'Per Model' must be 1-255"),
        ({"namespace": ""}, "namespace '' must be 1-255"),
        ({"namespace": "n" * 256}, "must be 1-255"),
    ],
)
def test_construction_refuses(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(
        ValidationError, match=re.escape("PerModelMetrics Hosting/PerModel: ") + ".*" + re.escape(message)
    ):
        _metrics(_stack(), **overrides)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ({"kind": "throughput"}, "kind 'throughput' must be one of"),
        ({"max_contributors": 0}, "max_contributors 0 must be at least 1"),
        ({"max_contributors": 101}, "max_contributors 101 must be between 1 and 100"),
        ({"max_contributors": 2.5}, "max_contributors 2.5 must be a whole number"),
        ({"width": 25}, "width 25 must be between 1 and 24"),
        ({"height": 0}, "height 0 must be at least 1"),
    ],
)
def test_widget_refuses(call: dict[str, Any], message: str) -> None:
    metrics = _metrics(_stack())
    with pytest.raises(ValidationError, match=re.escape(message)):
        metrics.top_models_widget(**call)


def test_metric_refuses_an_empty_target_model() -> None:
    metrics = _metrics(_stack(), bounded_models=True)
    with pytest.raises(ValidationError, match=r"target_model '' must be 1-1024 characters"):
        metrics.metric_errors("")
