"""Lambda entry point of the scaling-guard custom resources (thin: the logic is in scaling_guard.py).

CloudFormation waits for an answer until the resource's ServiceTimeout, and a function that times out answers
nothing. So every AWS call has bounded retries and timeouts (``CONFIG``), no call starts once less time is left
than one call and the answer can take (``ANSWER_MARGIN_SECONDS``), and every path answers.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import boto3
import cfn_response
import scaling_guard
from botocore.config import Config

from hosting_contract.ssm_paths import GUARDED_ENDPOINTS_VARIABLE, SNAPSHOT_PATH_VARIABLE

logging.getLogger().setLevel(logging.INFO)

#: Bounded retries and socket timeouts. botocore's ``max_attempts`` counts the retries: 2 makes 3 attempts, so one
#: call takes at most 3 x (3 + 5) s plus two standard-mode back-offs (at most 1 + 2 s, each raised by at most
#: 5 s when the service asks to retry later): under 40 s.
CONFIG = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=3, read_timeout=5)
#: EventBridge's detail-type of a stack's status changes (AWS CloudFormation User Guide, "Stack Status Change event
#: detail"); the rule sends this stack's UPDATE_ROLLBACK_COMPLETE only.
STACK_STATUS_CHANGE = "CloudFormation Stack Status Change"
#: Seconds the answer itself may take (the PUT to the response URL).
SEND_TIMEOUT_SECONDS = 10
#: No AWS call starts with less than this left: the longest call (40 s) and the answer (10 s) still fit.
ANSWER_MARGIN_SECONDS = 60


class DeadlineExceededError(TimeoutError):
    """Too little time is left to start another AWS call and still answer CloudFormation."""


class Deadline:
    """A client whose calls refuse to start after ``stop_at`` (``time.monotonic()``)."""

    def __init__(self, client: Any, stop_at: float) -> None:
        """Guard ``client``."""
        self._client = client
        self._stop_at = stop_at

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if time.monotonic() >= self._stop_at:
                raise DeadlineExceededError(f"not starting {name}: the function must answer CloudFormation first")
            return attribute(*args, **kwargs)

        return call


def _clients(stop_at: float) -> tuple[Deadline, Deadline, Deadline, Deadline]:
    """Application Auto Scaling, SSM, CloudFormation and SageMaker (what the endpoint runs now), each bounded."""
    return (
        Deadline(boto3.client("application-autoscaling", config=CONFIG), stop_at),
        Deadline(boto3.client("ssm", config=CONFIG), stop_at),
        Deadline(boto3.client("cloudformation", config=CONFIG), stop_at),
        Deadline(boto3.client("sagemaker", config=CONFIG), stop_at),
    )


def on_stack_status(event: dict[str, Any], context: Any) -> None:
    """EventBridge: this stack's rollback is complete (no CloudFormation request to answer)."""
    stop_at = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - ANSWER_MARGIN_SECONDS
    autoscaling, ssm, cloudformation, sagemaker = _clients(stop_at)
    store = scaling_guard.SnapshotStore(ssm, os.environ[SNAPSHOT_PATH_VARIABLE])
    endpoints = [name for name in os.environ.get(GUARDED_ENDPOINTS_VARIABLE, "").split(",") if name]
    restored = scaling_guard.on_stack_status(autoscaling, store, cloudformation, sagemaker, event, endpoints)
    logging.info("%s: registered again %s", event["detail"]["status-details"]["status"], restored or "nothing")


def handler(event: dict[str, Any], context: Any) -> None:
    if event.get("detail-type") == STACK_STATUS_CHANGE:
        on_stack_status(event, context)
        return
    properties = event.get("ResourceProperties") or {}
    physical_id = (
        event.get("PhysicalResourceId")
        or f"{properties.get('EndpointName', 'unknown')}-{properties.get('Action', 'unknown')}"
    )
    data: dict[str, str] = {}
    try:
        stop_at = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - ANSWER_MARGIN_SECONDS
        # A rollback decides from what the endpoint runs now (DescribeEndpoint, DescribeEndpointConfig).
        autoscaling, ssm, cloudformation, sagemaker = _clients(stop_at)
        store = scaling_guard.SnapshotStore(ssm, os.environ[SNAPSHOT_PATH_VARIABLE])
        action = {"release": scaling_guard.on_release, "restore": scaling_guard.on_restore}[properties["Action"]]
        data = action(autoscaling, store, cloudformation, sagemaker, event)
        logging.info("%s %s for %s: %s", event["RequestType"], properties["Action"], properties["EndpointName"], data)
        status, reason = "SUCCESS", ""
    except Exception as error:
        logging.exception("scaling guard failed")
        data, status, reason = {}, "FAILED", f"{type(error).__name__}: {error}"
    cfn_response.send(
        event, status=status, physical_resource_id=physical_id, data=data, reason=reason, timeout=SEND_TIMEOUT_SECONDS
    )
