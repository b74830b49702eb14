"""EndpointScaling: Application Auto Scaling of one production variant of an endpoint."""

from __future__ import annotations

import difflib
import functools
import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib import sagemaker_limits as limits
from constructs_lib.endpoint_base import INSTANCE_NAMESPACE
from constructs_lib.hosted_endpoint import ScalableEndpoint
from constructs_lib.production_variant import ProductionVariant
from constructs_lib.scaling_guard import ScalingGuard, ScalingGuardProvider

#: SageMaker's default cooldowns for variant scaling, both directions.
DEFAULT_COOLDOWN = cdk.Duration.seconds(300)

#: PutScheduledAction ``ScheduledActionName`` (botocore's application-autoscaling model): 1-256 characters, no
#: leading or trailing space, no control characters, no ``:``, ``/`` or ``|``. Matched whole here (botocore's
#: patterns are unanchored).
SCHEDULED_ACTION_NAME = re.compile(r"(?!((^[ ]+.*)|(.*([\u0000-\u001f]|[\u007f-\u009f]|[:/|])+.*)|(.*[ ]+$))).+")
MAX_SCHEDULED_ACTION_NAME = 256


@dataclass(frozen=True, kw_only=True)
class ScheduledCapacity:
    """A scheduled change of the capacity range, e.g. a smaller dev endpoint at night."""

    name: str
    """CamelCase name of the scheduled action."""

    cron: str
    """Application Auto Scaling cron fields: ``minutes hours day-of-month month day-of-week year``."""

    min_capacity: int | None = None
    """The new lowest instance count (at least 1)."""

    max_capacity: int | None = None
    """The new highest instance count."""

    time_zone: str = "UTC"
    """IANA time zone of ``cron``."""


@dataclass(frozen=True, kw_only=True)
class ScalingPlan:
    """Auto scaling of an endpoint's first variant, as data: what ``apply`` attaches with ``EndpointScaling``.

    Environments hold plans; ``apply`` turns one into the scalable target, its policies and its schedules.
    """

    min_capacity: int
    """Lowest instance count, at least 1."""

    max_capacity: int
    """Highest instance count."""

    max_requests_per_second: float | None = None
    """Requests per second one instance sustains (from a load test); the target is this x safety x 60."""

    safety_factor: float = 0.5
    """Share of ``max_requests_per_second`` to aim for, (0, 1]."""

    cpu_target_percent: float | None = None
    """Also track average CPU at this percent of the whole instance."""

    schedules: tuple[ScheduledCapacity, ...] = ()
    """Scheduled capacity changes."""

    def apply(
        self, endpoint: ScalableEndpoint, *, guard_provider: ScalingGuardProvider | None = None
    ) -> EndpointScaling:
        """Scale ``endpoint``'s first variant as planned (``EndpointScaling`` with id ``Scaling``)."""
        scaler = EndpointScaling(
            endpoint,  # type: ignore[arg-type]  # a ScalableEndpoint created here is a construct
            "Scaling",
            endpoint=endpoint,
            min_capacity=self.min_capacity,
            max_capacity=self.max_capacity,
            guard_provider=guard_provider,
        )
        if self.max_requests_per_second is not None:
            scaler.scale_on_invocations(
                max_requests_per_second=self.max_requests_per_second, safety_factor=self.safety_factor
            )
        if self.cpu_target_percent is not None:
            scaler.scale_on_cpu_utilization(target_percent=self.cpu_target_percent)
        for schedule in self.schedules:
            scaler.scale_on_schedule(
                schedule.name,
                schedule=appscaling.Schedule.expression(f"cron({schedule.cron})"),
                min_capacity=schedule.min_capacity,
                max_capacity=schedule.max_capacity,
                time_zone=cdk.TimeZone.of(schedule.time_zone),
            )
        return scaler


class EndpointScaling(Construct):
    """Scales one variant's instance count between ``min_capacity`` and ``max_capacity``.

    Attach policies with ``scale_on_invocations``, ``scale_on_cpu_utilization``, ``scale_on_gpu_utilization``
    and ``scale_on_schedule``. Attaching scaling also:

    - sets ``RetainAllVariantProperties`` on the endpoint, so that a config update keeps the scaled instance
      count instead of resetting it to the initial count;
    - guards instance-type changes: SageMaker refuses to update a scaled variant's instance type, so a
      ScalingGuard releases the scalable target before the update and restores it after.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: ScalableEndpoint,
        min_capacity: int,
        max_capacity: int,
        variant_name: str | None = None,
        guard_provider: ScalingGuardProvider | None = None,
    ) -> None:
        """Register ``variant_name`` (default: the endpoint's first variant) as a scalable target.

        :param min_capacity: at least 1: instance-backed variants cannot scale to zero.
        :param max_capacity: at least ``min_capacity``.
        :param guard_provider: the function behind the instance-type guard. Default: one per stack.
        """
        super().__init__(scope, construct_id)
        variant = _variant(endpoint, variant_name)
        self.owner = f"EndpointScaling {self.node.path}"
        limits.check_count(self.owner, "min_capacity", min_capacity, 1)
        limits.check_count(self.owner, "max_capacity", max_capacity, 1)
        if not limits.is_token(max_capacity) and not limits.is_token(min_capacity) and max_capacity < min_capacity:
            raise limits.fail(
                self.owner, "max_capacity", max_capacity, f"must be at least min_capacity ({min_capacity})"
            )
        count = variant.initial_instance_count
        if not any(limits.is_token(v) for v in (count, min_capacity, max_capacity)) and not (
            min_capacity <= count <= max_capacity
        ):
            # RegisterScalableTarget: registering "changes the resource's current capacity to a value that is inside
            # of this range", so the count the template declares would be overridden at once.
            raise limits.fail(
                self.owner,
                f"initial_instance_count of variant {variant.variant_name!r}",
                count,
                f"must be within min_capacity..max_capacity ({min_capacity}-{max_capacity}): Application Auto "
                "Scaling would change it as soon as the variant is registered",
            )
        if variant.instance_type.startswith("ml.t"):
            raise limits.fail(
                self.owner,
                "instance_type",
                variant.instance_type,
                "is burstable: SageMaker does not scale ml.t* variants",
            )
        self.endpoint = endpoint
        self.variant = variant
        """The scaled variant."""
        self.min_capacity = min_capacity
        """The lowest instance count."""
        self.max_capacity = max_capacity
        """The highest instance count."""
        self.invocations_target: float | None = None
        """The InvocationsPerInstance target, once ``scale_on_invocations`` is attached."""
        self._schedules: dict[str, _ScheduledCapacity] = {}
        self.target = appscaling.ScalableTarget(
            self,
            "Target",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{endpoint.endpoint_name}/variant/{variant.variant_name}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=min_capacity,
            max_capacity=max_capacity,
            role=service_linked_role(self),
        )
        """The scalable target."""
        self.target.node.add_dependency(endpoint.endpoint)
        endpoint.endpoint.retain_all_variant_properties = True
        _guard(endpoint, guard_provider).add_variant(variant.variant_name, variant.instance_type, self.target)

    def scale_on_invocations(
        self,
        *,
        target_invocations_per_instance: float | None = None,
        max_requests_per_second: float | None = None,
        safety_factor: float = 0.5,
        scale_in_cooldown: cdk.Duration = DEFAULT_COOLDOWN,
        scale_out_cooldown: cdk.Duration = DEFAULT_COOLDOWN,
        disable_scale_in: bool = False,
    ) -> appscaling.TargetTrackingScalingPolicy:
        """Track ``SageMakerVariantInvocationsPerInstance`` (requests per instance per minute).

        Give the target directly, or as ``max_requests_per_second`` one instance sustains (load-tested) times
        ``safety_factor`` (0-1]: target = max_requests_per_second x safety_factor x 60.
        """
        if (target_invocations_per_instance is None) == (max_requests_per_second is None):
            raise limits.fail(
                self.owner,
                "target",
                None,
                "give exactly one of target_invocations_per_instance, max_requests_per_second",
            )
        if max_requests_per_second is not None:
            limits.check_range(self.owner, "max_requests_per_second", max_requests_per_second, 0.001)
            if not 0 < safety_factor <= 1:
                raise limits.fail(self.owner, "safety_factor", safety_factor, "must be in (0, 1]")
            target_invocations_per_instance = max_requests_per_second * safety_factor * 60
        assert target_invocations_per_instance is not None
        limits.check_range(self.owner, "target_invocations_per_instance", target_invocations_per_instance, 0.001)
        self.invocations_target = round(target_invocations_per_instance, 3)
        return self.target.scale_to_track_metric(
            "Invocations",
            target_value=self.invocations_target,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            **self._cooldowns(scale_in_cooldown, scale_out_cooldown, disable_scale_in),
        )

    def scale_on_cpu_utilization(
        self, *, target_percent: float, **options: Any
    ) -> appscaling.TargetTrackingScalingPolicy:
        """Track average CPU at ``target_percent`` (1-100) of the whole instance: for CPU MME and MCE.

        ``CPUUtilization`` runs 0-100 per vCPU; the target is scaled by the instance type's vCPUs.
        """
        limits.check_range(self.owner, "target_percent", target_percent, 1, 100)
        cpus = limits.vcpus(self.variant.instance_type) or 1
        return self._scale_on_instance_metric("CPUUtilization", target_percent * cpus, **options)

    def scale_on_gpu_utilization(
        self, *, target_percent: float, **options: Any
    ) -> appscaling.TargetTrackingScalingPolicy:
        """Track average ``GPUUtilization`` (0-100 x GPUs) of the variant: for GPU multi-model endpoints."""
        if not limits.is_gpu_instance_type(self.variant.instance_type):
            raise limits.fail(self.owner, "instance_type", self.variant.instance_type, "has no GPU to track")
        return self._scale_on_instance_metric("GPUUtilization", target_percent, **options)

    def scale_on_schedule(
        self,
        construct_id: str,
        *,
        schedule: appscaling.Schedule,
        min_capacity: int | None = None,
        max_capacity: int | None = None,
        time_zone: cdk.TimeZone | None = None,
    ) -> None:
        """Change the capacity range on a schedule (e.g. a smaller dev endpoint at night).

        ``construct_id`` is the scheduled action's name. Sources of the rules: the Application Auto Scaling API
        Reference (PutScheduledAction, ScalableTargetAction) and User Guide ("Scheduled scaling", "Schedule
        recurring scaling actions using cron expressions", which defers to the EventBridge cron reference).

        :param min_capacity: 1 to the target's ``max_capacity``.
        :param max_capacity: ``min_capacity`` (of this schedule, else 1) to the target's ``max_capacity``.
        :param time_zone: an IANA time zone name for ``at`` and ``cron`` expressions; default UTC.
        """
        where = f"schedule {construct_id}"
        _check_action_name(self.owner, construct_id)
        if construct_id in self._schedules:
            # PutScheduledAction ScheduledActionName: "must be unique among all other scheduled actions on the
            # specified scalable target".
            raise limits.fail(self.owner, "scheduled action name", construct_id, "is already used on this target")
        if min_capacity is None and max_capacity is None:
            raise limits.fail(self.owner, where, None, "must set min_capacity or max_capacity")
        limits.check_count(self.owner, f"min_capacity of {where}", min_capacity, 1)
        limits.check_count(self.owner, f"max_capacity of {where}", max_capacity, 1)
        if min_capacity is not None and max_capacity is not None and max_capacity < min_capacity:
            raise limits.fail(self.owner, f"max_capacity of {where}", max_capacity, "is below its min_capacity")
        capacity = _ScheduledCapacity(min_capacity, max_capacity)
        self._check_scheduled_capacity(construct_id, capacity)
        expression = schedule.expression_string
        if not limits.is_token(expression):
            problem = schedule_problem(expression)
            if problem is not None:
                raise limits.fail(self.owner, where, expression, problem)
        if time_zone is not None:
            check_time_zone(self.owner, f"time_zone of {where}", time_zone.timezone_name)
        self._schedules[construct_id] = capacity
        self.target.scale_on_schedule(
            construct_id, schedule=schedule, min_capacity=min_capacity, max_capacity=max_capacity, time_zone=time_zone
        )

    def _check_scheduled_capacity(self, name: str, capacity: _ScheduledCapacity) -> None:
        """A schedule's bounds against the target's range and, when it sets only one, every other schedule's.

        The Application Auto Scaling User Guide ("How scheduled scaling works"): a scheduled action may set one
        bound only, but "you must include both sizes to ensure that the new minimum capacity is not greater than
        the maximum capacity, or the new maximum capacity is not less than the minimum capacity".
        """
        where = f"schedule {name}"
        bounds = [capacity.min_capacity, capacity.max_capacity, self.min_capacity, self.max_capacity]
        if any(limits.is_token(b) for b in bounds if b is not None):
            return
        for bound in ("min_capacity", "max_capacity"):
            value = getattr(capacity, bound)
            if value is not None and value > self.max_capacity:
                raise limits.fail(
                    self.owner,
                    f"{bound} of {where}",
                    value,
                    f"exceeds the target's max_capacity ({self.max_capacity}): raise max_capacity and lower it on "
                    "a schedule instead",
                )
        if capacity.min_capacity is None:
            assert capacity.max_capacity is not None
            lows = {"the target's min_capacity": self.min_capacity} | {
                f"schedule {other}'s min_capacity": c.min_capacity
                for other, c in self._schedules.items()
                if c.min_capacity is not None
            }
            for label, low in lows.items():
                if capacity.max_capacity < low:
                    raise limits.fail(
                        self.owner,
                        f"max_capacity of {where}",
                        capacity.max_capacity,
                        f"is below {label} ({low}): set min_capacity on this schedule too",
                    )
        elif capacity.max_capacity is None:
            highs = {
                f"schedule {other}'s max_capacity": c.max_capacity
                for other, c in self._schedules.items()
                if c.max_capacity is not None
            }
            for label, high in highs.items():
                if capacity.min_capacity > high:
                    raise limits.fail(
                        self.owner,
                        f"min_capacity of {where}",
                        capacity.min_capacity,
                        f"is above {label} ({high}): set max_capacity on this schedule too",
                    )
        else:
            # A two-sided schedule can still strand an earlier one-sided one.
            for other, c in self._schedules.items():
                if c.min_capacity is None and c.max_capacity is not None and c.max_capacity < capacity.min_capacity:
                    raise limits.fail(
                        self.owner,
                        f"min_capacity of {where}",
                        capacity.min_capacity,
                        f"is above schedule {other}'s max_capacity ({c.max_capacity}), which sets no min_capacity: "
                        f"set min_capacity on {other} too",
                    )
                if c.max_capacity is None and c.min_capacity is not None and c.min_capacity > capacity.max_capacity:
                    raise limits.fail(
                        self.owner,
                        f"max_capacity of {where}",
                        capacity.max_capacity,
                        f"is below schedule {other}'s min_capacity ({c.min_capacity}), which sets no max_capacity: "
                        f"set max_capacity on {other} too",
                    )

    def _scale_on_instance_metric(
        self,
        metric_name: str,
        target_percent: float,
        *,
        scale_in_cooldown: cdk.Duration = DEFAULT_COOLDOWN,
        scale_out_cooldown: cdk.Duration = DEFAULT_COOLDOWN,
        disable_scale_in: bool = False,
    ) -> appscaling.TargetTrackingScalingPolicy:
        limits.check_range(self.owner, "target_percent", target_percent, 1)
        metric = self.endpoint.metric(
            metric_name, namespace=INSTANCE_NAMESPACE, variant_name=self.variant.variant_name, statistic="Average"
        )
        return self.target.scale_to_track_metric(
            metric_name,
            target_value=target_percent,
            custom_metric=metric,
            **self._cooldowns(scale_in_cooldown, scale_out_cooldown, disable_scale_in),
        )

    def _cooldowns(self, scale_in: cdk.Duration, scale_out: cdk.Duration, disable_scale_in: bool) -> dict[str, Any]:
        limits.check_range(self.owner, "scale_in_cooldown", scale_in.to_seconds(), 0)
        limits.check_range(self.owner, "scale_out_cooldown", scale_out.to_seconds(), 0)
        return {"scale_in_cooldown": scale_in, "scale_out_cooldown": scale_out, "disable_scale_in": disable_scale_in}


def service_linked_role(scope: Construct) -> iam.IRole:
    """Application Auto Scaling's own role for SageMaker variants (created by AWS on first registration).

    It holds exactly the rights scaling needs (describe the endpoint, update its capacities, manage the
    alarms of target tracking); a role of our own would have to repeat them.
    """
    arn = cdk.Stack.of(scope).format_arn(
        service="iam",
        region="",
        resource="role",
        resource_name=(
            "aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
            "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
        ),
    )
    return iam.Role.from_role_arn(scope, "ServiceLinkedRole", arn, mutable=False)


def _variant(endpoint: ScalableEndpoint, variant_name: str | None) -> ProductionVariant:
    for variant in endpoint.production_variants:
        if variant_name in (None, variant.variant_name):
            return variant
    names = ", ".join(v.variant_name for v in endpoint.production_variants)
    raise limits.fail(
        f"EndpointScaling of {endpoint.node.path}", "variant_name", variant_name, f"is not one of {names}"
    )


def _guard(endpoint: ScalableEndpoint, provider: ScalingGuardProvider | None) -> ScalingGuard:
    """The endpoint's one guard, created with the first scaled variant."""
    existing = endpoint.node.try_find_child("ScalingGuard")
    if isinstance(existing, ScalingGuard):
        return existing
    if provider is None:
        stack = cdk.Stack.of(endpoint.endpoint)
        found = stack.node.try_find_child("ScalingGuardProvider")
        provider = (
            found if isinstance(found, ScalingGuardProvider) else ScalingGuardProvider(stack, "ScalingGuardProvider")
        )
    assert isinstance(endpoint, Construct)
    return ScalingGuard(
        endpoint, "ScalingGuard", provider=provider, endpoint=endpoint.endpoint, endpoint_name=endpoint.endpoint_name
    )


@dataclass(frozen=True)
class _ScheduledCapacity:
    """The bounds one scheduled action sets (``None``: left as it is)."""

    min_capacity: int | None
    max_capacity: int | None


def _check_action_name(owner: str, name: str) -> None:
    """PutScheduledAction ``ScheduledActionName``: 1-256 characters of :data:`SCHEDULED_ACTION_NAME`."""
    if limits.is_token(name):
        return
    if not 1 <= len(name) <= MAX_SCHEDULED_ACTION_NAME or not SCHEDULED_ACTION_NAME.fullmatch(name):
        raise limits.fail(
            owner,
            "scheduled action name",
            name,
            "must be 1-256 characters without leading or trailing spaces, control characters, ':', '/' or '|'",
        )


# -- schedule expressions ------------------------------------------------------------------------------------
# PutScheduledAction ``Schedule`` (Application Auto Scaling API Reference): ``at(yyyy-mm-ddThh:mm:ss)``,
# ``rate(value unit)`` with a positive integer value and unit minute(s), hour(s) or day(s), or ``cron(fields)``
# with six fields: minutes hours day-of-month month day-of-week year. The User Guide ("Schedule recurring scaling
# actions using cron expressions") defers to the EventBridge User Guide's "Cron expressions reference" for the
# fields: their values, wildcards and the rule that one of day-of-month and day-of-week must be '?'.

_AT = re.compile(r"at\(([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})\)")
_RATE = re.compile(r"rate\(([0-9]+) (minute|minutes|hour|hours|day|days)\)")
_NUMBER = re.compile(r"[0-9]+")
_CRON = re.compile(r"cron\((.*)\)")
_FORMS = "must be at(yyyy-mm-ddThh:mm:ss), rate(value unit) or cron(minutes hours day-of-month month day-of-week year)"
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_WEEKDAYS = {name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}


@dataclass(frozen=True)
class _CronField:
    """One field of the EventBridge cron reference's table: its values and the wildcards it takes."""

    name: str
    low: int
    high: int
    names: dict[str, int] = field(default_factory=dict)

    def value(self, text: str) -> str | None:
        """The problem with a single value (a number or a name), or None."""
        if text.upper() in self.names:
            return None
        if not _NUMBER.fullmatch(text):
            names = f" or {next(iter(self.names))}-{list(self.names)[-1]}" if self.names else ""
            return f"{self.name} {text!r} must be a number {self.low}-{self.high}{names}"
        if not self.low <= int(text) <= self.high:
            return f"{self.name} {text!r} must be {self.low}-{self.high}"
        return None


_CRON_FIELDS = (
    _CronField("minutes", 0, 59),
    _CronField("hours", 0, 23),
    _CronField("day-of-month", 1, 31),
    _CronField("month", 1, 12, _MONTHS),
    _CronField("day-of-week", 1, 7, _WEEKDAYS),
    _CronField("year", 1970, 2199),
)
_DAY_OF_MONTH, _DAY_OF_WEEK = _CRON_FIELDS[2], _CRON_FIELDS[4]


def schedule_problem(expression: str) -> str | None:
    """Why Application Auto Scaling would refuse ``expression`` as a scheduled action's ``Schedule``, or None."""
    at = _AT.fullmatch(expression)
    if at is not None:
        try:
            datetime.strptime(at[1], "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return "is not a real date and time (at(yyyy-mm-ddThh:mm:ss))"
        return None
    rate = _RATE.fullmatch(expression)
    if rate is not None:
        value, unit = int(rate[1]), rate[2]
        if value < 1:
            return "must have a positive rate value"
        if (value == 1) != (not unit.endswith("s")):
            return f"must use the {'singular' if value == 1 else 'plural'} unit for a value of {value}"
        return None
    cron = _CRON.fullmatch(expression)
    if cron is None:
        return _FORMS
    problem = _cron_problem(cron[1].split())
    return None if problem is None else f"is not a valid cron expression: {problem}"


def _cron_problem(fields: list[str]) -> str | None:
    if len(fields) != len(_CRON_FIELDS):
        return f"has {len(fields)} fields, needs 6: minutes hours day-of-month month day-of-week year"
    if (fields[2] == "?") == (fields[4] == "?"):
        return "exactly one of day-of-month and day-of-week must be '?'"
    for spec, text in zip(_CRON_FIELDS, fields, strict=True):
        problem = _field_problem(spec, text.upper())
        if problem is not None:
            return problem
    return None


def _field_problem(spec: _CronField, text: str) -> str | None:
    if text == "?":
        return None if spec in (_DAY_OF_MONTH, _DAY_OF_WEEK) else f"{spec.name} cannot be '?'"
    if spec is _DAY_OF_MONTH and (text == "L" or text.endswith("W")):
        # 'L' (the month's last day) and 'nW' (the weekday nearest day n) stand alone in the field.
        if text == "L" or (_NUMBER.fullmatch(text[:-1]) and spec.value(text[:-1]) is None):
            return None
        return f"{spec.name} {text!r} must be L, or nW with n 1-31, alone in the field"
    if spec is _DAY_OF_WEEK and "#" in text:
        # 'd#n' (the n-th weekday d of the month): "If you use a '#' character, you can define only one
        # expression in the day-of-week field".
        day, _, nth = text.partition("#")
        if "," in text or not _NUMBER.fullmatch(nth) or not 1 <= int(nth) <= 5:
            return f"{spec.name} {text!r} must be one day-of-week#1-5 and nothing else"
        return spec.value(day)
    if spec is _DAY_OF_WEEK and text.endswith("L"):
        # 'L' (the week's last day) or 'dL' (the month's last weekday d), alone in the field.
        if text == "L" or spec.value(text[:-1]) is None:
            return None
        return f"{spec.name} {text!r} must be L, or dL with d 1-7 or SUN-SAT, alone in the field"
    if "" in text.split(","):
        return f"{spec.name} {text!r} has an empty list element"
    for element in text.split(","):
        problem = _element_problem(spec, element)
        if problem is not None:
            return problem
    return None


def _element_problem(spec: _CronField, element: str) -> str | None:
    base, slash, step = element.partition("/")
    # Increments: the English reference's table omits '/' for day-of-week, other editions of it list it, and
    # Quartz-style cron takes it: allowed everywhere, so that no valid schedule is refused.
    span = spec.high - spec.low + 1
    if slash and not (_NUMBER.fullmatch(step) and 1 <= int(step) <= span):
        return f"{spec.name} {element!r}: the increment must be 1-{span}"
    if base == "*":
        return None
    if not base or base.count("-") > 1:
        return f"{spec.name} {element!r} is not a value, range or list"
    for value in base.split("-"):
        problem = spec.value(value)
        if problem is not None:
            return problem
    return None


# -- time zones ----------------------------------------------------------------------------------------------


@functools.cache
def _time_zones() -> frozenset[str]:
    """IANA zone names known to this Python ('localtime', 'Factory' and 'posixrules' are files, not zones)."""
    return frozenset(zoneinfo.available_timezones() - {"localtime", "Factory", "posixrules"})


def check_time_zone(owner: str, field_name: str, name: str) -> None:
    """PutScheduledAction ``Timezone``: "the canonical names of the IANA time zones supported by Joda-Time".

    Checked against the IANA database Python has (``zoneinfo``); with none installed, nothing can be checked.
    """
    known = _time_zones()
    if limits.is_token(name) or not known or name in known:
        return
    folded = {zone.lower(): zone for zone in known}
    close = [folded[name.lower()]] if name.lower() in folded else difflib.get_close_matches(name, sorted(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise limits.fail(owner, field_name, name, f"is not an IANA time zone name{hint}")
