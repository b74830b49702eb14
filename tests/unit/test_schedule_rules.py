"""EndpointScaling's scheduled actions and capacity range: every value Application Auto Scaling would refuse.

Sources: Application Auto Scaling API Reference (PutScheduledAction, RegisterScalableTarget), its User Guide
("How scheduled scaling works", "Schedule recurring scaling actions using cron expressions") and the EventBridge
User Guide's cron and rate expression references, to which it defers.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk.assertions import Template

import app
from constructs_lib import (
    EndpointScaling,
    ValidationError,
)
from stacks.config import ScheduleConfig
from tests.support import feature_environment, hosting_stack, make_app, multi_model_endpoint

XGBOOST = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"
OWNER = "EndpointScaling Hosting/Scaling"


def _scaling(min_capacity: int = 1, max_capacity: int = 4, initial_instance_count: int = 1) -> EndpointScaling:
    stack = hosting_stack()
    mme = multi_model_endpoint(stack, instances=initial_instance_count)
    return EndpointScaling(stack, "Scaling", endpoint=mme, min_capacity=min_capacity, max_capacity=max_capacity)


def _schedule(scaling: EndpointScaling, expression: str, name: str = "Night", **props: Any) -> None:
    props.setdefault("max_capacity", 1)
    scaling.scale_on_schedule(name, schedule=appscaling.Schedule.expression(expression), **props)


def _scheduled_actions(scaling: EndpointScaling) -> list[dict[str, Any]]:
    template = Template.from_stack(cdk.Stack.of(scaling))
    target = next(iter(template.find_resources("AWS::ApplicationAutoScaling::ScalableTarget").values()))
    actions: list[dict[str, Any]] = target["Properties"]["ScheduledActions"]
    return actions


@pytest.fixture(scope="module")
def refusing() -> EndpointScaling:
    """One target for the refused schedules: a refusal adds nothing (were one left behind, the next test's 'Night'
    would be refused as a name already used, not for its expression)."""
    return _scaling()


# -- schedule expressions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 20 * * ? *)",  # the dev environment's night
        "cron(0 7 ? * MON-FRI *)",  # and its morning
        "cron(15 10 ? * 6L 2019-2022)",  # EventBridge reference: last Friday of each month
        "cron(0 9 ? * 2#1 *)",  # first Monday
        "cron(0/15 * ? * * *)",  # every 15 minutes
        "cron(0 8 L * ? *)",  # last day of the month
        "cron(0 8 15W JAN,JUL ? *)",  # weekday nearest the 15th
        "cron(30 6 ? * mon *)",  # names in any case
        "rate(1 day)",
        "rate(6 hours)",
        "at(2028-02-29T22:00:00)",
    ],
)
def test_valid_schedules_are_accepted(expression: str) -> None:
    scaling = _scaling()
    _schedule(scaling, expression)
    assert [a["Schedule"] for a in _scheduled_actions(scaling)] == [expression]


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        # The EventBridge cron reference's table: six fields, their ranges and their wildcards.
        ("cron(0 20 * * ?)", "has 5 fields, needs 6"),
        ("cron(0 20 * * * *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(0 20 ? * ? *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(60 20 * * ? *)", "minutes '60' must be 0-59"),
        ("cron(0 24 * * ? *)", "hours '24' must be 0-23"),
        ("cron(0 20 32 * ? *)", "day-of-month '32' must be 1-31"),
        ("cron(0 20 * 13 ? *)", "month '13' must be 1-12"),
        ("cron(0 20 * JANUARY ? *)", "month 'JANUARY' must be a number 1-12 or JAN-DEC"),
        ("cron(0 20 ? * 0 *)", "day-of-week '0' must be 1-7"),  # Unix's Sunday
        ("cron(0 20 ? * MON-FRY *)", "day-of-week 'FRY' must be a number 1-7 or SUN-SAT"),
        ("cron(0 20 * * ? 1969)", "year '1969' must be 1970-2199"),
        ("cron(0 ? * * ? *)", "hours cannot be '?'"),
        ("cron(*/0 20 * * ? *)", r"minutes '\*/0': the increment must be 1-60"),
        ("cron(0 20 1,,15 * ? *)", "day-of-month '1,,15' has an empty list element"),
        ("cron(0 20 LW * ? *)", "day-of-month 'LW' must be L, or nW with n 1-31"),
        ("cron(0 20 ? * 1,L *)", "day-of-week '1,L' must be L, or dL"),
        ("cron(0 20 ? * 6#3,2#1 *)", r"day-of-week '6#3,2#1' must be one day-of-week#1-5 and nothing else"),
        ("cron(0 20 ? * 6#6 *)", r"day-of-week '6#6' must be one day-of-week#1-5"),
        # Rate expressions: a positive integer and minute(s), hour(s) or day(s), singular exactly for 1.
        ("rate(0 minutes)", "must have a positive rate value"),
        ("rate(1 hours)", "must use the singular unit for a value of 1"),
        ("rate(5 hour)", "must use the plural unit for a value of 5"),
        ("rate(2 weeks)", r"must be at\(yyyy-mm-ddThh:mm:ss\), rate\(value unit\) or cron\("),
        # At expressions: a real date and time.
        ("at(2027-02-29T10:00:00)", "is not a real date and time"),
        ("at(2027-01-01 10:00:00)", r"must be at\(yyyy-mm-ddThh:mm:ss\)"),
        ("0 20 * * ? *", r"must be at\(yyyy-mm-ddThh:mm:ss\)"),  # fields without cron()
    ],
)
def test_bad_schedule_expressions_are_refused(refusing: EndpointScaling, expression: str, why: str) -> None:
    quoted = expression.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*").replace("?", r"\?")
    with pytest.raises(ValidationError, match=rf"^{OWNER}: schedule Night '{quoted}' .*{why}"):
        _schedule(refusing, expression)


def test_a_token_schedule_is_left_to_deploy_time() -> None:
    scaling = _scaling()
    hour = cdk.Token.as_string(cdk.Aws.ACCOUNT_ID)
    _schedule(scaling, f"cron(0 {hour} * * ? *)")
    assert len(_scheduled_actions(scaling)) == 1


# -- time zones -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("time_zone", "hint"),
    [
        ("Europe/Dublni", "did you mean 'Europe/Dublin'"),  # a typo
        ("europe/dublin", "did you mean 'Europe/Dublin'"),  # names are case-sensitive
        ("CEST", ""),  # an abbreviation, not a zone
        ("Mars/Olympus_Mons", ""),
    ],
)
def test_unknown_time_zones_are_refused(time_zone: str, hint: str) -> None:
    scaling = _scaling()
    with pytest.raises(
        ValidationError,
        match=rf"^{OWNER}: time_zone of schedule Night '{time_zone}' is not an IANA time zone name.*{hint}",
    ):
        _schedule(scaling, "cron(0 20 * * ? *)", time_zone=cdk.TimeZone.of(time_zone))


def test_iana_time_zones_are_accepted() -> None:
    scaling = _scaling()
    for index, zone in enumerate(("Europe/Dublin", "UTC", "Etc/GMT+9", "Pacific/Tahiti", "America/Argentina/Salta")):
        _schedule(scaling, "cron(0 20 * * ? *)", name=f"N{index}", time_zone=cdk.TimeZone.of(zone))
    assert [a["Timezone"] for a in _scheduled_actions(scaling)][:2] == ["Europe/Dublin", "UTC"]


# -- scheduled action names -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [" Night", "Night ", "Night:1", "Nights/Weekends", "a|b", "Night\t", "N" * 257])
def test_scheduled_action_names_follow_put_scheduled_action(name: str) -> None:
    scaling = _scaling()
    with pytest.raises(ValidationError, match=rf"^{OWNER}: scheduled action name .* must be 1-256 characters"):
        _schedule(scaling, "cron(0 20 * * ? *)", name=name)


def test_scheduled_action_names_are_unique_per_target() -> None:
    scaling = _scaling()
    _schedule(scaling, "cron(0 20 * * ? *)")
    with pytest.raises(ValidationError, match=rf"^{OWNER}: scheduled action name 'Night' is already used"):
        _schedule(scaling, "cron(0 22 * * ? *)")


# -- capacities -------------------------------------------------------------------------------------------------


def test_a_schedule_stays_within_the_targets_max_capacity() -> None:
    scaling = _scaling(max_capacity=4)
    with pytest.raises(ValidationError, match=rf"^{OWNER}: max_capacity of schedule Peak 6 exceeds the target's"):
        _schedule(scaling, "cron(0 8 * * ? *)", name="Peak", min_capacity=2, max_capacity=6)
    with pytest.raises(ValidationError, match=rf"^{OWNER}: min_capacity of schedule Peak 5 exceeds the target's"):
        _schedule(scaling, "cron(0 8 * * ? *)", name="Peak", min_capacity=5, max_capacity=None)


@pytest.mark.parametrize(("value", "why"), [(float("nan"), "must be a finite number"), (1.5, "must be a whole number")])
def test_capacities_are_whole_numbers(value: float, why: str) -> None:
    # NaN would otherwise reach jsii, whose kernel cannot carry it and dies mid-synth.
    with pytest.raises(ValidationError, match=rf"^{OWNER}: max_capacity {value} {why}"):
        _scaling(max_capacity=value)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=rf"^{OWNER}: min_capacity of schedule Night {value} {why}"):
        _schedule(_scaling(), "cron(0 20 * * ? *)", min_capacity=value)


def test_one_sided_schedules_cannot_cross_another_bound() -> None:
    # "you must include both sizes to ensure that the new minimum capacity is not greater than the maximum
    # capacity, or the new maximum capacity is not less than the minimum capacity"
    with pytest.raises(ValidationError, match=r"max_capacity of schedule Night 1 is below the target's min_capacity"):
        _schedule(_scaling(min_capacity=2, initial_instance_count=2), "cron(0 20 * * ? *)", max_capacity=1)
    scaling = _scaling()
    _schedule(scaling, "cron(0 20 * * ? *)", max_capacity=1)
    with pytest.raises(ValidationError, match=r"min_capacity of schedule Day 2 is above schedule Night's max_capacity"):
        _schedule(scaling, "cron(0 8 * * ? *)", name="Day", min_capacity=2, max_capacity=None)
    with pytest.raises(ValidationError, match=r"min_capacity of schedule Day 2 is above schedule Night's max_capacity"):
        _schedule(scaling, "cron(0 8 * * ? *)", name="Day", min_capacity=2, max_capacity=4)


def test_the_dev_night_and_morning_pass() -> None:
    scaling = _scaling(min_capacity=1, max_capacity=2)
    _schedule(scaling, "cron(0 20 * * ? *)", max_capacity=1, time_zone=cdk.TimeZone.of("Europe/Dublin"))
    _schedule(scaling, "cron(0 7 ? * MON-FRI *)", name="Morning", max_capacity=2)
    assert [a["ScheduledActionName"] for a in _scheduled_actions(scaling)] == ["Night", "Morning"]


@pytest.mark.parametrize(("count", "low", "high"), [(1, 2, 6), (7, 2, 6)])
def test_the_initial_instance_count_is_within_the_scaling_range(count: int, low: int, high: int) -> None:
    # RegisterScalableTarget changes "the resource's current capacity to a value that is inside of this range".
    with pytest.raises(
        ValidationError,
        match=rf"^{OWNER}: initial_instance_count of variant 'AllTraffic' {count} must be within "
        rf"min_capacity..max_capacity \({low}-{high}\)",
    ):
        _scaling(min_capacity=low, max_capacity=high, initial_instance_count=count)


# -- from configuration -----------------------------------------------------------------------------------------


def test_a_bad_configured_schedule_is_one_line_naming_environment_and_endpoint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    dev = feature_environment(multi_container_endpoints=())
    endpoint = dev.multi_model_endpoints[0]
    assert endpoint.scaling is not None
    schedules = (ScheduleConfig(name="Night", cron="0 20 * * MON-FRI *", max_capacity=1, time_zone="Europe/Dublin"),)
    broken = replace(endpoint, scaling=replace(endpoint.scaling, schedules=schedules))
    assert app.main(make_app(), (dev.replace(multi_model_endpoints=(broken,)),)) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"error: environment 'dev', endpoint '{endpoint.name}': EndpointScaling Dev/Hosting/Prices/Scaling: "
        "schedule Night 'cron(0 20 * * MON-FRI *)' is not a valid cron expression: exactly one of day-of-month "
        "and day-of-week must be '?'"
    ]
