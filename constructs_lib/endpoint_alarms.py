"""EndpointAlarms: the alarms of one endpoint, chosen by its kind (MME cache thrashing, MCE per container)."""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from constructs_lib import sagemaker_limits as limits
from constructs_lib.alarm_factory import (
    AlarmThresholds,
    alarm,
    error_rate,
    error_rate_alarm,
    microseconds,
    model_latency_alarm,
)
from constructs_lib.multi_container_endpoint import InferenceMode, MultiContainerEndpoint
from constructs_lib.multi_model_endpoint import MultiModelEndpoint
from constructs_lib.production_variant import ProductionVariant


class EndpointAlarms(Construct):
    """Alarms of every variant of a multi-model or multi-container endpoint.

    Every endpoint: 5XX error rate, p99 model latency, CPU, memory and disk. Multi-model endpoints add cache-hit
    ratio below a floor, model unloads above a ceiling (thrashing) and p99 model loading wait; Direct
    multi-container endpoints add a 5XX error rate per container. Latency thresholds are given as durations
    and converted to the metrics' microseconds.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: MultiModelEndpoint | MultiContainerEndpoint,
        thresholds: AlarmThresholds,
        action: cloudwatch.IAlarmAction | None = None,
    ) -> None:
        """Create the alarms of ``endpoint``, notifying ``action`` (e.g. ``AlarmTopic.alarm_action``)."""
        super().__init__(scope, construct_id)
        thresholds.validate(f"EndpointAlarms {self.node.path}")
        self.endpoint = endpoint
        self.thresholds = thresholds
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        """Every alarm, by construct id."""
        variants = endpoint.production_variants
        for variant in variants:
            # One variant (the usual case) keeps short ids; more get the variant name as suffix.
            suffix = "" if len(variants) == 1 else variant.variant_name
            self._common(variant, suffix)
            if isinstance(endpoint, MultiModelEndpoint):
                self._multi_model(endpoint, variant.variant_name, suffix)
            elif endpoint.mode is InferenceMode.DIRECT:
                self._per_container(endpoint, variant.variant_name, suffix)
        if action is not None:
            for each in self.alarms.values():
                each.add_alarm_action(action)
                each.add_ok_action(action)

    def _add(self, construct_id: str, created: cloudwatch.Alarm) -> None:
        self.alarms[construct_id] = created

    def _common(self, variant: ProductionVariant, suffix: str) -> None:
        endpoint, thresholds, name = self.endpoint, self.thresholds, variant.variant_name
        self._add(f"ErrorRate{suffix}", error_rate_alarm(self, f"ErrorRate{suffix}", endpoint, name, thresholds))
        self._add(
            f"ModelLatency{suffix}", model_latency_alarm(self, f"ModelLatency{suffix}", endpoint, name, thresholds)
        )
        cpus = limits.vcpus(variant.instance_type) or 1
        for metric_name, percent, scale in (
            ("CPUUtilization", thresholds.cpu_percent, cpus),
            ("MemoryUtilization", thresholds.memory_percent, 1),
            ("DiskUtilization", thresholds.disk_percent, 1),
        ):
            construct_id = f"{metric_name.removesuffix('Utilization')}{suffix}"
            self._add(
                construct_id,
                alarm(
                    self,
                    construct_id,
                    metric=endpoint.metric(
                        metric_name,
                        namespace="/aws/sagemaker/Endpoints",
                        unit=cloudwatch.Unit.PERCENT,
                        variant_name=name,
                        period=thresholds.period,
                    ),
                    threshold=percent * scale,
                    thresholds=thresholds,
                    description=f"{endpoint.endpoint_name}/{name}: {metric_name} above {percent}%",
                ),
            )

    def _multi_model(self, endpoint: MultiModelEndpoint, variant: str, suffix: str) -> None:
        thresholds = self.thresholds
        self._add(
            f"CacheHitRatio{suffix}",
            alarm(
                self,
                f"CacheHitRatio{suffix}",
                metric=endpoint.metric_model_cache_hit(variant_name=variant, period=thresholds.period),
                threshold=thresholds.cache_hit_ratio_floor,
                thresholds=thresholds,
                below=True,
                description=(
                    f"{endpoint.endpoint_name}/{variant}: cache-hit ratio below {thresholds.cache_hit_ratio_floor}"
                ),
            ),
        )
        self._add(
            f"ModelUnloads{suffix}",
            alarm(
                self,
                f"ModelUnloads{suffix}",
                metric=endpoint.metric_model_unloads(variant_name=variant, period=thresholds.period),
                threshold=thresholds.model_unloads_per_period,
                thresholds=thresholds,
                description=(
                    f"{endpoint.endpoint_name}/{variant}: more than {thresholds.model_unloads_per_period} models "
                    "unloaded per period (the model cache is thrashing: add instances or memory)"
                ),
            ),
        )
        self._add(
            f"ModelLoadingWait{suffix}",
            alarm(
                self,
                f"ModelLoadingWait{suffix}",
                metric=endpoint.metric_model_loading_wait_time(
                    variant_name=variant, statistic="p99", period=thresholds.period
                ),
                threshold=microseconds(thresholds.model_loading_wait_p99),
                thresholds=thresholds,
                description=(
                    f"{endpoint.endpoint_name}/{variant}: p99 model loading wait above "
                    f"{thresholds.model_loading_wait_p99.to_milliseconds()} ms"
                ),
            ),
        )

    def _per_container(self, endpoint: MultiContainerEndpoint, variant: str, suffix: str) -> None:
        thresholds = self.thresholds
        for hostname in endpoint.hostnames:
            construct_id = f"ErrorRate{_camel(hostname)}{suffix}"
            self._add(
                construct_id,
                alarm(
                    self,
                    construct_id,
                    metric=error_rate(endpoint, variant, thresholds.period, ContainerName=hostname),
                    threshold=thresholds.error_rate_percent,
                    thresholds=thresholds,
                    description=(
                        f"{endpoint.endpoint_name}/{variant}/{hostname}: 5XX errors above "
                        f"{thresholds.error_rate_percent}% of requests"
                    ),
                ),
            )


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))
