"""EndpointAlarms: the alarms an endpoint's kind asks for (``HostedEndpoint.alarm_specs``), with one action."""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from constructs_lib import sagemaker_limits as limits
from constructs_lib.alarm_factory import AlarmThresholds, alarm_from_spec
from constructs_lib.hosted_endpoint import HostedEndpoint


class EndpointAlarms(Construct):
    """Alarms of every variant of an endpoint, as its kind chooses them.

    Instance-backed endpoints: 5XX error rate, p99 model latency, CPU, memory and disk per variant. Multi-model
    endpoints add cache-hit ratio below a floor, model unloads above a ceiling (thrashing) and the longest model loading
    wait; Direct multi-container endpoints add a 5XX error rate per container; serverless endpoints watch errors
    and latency (cold starts are on the dashboard). Latency thresholds are given as durations and converted to
    the metrics' microseconds.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: HostedEndpoint,
        thresholds: AlarmThresholds,
        action: cloudwatch.IAlarmAction | None = None,
    ) -> None:
        """Create the alarms of ``endpoint``, notifying ``action`` (e.g. ``AlarmTopic.alarm_action``)."""
        super().__init__(scope, construct_id)
        owner = f"EndpointAlarms {self.node.path}"
        thresholds.validate(owner)
        self.endpoint = endpoint
        self.thresholds = thresholds
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        """Every alarm, by construct id."""
        for spec in endpoint.alarm_specs(thresholds):
            if spec.construct_id in self.alarms:
                raise limits.fail(owner, "alarm id", spec.construct_id, f"is asked for twice by {endpoint.kind}")
            self.alarms[spec.construct_id] = alarm_from_spec(self, spec, thresholds)
        if action is not None:
            for each in self.alarms.values():
                each.add_alarm_action(action)
                each.add_ok_action(action)
