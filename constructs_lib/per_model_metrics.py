"""PerModelMetrics: per-model traffic, errors and latency of a multi-model endpoint, from its container's log.

SageMaker publishes no per-model metric for multi-model endpoints (SageMaker Developer Guide, "CloudWatch Metrics
for Multi-Model Endpoint Deployments": "Per-model metrics aren't supported"). A container that logs one JSON line
per request naming the request's TargetModel (this project's Multi Model Server handler,
images/multi-model-server/model_handler.py, does) lets CloudWatch count them:

- Contributor Insights rules (always): the top models by requests, errors and time spent, however many models
  the endpoint serves. Billed per rule and per matched log event, not per model.
- Metric filters with a ``TargetModel`` dimension (``bounded_models=True``): ordinary metrics per model, to alarm
  on and graph. Each model is a billed custom metric, and CloudWatch Logs may disable a filter that produces
  1,000 dimension values within one hour: only for endpoints with a known, small set of models.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs
from constructs import Construct

from constructs_lib import sagemaker_limits as limits
from constructs_lib.dashboard_widgets import WIDTH
from hosting_contract import naming
from hosting_contract.archive_rules import MAX_TARGET_MODEL

#: The fields and values of the handler's line (images/multi-model-server/model_handler.py: EVENT, TARGET_MODEL,
#: LATENCY_MS, STATUS, INVOCATION, STATUS_ERROR); tests/unit/test_per_model_metrics.py checks both sides agree.
EVENT_FIELD = "event"
TARGET_MODEL_FIELD = "target_model"
LATENCY_FIELD = "latency_ms"
STATUS_FIELD = "status"
INVOCATION_EVENT = "invocation"
ERROR_STATUS = "error"

#: The dimension the bounded metrics carry, named like the InvokeEndpoint parameter it holds.
DIMENSION = "TargetModel"
DEFAULT_NAMESPACE = "SageMakerHosting/PerModel"

#: Which rule a dashboard widget graphs.
RuleKind = Literal["invocations", "errors", "latency"]
RULE_KINDS: tuple[RuleKind, ...] = ("invocations", "errors", "latency")

#: CloudWatch Logs LogGroupName (botocore ``logs`` service model): 1-512 of these characters.
_LOG_GROUP_NAME = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}\Z")
#: The namespace is a metric filter's MetricNamespace: the CloudFormation schema of AWS::Logs::MetricFilter allows
#: 1-256 of these characters, and CloudWatch's own limit (PutMetricData Namespace) is 255.
_NAMESPACE = re.compile(r"^[0-9a-zA-Z.\-_/#]{1,255}\Z")
#: PutMetricData: "AWS/" namespaces are reserved for AWS services.
_RESERVED_NAMESPACE = "AWS/"
#: GetInsightRuleReport MaxContributorCount: 1-100.
MAX_CONTRIBUTORS = 100


def rule_name(endpoint_name: str, kind: RuleKind) -> str:
    """The Contributor Insights rule of ``kind`` for ``endpoint_name``: ``sagemaker-<endpoint>-<kind>-by-model``.

    Rule names are unique per account and Region (PutInsightRule RuleName); endpoint names are too. At most
    10 + 63 + 23 characters, within the 1-128 printable ASCII characters of RuleName (CloudFormation schema of
    AWS::CloudWatch::InsightRule).
    """
    return f"sagemaker-{endpoint_name}-{kind}-by-model"


def rule_body(log_group_name: str, kind: RuleKind) -> dict[str, Any]:
    """The rule definition of ``kind``, in Contributor Insights rule syntax (Amazon CloudWatch User Guide,
    "Contributor Insights rule syntax in CloudWatch"): contributors are TargetModel values of the handler's
    invocation lines; errors also match ``status``; latency sums ``latency_ms`` instead of counting lines."""
    filters: list[dict[str, Any]] = [{"Match": f"$.{EVENT_FIELD}", "In": [INVOCATION_EVENT]}]
    if kind == "errors":
        filters.append({"Match": f"$.{STATUS_FIELD}", "In": [ERROR_STATUS]})
    contribution: dict[str, Any] = {"Keys": [f"$.{TARGET_MODEL_FIELD}"], "Filters": filters}
    if kind == "latency":
        # ValueOf goes with AggregateOn Sum only (same page).
        contribution["ValueOf"] = f"$.{LATENCY_FIELD}"
    return {
        "Schema": {"Name": "CloudWatchLogRule", "Version": 1},
        "LogGroupNames": [log_group_name],
        "LogFormat": "JSON",
        "Contribution": contribution,
        "AggregateOn": "Sum" if kind == "latency" else "Count",
    }


class TopModelsWidget(cloudwatch.ConcreteWidget):
    """A dashboard graph of a Contributor Insights rule's top contributors over time.

    The CDK has no such widget (aws/aws-cdk issue #13005): this renders the dashboard-body JSON the CloudWatch
    console writes for one, a ``metric`` widget whose ``properties.insightRule`` names the rule.
    """

    def __init__(
        self,
        *,
        rule_name: str,
        region: str,
        title: str,
        width: int = 12,
        height: int = 6,
        max_contributors: int = 10,
    ) -> None:
        super().__init__(width, height)
        self._properties: dict[str, Any] = {
            "insightRule": {"maxContributorCount": max_contributors, "orderBy": "Sum", "ruleName": rule_name},
            "region": region,
            "title": title,
            "view": "timeSeries",
            "stacked": False,
            "legend": {"position": "bottom"},
        }

    def to_json(self) -> list[Any]:
        """The widget's entry in the dashboard body."""
        return [
            {
                "type": "metric",
                "width": self.width,
                "height": self.height,
                "x": self._x,
                "y": self._y,
                "properties": self._properties,
            }
        ]


class PerModelMetrics(Construct):
    """Per-model metrics of one multi-model endpoint, read from the JSON lines its container logs per request.

    Always: three Contributor Insights rules on the endpoint's log group (top models by requests, by errors, by
    total latency), enabled, named ``sagemaker-<endpoint>-{invocations,errors,latency}-by-model``. They rank any
    number of models and are billed per rule and per matched log event, not per model.

    With ``bounded_models=True``, also three metric filters publishing ``Invocations``, ``Errors`` (Sum) and
    ``ModelLatency`` (milliseconds) with a ``TargetModel`` dimension under ``namespace``. Only for endpoints with
    a known, small set of models: each model is a separate, billed custom metric, and "CloudWatch Logs might
    disable a metric filter if it generates 1,000 different name/value pairs for your specified dimensions within
    one hour" (CloudWatch Logs API Reference, PutMetricFilter; a filter takes at most three dimensions).

    Only containers that log the handler's line feed them (images/multi-model-server/model_handler.py); SageMaker's
    own images log no such line. The log group must exist before the filters: the ModelStore stack creates
    ``/aws/sagemaker/Endpoints/<endpoint>`` ahead of the endpoint.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        log_group_name: str,
        bounded_models: bool = False,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        """Create the rules (and, when ``bounded_models``, the metric filters).

        :param endpoint_name: the endpoint's deployed name: lowercase, 1-63 letters, digits and hyphens.
        :param log_group_name: its log group, ``/aws/sagemaker/Endpoints/<endpoint_name>``.
        :param bounded_models: also publish per-model metrics through metric filters (see above). Default: off.
        :param namespace: the namespace of those metrics. Default: ``SageMakerHosting/PerModel``.
        """
        super().__init__(scope, construct_id)
        self._owner = f"PerModelMetrics {self.node.path}"
        # 1. Validate at construction, naming the construct, the field and the value.
        limits.check_name(self._owner, "endpoint_name", endpoint_name, lowercase=True)
        _check_log_group(self._owner, log_group_name, endpoint_name)
        _check_namespace(self._owner, namespace)

        self.endpoint_name = endpoint_name
        """The endpoint's deployed name."""
        self.log_group_name = log_group_name
        """The log group the rules and filters read."""
        self.namespace = namespace
        """The namespace of the bounded metrics."""
        self.bounded_models = bounded_models
        """Whether the metric filters (and so the ``metric_*`` metrics) exist."""

        # 2. Contributor Insights rules: stable names (a renamed rule loses its history), enabled.
        self.rules: dict[RuleKind, cloudwatch.CfnInsightRule] = {
            kind: cloudwatch.CfnInsightRule(
                self,
                f"{kind.capitalize()}Rule",
                rule_name=rule_name(endpoint_name, kind),
                rule_state="ENABLED",
                # to_json_string keeps a log group name that is a token (e.g. another stack's) resolvable.
                rule_body=cdk.Stack.of(self).to_json_string(rule_body(log_group_name, kind)),
            )
            for kind in RULE_KINDS
        }
        """The Contributor Insights rules, by kind."""

        # 3. Opt-in metric filters. Dimension values come from the log line, so the number of metrics is the number
        # of models: the 1,000-values-per-hour cut-off and per-metric billing are why this is off by default.
        self.metric_filters: dict[str, logs.CfnMetricFilter] = {}
        """The metric filters by metric name (empty unless ``bounded_models``)."""
        if bounded_models:
            invocation = logs.FilterPattern.string_value(f"$.{EVENT_FIELD}", "=", INVOCATION_EVENT)
            error = logs.FilterPattern.all(
                invocation, logs.FilterPattern.string_value(f"$.{STATUS_FIELD}", "=", ERROR_STATUS)
            )
            filters: tuple[tuple[str, RuleKind, logs.IFilterPattern, str, str], ...] = (
                ("Invocations", "invocations", invocation, "1", "Count"),
                ("Errors", "errors", error, "1", "Count"),
                ("ModelLatency", "latency", invocation, f"$.{LATENCY_FIELD}", "Milliseconds"),
            )
            for metric_name, kind, pattern, value, unit in filters:
                self.metric_filters[metric_name] = logs.CfnMetricFilter(
                    self,
                    f"{metric_name}Filter",
                    # Stable and unique within the endpoint's log group.
                    filter_name=rule_name(endpoint_name, kind),
                    log_group_name=log_group_name,
                    filter_pattern=pattern.log_pattern_string,
                    metric_transformations=[
                        logs.CfnMetricFilter.MetricTransformationProperty(
                            metric_namespace=namespace,
                            metric_name=metric_name,
                            metric_value=value,
                            unit=unit,
                            # No DefaultValue: with a dimension there is no model to publish a default for.
                            dimensions=[
                                logs.CfnMetricFilter.DimensionProperty(key=DIMENSION, value=f"$.{TARGET_MODEL_FIELD}")
                            ],
                        )
                    ],
                )

    # 4. Metrics of the bounded filters: one model each, named by its TargetModel.
    def metric(self, metric_name: str, target_model: str, **props: Any) -> cloudwatch.Metric:
        """A bounded metric (``Invocations``, ``Errors``, ``ModelLatency``) of the model ``target_model``;
        ``props`` go to ``cloudwatch.Metric`` (period, statistic, label...)."""
        if not self.bounded_models:
            raise limits.fail(
                self._owner,
                "bounded_models",
                False,
                f"means no {metric_name} metric per model: set bounded_models=True to create the metric filters",
            )
        if not limits.is_token(target_model) and not 1 <= len(target_model) <= MAX_TARGET_MODEL:
            raise limits.fail(self._owner, "target_model", target_model, "must be 1-1024 characters (a TargetModel)")
        return cloudwatch.Metric(
            namespace=self.namespace, metric_name=metric_name, dimensions_map={DIMENSION: target_model}, **props
        )

    def metric_invocations(self, target_model: str, **props: Any) -> cloudwatch.Metric:
        """Requests the container handled for ``target_model`` (Sum)."""
        return self.metric("Invocations", target_model, **{"statistic": "Sum", "unit": cloudwatch.Unit.COUNT, **props})

    def metric_errors(self, target_model: str, **props: Any) -> cloudwatch.Metric:
        """Requests for ``target_model`` the handler failed (Sum)."""
        return self.metric("Errors", target_model, **{"statistic": "Sum", "unit": cloudwatch.Unit.COUNT, **props})

    def metric_model_latency(self, target_model: str, **props: Any) -> cloudwatch.Metric:
        """The handler's time per request for ``target_model``, in milliseconds (Average). Unlike SageMaker's
        ModelLatency (microseconds) it leaves out MMS's own queueing."""
        defaults = {"statistic": "Average", "unit": cloudwatch.Unit.MILLISECONDS}
        return self.metric("ModelLatency", target_model, **{**defaults, **props})

    # 5. Dashboard: the rules' top contributors, whatever the number of models.
    def top_models_widget(
        self,
        kind: RuleKind = "invocations",
        *,
        title: str | None = None,
        width: int = 12,
        height: int = 6,
        max_contributors: int = 10,
    ) -> cloudwatch.IWidget:
        """A graph of the top ``max_contributors`` models of the ``kind`` rule (requests, errors or total latency in
        ms), ordered by their sum over the dashboard's time range."""
        if kind not in RULE_KINDS:
            raise limits.fail(self._owner, "kind", kind, f"must be one of {RULE_KINDS}")
        limits.check_count(self._owner, "max_contributors", max_contributors, 1)
        limits.check_range(self._owner, "max_contributors", max_contributors, 1, MAX_CONTRIBUTORS)
        limits.check_count(self._owner, "width", width, 1)
        limits.check_range(self._owner, "width", width, 1, WIDTH)
        limits.check_count(self._owner, "height", height, 1)
        what = {"invocations": "requests", "errors": "errors", "latency": "total latency (ms)"}[kind]
        return TopModelsWidget(
            rule_name=rule_name(self.endpoint_name, kind),
            region=cdk.Stack.of(self).region,
            title=title or f"{self.endpoint_name}: top models by {what}",
            width=width,
            height=height,
            max_contributors=max_contributors,
        )


def _check_log_group(owner: str, log_group_name: str, endpoint_name: str) -> None:
    if limits.is_token(log_group_name):
        return
    if not _LOG_GROUP_NAME.match(log_group_name):
        raise limits.fail(owner, "log_group_name", log_group_name, "must be 1-512 of a-z, A-Z, 0-9, '.-_/#'")
    # SageMaker writes nowhere else: rules on another group would count nothing, silently.
    if not limits.is_token(endpoint_name) and log_group_name != naming.endpoint_log_group(endpoint_name):
        raise limits.fail(
            owner,
            "log_group_name",
            log_group_name,
            f"must be {naming.endpoint_log_group(endpoint_name)}, where SageMaker writes the endpoint's container logs",
        )


def _check_namespace(owner: str, namespace: str) -> None:
    if limits.is_token(namespace):
        return
    if not _NAMESPACE.match(namespace):
        raise limits.fail(owner, "namespace", namespace, "must be 1-255 of a-z, A-Z, 0-9, '.-_/#'")
    if namespace.startswith(_RESERVED_NAMESPACE):
        raise limits.fail(owner, "namespace", namespace, "must not start with 'AWS/' (reserved for AWS services)")
