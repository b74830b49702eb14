"""BlueGreenDeployment: how an endpoint update shifts traffic, and which alarms roll it back."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import aws_cdk as cdk
from aws_cdk import aws_sagemaker as sagemaker

from constructs_lib import sagemaker_limits as limits
from constructs_lib.alarm_factory import AlarmThresholds
from constructs_lib.production_variant import ProductionVariant

MIN_EXECUTION_SECONDS, MAX_EXECUTION_SECONDS = 600, 28800
MAX_WAIT_SECONDS = 3600
#: Added to the sum of the waits when no maximum_execution_timeout is given: time to provision the new fleet.
DEFAULT_TIMEOUT_MARGIN_SECONDS = 600
MAX_ROLLBACK_ALARMS = 10


class TrafficShift(Enum):
    """How traffic moves from the old fleet to the new one."""

    ALL_AT_ONCE = "ALL_AT_ONCE"
    CANARY = "CANARY"
    """``size_percent`` of capacity first, then the rest after ``wait_interval``."""
    LINEAR = "LINEAR"
    """``size_percent`` of capacity per step, ``wait_interval`` between steps."""


@dataclass(frozen=True, kw_only=True)
class BlueGreenDeployment:
    """A blue/green update with traffic shifting and automatic rollback on the endpoint's own alarms.

    SageMaker supports deployment guardrails for single-model and multi-container endpoints, not multi-model
    ones, and needs the new config to keep the variant's name; this policy requires exactly one variant.
    """

    traffic: TrafficShift = TrafficShift.CANARY
    """Canary, linear, or all at once."""

    size_percent: int | None = None
    """Canary: at most 50% of capacity (default 10). Linear: 10-50% per step (default 20)."""

    wait_interval: cdk.Duration = cdk.Duration.minutes(5)
    """Baking time between shifts, 0-3600 s; alarms are watched meanwhile."""

    termination_wait: cdk.Duration = cdk.Duration.seconds(0)
    """How long the old fleet stays after all traffic moved, 0-3600 s."""

    maximum_execution_timeout: cdk.Duration | None = None
    """Limit of the whole update, 600-28800 s, above the sum of the waits. Default: that sum plus 10 minutes."""

    rollback_thresholds: AlarmThresholds = AlarmThresholds(evaluation_periods=1, period=cdk.Duration.minutes(1))
    """Thresholds of the 5XX and p99 latency alarms that roll the update back (1-minute periods by default)."""

    def validate(self, owner: str, variants: Sequence[ProductionVariant]) -> None:
        """Raise ``ValidationError`` naming ``owner``, the field and the value.

        Sources: the SageMaker API Reference, BlueGreenUpdatePolicy, TrafficRoutingConfig and CapacitySize, and the
        SageMaker Developer Guide, "Blue/Green Deployments", "Use canary traffic shifting" and "Use linear traffic
        shifting".
        """
        if len(variants) != 1:
            raise limits.fail(owner, "deployment", f"{len(variants)} variants", "needs exactly one variant")
        count = variants[0].initial_instance_count
        if self.traffic is not TrafficShift.ALL_AT_ONCE and not limits.is_token(count) and count < 2:
            raise limits.fail(
                owner, "initial_instance_count", count, f"must be at least 2 to shift traffic {self.traffic.value}"
            )
        # TrafficRoutingConfig WaitIntervalInSeconds and BlueGreenUpdatePolicy TerminationWaitInSeconds: integers,
        # 0-3600.
        wait = limits.whole_seconds(owner, "wait_interval", self.wait_interval)
        limits.check_range(owner, "wait_interval", wait, 0, MAX_WAIT_SECONDS)
        termination = limits.whole_seconds(owner, "termination_wait", self.termination_wait)
        limits.check_range(owner, "termination_wait", termination, 0, MAX_WAIT_SECONDS)
        self._check_size(owner)
        if not (limits.is_token(wait) or limits.is_token(termination)):
            self._check_execution_timeout(owner)
        self.rollback_thresholds.validate(f"{owner} rollback_thresholds")

    def _check_execution_timeout(self, owner: str) -> None:
        waits = self.total_wait_seconds()
        if self.maximum_execution_timeout is not None:
            # BlueGreenUpdatePolicy MaximumExecutionTimeoutInSeconds: 600-28800, "larger than the total waiting
            # time specified in TerminationWaitInSeconds and WaitIntervalInSeconds".
            seconds = limits.whole_seconds(owner, "maximum_execution_timeout", self.maximum_execution_timeout)
            limits.check_range(
                owner, "maximum_execution_timeout", seconds, MIN_EXECUTION_SECONDS, MAX_EXECUTION_SECONDS
            )
            if not limits.is_token(seconds) and seconds <= waits:
                raise limits.fail(
                    owner,
                    "maximum_execution_timeout",
                    seconds,
                    f"must exceed the sum of the waits ({waits} s) = {self._waits_explained()}",
                )
        elif waits + DEFAULT_TIMEOUT_MARGIN_SECONDS > MAX_EXECUTION_SECONDS:
            # Refused, never capped: a timeout capped to 28800 s would silently leave the update less than the
            # 10-minute margin (or less than its waits) to provision the new fleet, and it could time out.
            steps = " or a larger size_percent" if self.traffic is TrafficShift.LINEAR else ""
            raise limits.fail(
                owner,
                "maximum_execution_timeout",
                None,
                f"defaults to the sum of the waits ({waits} s) = {self._waits_explained()}, plus 600 s: above "
                f"SageMaker's maximum of {MAX_EXECUTION_SECONDS} s: use a shorter wait_interval or termination_wait"
                f"{steps}, or set maximum_execution_timeout above {waits} s and at most {MAX_EXECUTION_SECONDS} s",
            )

    def _check_size(self, owner: str) -> None:
        """``size_percent``: a CapacitySize of type CAPACITY_PERCENT, an integer of at least 1.

        TrafficRoutingConfig: CanarySize "must be less than or equal to 50% of the variant's total instance count";
        LinearStepSize "must be 10-50% of the variant's total instance count".
        """
        size = self._size()
        if self.traffic is TrafficShift.ALL_AT_ONCE:
            if self.size_percent is not None:
                raise limits.fail(owner, "size_percent", self.size_percent, "does not apply to ALL_AT_ONCE")
            return
        if isinstance(size, bool) or not isinstance(size, int):
            raise limits.fail(owner, "size_percent", size, "must be a whole percent (CapacitySize Value is an integer)")
        if self.traffic is TrafficShift.CANARY:
            limits.check_range(owner, "size_percent", size, 1, 50)
        else:
            limits.check_range(owner, "size_percent", size, 10, 50)

    def total_wait_seconds(self) -> int:
        """Waits the update spends baking: one per traffic step, plus the termination wait.

        Per the SageMaker Developer Guide every step bakes: all at once shifts then bakes once; a canary bakes after
        the canary and again after the rest ("there is a final baking period"); a linear shift bakes after each of
        its ceil(100 / size_percent) steps ("For each step, there is a baking period").
        """
        return int(self._steps() * self.wait_interval.to_seconds() + self.termination_wait.to_seconds())

    def _steps(self) -> int:
        if self.traffic is TrafficShift.LINEAR:
            return math.ceil(100 / self._size())
        return 2 if self.traffic is TrafficShift.CANARY else 1

    def _waits_explained(self) -> str:
        wait, termination = int(self.wait_interval.to_seconds()), int(self.termination_wait.to_seconds())
        steps = self._steps()
        bakes = f"{steps} x {wait} s wait_interval" if steps > 1 else f"{wait} s wait_interval"
        return f"{bakes} + {termination} s termination_wait"

    def execution_timeout_seconds(self) -> int:
        """``maximum_execution_timeout`` in seconds; by default the sum of the waits plus 10 minutes."""
        if self.maximum_execution_timeout is not None:
            return int(self.maximum_execution_timeout.to_seconds())
        return max(MIN_EXECUTION_SECONDS, self.total_wait_seconds() + DEFAULT_TIMEOUT_MARGIN_SECONDS)

    def _size(self) -> int:
        if self.size_percent is not None:
            return self.size_percent
        return 10 if self.traffic is TrafficShift.CANARY else 20

    def render(self, alarm_names: Sequence[str]) -> sagemaker.CfnEndpoint.DeploymentConfigProperty:
        """The endpoint's ``DeploymentConfig``, rolling back on ``alarm_names`` (1-10)."""
        if not 1 <= len(alarm_names) <= MAX_ROLLBACK_ALARMS:
            raise limits.fail("BlueGreenDeployment", "rollback alarms", len(alarm_names), "must number 1-10")
        capacity = sagemaker.CfnEndpoint.CapacitySizeProperty(type="CAPACITY_PERCENT", value=self._size())
        routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
            type=self.traffic.value,
            wait_interval_in_seconds=int(self.wait_interval.to_seconds()),
            canary_size=capacity if self.traffic is TrafficShift.CANARY else None,
            linear_step_size=capacity if self.traffic is TrafficShift.LINEAR else None,
        )
        return sagemaker.CfnEndpoint.DeploymentConfigProperty(
            blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
                traffic_routing_configuration=routing,
                termination_wait_in_seconds=int(self.termination_wait.to_seconds()),
                maximum_execution_timeout_in_seconds=self.execution_timeout_seconds(),
            ),
            auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
                alarms=[sagemaker.CfnEndpoint.AlarmProperty(alarm_name=name) for name in alarm_names]
            ),
        )
