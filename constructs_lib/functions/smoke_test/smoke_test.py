"""Post-deploy smoke test: is the endpoint running what this deploy set, and does it answer?

Plain Python with the clients, the clock and ``sleep`` passed in (tested with fakes and botocore's Stubber).
A failure raises ``SmokeTestError``; the handler reports it to CloudFormation, which fails the deployment and
rolls it back.

Two promises to CloudFormation shape this module:

- It is always answered in time. CloudFormation waits for the response until the resource's ``ServiceTimeout``
  ("AWS::CloudFormation::CustomResource", AWS CloudFormation Template Reference: an integer from 1 to 3600
  seconds, 3600 by default); an answer that never comes costs an hour. So every call runs against a
  ``Deadline`` that the handler derives from Lambda's remaining time, and no call starts (and no retry sleep
  begins) unless its worst case, retries included, ends before that deadline. When time runs out, the test
  stops with a "deadline reached" problem and the handler still has its margin to send it.
- It never fails a rollback. During a rollback CloudFormation sends an ordinary ``Update`` (with the old
  properties, "Update request for CloudFormation custom resources", AWS CloudFormation User Guide); only the
  stack's status, read with DescribeStacks, tells it apart. A FAILED answer then leaves the stack in
  UPDATE_ROLLBACK_FAILED, which only an operator can continue ("ContinueUpdateRollback", AWS CloudFormation
  API Reference). So a rolling-back stack is answered SUCCESS without invoking anything, and Delete always
  succeeds.

When DescribeStacks fails (throttled past the retries, denied, timed out), the status is unknown:

- on Create, it is treated as not rolling back: a rollback undoes a creation with Delete and a change with
  Update, so a Create is never part of one. The test runs and a failure fails the deployment, as it should.
- on Update, the test runs all the same, and a pass is answered SUCCESS (the status did not matter). Only a
  failure needs the status: it is read once more (the first error may have been transient), and if it is
  still unknown the failure is logged as an error and answered SUCCESS. Blocking a real rollback leaves the
  stack stuck until someone intervenes; letting a bad update through when the canary fails *and* the status
  is unreadable twice is the lesser harm (the endpoint's own alarms still watch it), and the log says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cfn_response
from botocore.config import Config
from botocore.exceptions import ClientError

LOG = logging.getLogger(__name__)


class SmokeTestError(Exception):
    """The endpoint is not running this deploy's config, an invocation failed, or time ran out."""


@dataclass(frozen=True)
class CallLimits:
    """How long one AWS API call may take, retries included: the client's settings and their worst case."""

    connect_timeout: float
    """Seconds to open a connection (botocore ``Config(connect_timeout=...)``)."""

    read_timeout: float
    """Seconds to wait on a read from the socket (botocore ``Config(read_timeout=...)``)."""

    total_max_attempts: int
    """Attempts in all, the first one included."""

    def config(self) -> Config:
        """The botocore client configuration.

        ``total_max_attempts`` and not ``max_attempts``: in a client ``Config`` the latter counts *retries*
        (botocore ``Config`` reference, ``retries``), an off-by-one the worst case below would miss. Standard
        mode ("Retries", Boto3 guide: "Standard retry mode") retries throttling, 5xx and connection errors
        with capped exponential backoff; legacy mode, botocore's older default, retries fewer errors up to 5
        times.
        """
        return Config(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"mode": "standard", "total_max_attempts": self.total_max_attempts},
        )

    @property
    def worst_case_seconds(self) -> float:
        """The longest a call may take with these settings.

        Every attempt may wait out both timeouts; before retry ``i`` (0-based) standard mode sleeps at most
        ``min(2**i, 20)`` seconds, raised by up to 5 more when the service sends ``x-amz-retry-after``
        (botocore ``retries/standard.py``, ``ExponentialBackoff``). The timeouts bound each socket operation
        rather than the whole call, which is why the handler keeps a margin on top.
        """
        backoff = sum(min(2**i, 20) + 5 for i in range(self.total_max_attempts - 1))
        return float(self.total_max_attempts * (self.connect_timeout + self.read_timeout) + backoff)


#: DescribeEndpoint and DescribeStacks answer in well under a second; a few attempts ride out throttling,
#: frequent on SageMaker's control plane while many stacks deploy.
CONTROL_PLANE = CallLimits(connect_timeout=3, read_timeout=10, total_max_attempts=3)
#: InvokeEndpoint: a container may take 60 seconds to answer, for which AWS asks for a 70-second socket
#: timeout ("InvokeEndpoint", Amazon SageMaker Runtime API Reference). One retry only: a hung model is
#: retried on its read timeout too, and ModelNotReady has its own, longer retries below.
RUNTIME = CallLimits(connect_timeout=3, read_timeout=70, total_max_attempts=2)


class Deadline:
    """The moment by which every call must have returned, so that CloudFormation still gets its answer."""

    def __init__(self, at: float, *, now: Callable[[], float] = time.monotonic) -> None:
        """A deadline at ``at`` on the clock ``now`` (monotonic: a wall-clock step must not move it)."""
        self.at = at
        self.now = now

    @classmethod
    def after(cls, seconds: float, *, now: Callable[[], float] = time.monotonic) -> Deadline:
        """The deadline ``seconds`` from now (in the past when ``seconds`` is negative)."""
        return cls(now() + seconds, now=now)

    def remaining(self) -> float:
        """Seconds left (negative once past)."""
        return self.at - self.now()

    def allows(self, seconds: float) -> bool:
        """Whether something taking up to ``seconds`` ends by the deadline."""
        return self.remaining() >= seconds


class _OutOfTimeError(Exception):
    """The next call or sleep would not end by the deadline."""


def check_endpoint(
    sagemaker: Any,
    runtime: Any,
    *,
    endpoint_name: str,
    expected_config: str,
    invocations: list[dict[str, str]],
    deadline: Deadline,
    expected_models: dict[str, str] | None = None,
    attempts: int = 6,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Every problem found (empty when the endpoint is healthy), a "deadline reached" one first if time ran out."""
    total = len(invocations)
    if not deadline.allows(CONTROL_PLANE.worst_case_seconds):
        return [_deadline_reached(endpoint_name, 0, total, deadline, CONTROL_PLANE, "DescribeEndpoint")]
    described = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    if described["EndpointStatus"] != "InService":
        return [f"{endpoint_name} is {described['EndpointStatus']}, not InService"]
    running = described["EndpointConfigName"]
    if running != expected_config:
        # SageMaker rolls a failed update back on its own: CloudFormation would otherwise report success.
        return [
            f"{endpoint_name} runs endpoint config {running}, but this deploy set {expected_config} "
            "(SageMaker rolled the update back, or another deploy changed the endpoint)"
        ]
    problems: list[str] = []
    for component, model in sorted((expected_models or {}).items()):
        try:
            problem = _check_component(sagemaker, component, model, deadline=deadline, sleep=sleep)
        except _OutOfTimeError as error:
            return [_deadline_reached(endpoint_name, 0, total, deadline, CONTROL_PLANE, str(error))]
        if problem:
            problems.append(problem)
    if problems:
        return problems
    for done, invocation in enumerate(invocations):
        try:
            problem = _invoke(runtime, endpoint_name, invocation, attempts, deadline, sleep)
        except _OutOfTimeError as error:
            problems.insert(0, _deadline_reached(endpoint_name, done, total, deadline, RUNTIME, str(error)))
            break
        if problem:
            problems.append(problem)
    return problems


#: DescribeInferenceComponent statuses that pass on their own (InferenceComponentStatus: InService, Creating,
#: Updating, Failed, Deleting): Application Auto Scaling changing the copy count makes a healthy component Updating.
_IN_TRANSITION = frozenset({"Creating", "Updating"})
#: Seconds between two looks at a component in transition.
COMPONENT_POLL_SECONDS = 15


def _check_component(
    sagemaker: Any,
    component: str,
    expected_model: str,
    *,
    deadline: Deadline,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """The component is InService on the model this deploy set, or what is wrong; a component in transition is
    looked at again until the deadline (``_OutOfTimeError`` when the next look would not end by then)."""
    while True:
        if not deadline.allows(CONTROL_PLANE.worst_case_seconds):
            raise _OutOfTimeError(f"DescribeInferenceComponent {component}")
        described = sagemaker.describe_inference_component(InferenceComponentName=component)
        status = described.get("InferenceComponentStatus")
        if status not in _IN_TRANSITION:
            break
        if not deadline.allows(COMPONENT_POLL_SECONDS + CONTROL_PLANE.worst_case_seconds):
            raise _OutOfTimeError(f"DescribeInferenceComponent {component}, {status}")
        sleep(COMPONENT_POLL_SECONDS)
    if status != "InService":
        reason = described.get("FailureReason")
        return f"{component} is {status}, not InService" + (f": {reason}" if reason else "")
    running = described.get("Specification", {}).get("ModelName")
    if running != expected_model:
        # Like an endpoint's, a component's failed update is rolled back by SageMaker on its own.
        return (
            f"{component} runs model {running}, but this deploy set {expected_model} "
            "(SageMaker rolled the component's update back, or another deploy changed it)"
        )
    return None


def _deadline_reached(
    endpoint_name: str, done: int, total: int, deadline: Deadline, limits: CallLimits, next_step: str
) -> str:
    return (
        f"{endpoint_name}: deadline reached after {done} of {total} canaries ({next_step}; "
        f"{max(deadline.remaining(), 0):.0f} s left, a call may take {limits.worst_case_seconds:.0f} s): "
        "answering CloudFormation before the function times out"
    )


def _invoke(
    runtime: Any,
    endpoint_name: str,
    invocation: dict[str, str],
    attempts: int,
    deadline: Deadline,
    sleep: Callable[[float], None],
) -> str | None:
    arguments: dict[str, Any] = {
        "EndpointName": endpoint_name,
        "Body": invocation["Body"].encode(),
        "ContentType": invocation["ContentType"],
    }
    target = "the pipeline"
    if invocation.get("TargetModel"):
        arguments["TargetModel"] = target = invocation["TargetModel"]
    if invocation.get("TargetContainerHostname"):
        arguments["TargetContainerHostname"] = target = invocation["TargetContainerHostname"]
    # Mandatory on an endpoint of inference components, which has no model of its own to fall back on
    # (InvokeEndpoint, Amazon SageMaker Runtime API Reference: InferenceComponentName).
    if invocation.get("InferenceComponentName"):
        arguments["InferenceComponentName"] = target = invocation["InferenceComponentName"]
    waiting = f"next: invoking {target}"
    for attempt in range(attempts):
        if not deadline.allows(RUNTIME.worst_case_seconds):
            raise _OutOfTimeError(waiting)
        try:
            runtime.invoke_endpoint(**arguments)["Body"].read()
            return None
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            # A multi-model endpoint answers ModelNotReady while it loads a model (up to 360 s): try again.
            if code == "ModelNotReadyException" and attempt + 1 < attempts:
                waiting = f"{target} still answered ModelNotReadyException after {attempt + 1} attempts"
                # A shorter pause still leaves a last attempt that ends by the deadline; none, and there is no time.
                spare = deadline.remaining() - RUNTIME.worst_case_seconds
                if spare <= 0:
                    raise _OutOfTimeError(waiting) from error
                sleep(min(10 * 2**attempt, 60, spare))
                continue
            message = error.response.get("Error", {}).get("Message", error)
            return f"{endpoint_name} / {target}: {code or 'error'}: {message}"
    return f"{endpoint_name} / {target}: still not ready after {attempts} attempts"


def stack_is_rolling_back(cloudformation: Any, event: dict[str, Any], deadline: Deadline) -> bool | None:
    """Whether the request's stack is rolling back; None when its status could not be read."""
    if not deadline.allows(CONTROL_PLANE.worst_case_seconds):
        LOG.error("no time left to read the status of stack %s", event.get("StackId"))
        return None
    try:
        return bool(cfn_response.is_rolling_back(cloudformation, event))
    except Exception:
        # Whatever went wrong (denied, throttled past the retries, timed out, an unexpected answer), the
        # status is unknown, and on_event decides what unknown means for this request type.
        LOG.exception("could not read the status of stack %s", event.get("StackId"))
        return None


def on_event(
    sagemaker: Any,
    runtime: Any,
    cloudformation: Any,
    event: dict[str, Any],
    *,
    deadline: Deadline,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str]:
    """The custom resource: check on Create and Update unless the stack is rolling back, nothing on Delete.

    The returned ``Data`` holds counts only: a larger one could exceed CloudFormation's 4096-byte response,
    which ``cfn_response.send`` turns into FAILED, the one answer a rollback must never get.
    """
    request = event["RequestType"]
    if request == "Delete":
        return {}
    properties = event["ResourceProperties"]
    invocations: list[dict[str, str]] = properties.get("Invocations", [])
    rolling_back = stack_is_rolling_back(cloudformation, event, deadline)
    if rolling_back:
        _skip(event, invocations, "the stack is rolling back")
        return {"Checked": "0", "Skipped": str(len(invocations))}
    try:
        problems = check_endpoint(
            sagemaker,
            runtime,
            endpoint_name=properties["EndpointName"],
            expected_config=properties["ExpectedEndpointConfigName"],
            expected_models=properties.get("ExpectedModels") or {},
            invocations=invocations,
            deadline=deadline,
            sleep=sleep,
        )
    except Exception as error:
        # An endpoint that cannot be described or reached (retries exhausted) is a problem like the others, so
        # that the rule below for an unknown status applies to it too.
        LOG.exception("checking %s raised", properties["EndpointName"])
        problems = [f"{properties['EndpointName']}: {type(error).__name__}: {error}"]
    if problems and rolling_back is None and request == "Update":
        rolling_back = stack_is_rolling_back(cloudformation, event, deadline)
        if rolling_back is not False:
            why = "the stack is rolling back" if rolling_back else "the stack's status is unknown on an Update"
            LOG.error("%s, so these problems do not fail the request: %s", why, "; ".join(problems))
            return {"Checked": str(len(invocations)), "Ignored": str(len(problems))}
    if problems:
        raise SmokeTestError("; ".join(problems))
    return {"Checked": str(len(invocations))}


def _skip(event: dict[str, Any], invocations: list[dict[str, str]], why: str) -> None:
    targets = [
        i.get("InferenceComponentName") or i.get("TargetModel") or i.get("TargetContainerHostname") or "the pipeline"
        for i in invocations
    ]
    LOG.warning(
        "%s %s of %s: %s, answering SUCCESS without the verdict of %d canaries (%s)",
        event["RequestType"],
        event.get("LogicalResourceId"),
        event["ResourceProperties"].get("EndpointName"),
        why,
        len(invocations),
        ", ".join(targets),
    )
