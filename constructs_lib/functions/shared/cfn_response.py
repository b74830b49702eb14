"""Answering a CloudFormation custom-resource request, and knowing whether the stack is rolling back.

Both follow AWS's documented contract:

- the response is a JSON object PUT to the pre-signed ``ResponseURL``; CloudFormation rejects a response
  larger than 4096 bytes ("Custom resource response objects", AWS CloudFormation User Guide, "Custom
  resources" > "Response objects"), so an oversized ``Data`` is refused here, before it is sent;
- during a rollback CloudFormation sends the same ``Update`` request type with ``ResourceProperties`` and
  ``OldResourceProperties`` swapped; the request itself does not say it is a rollback, the stack's status
  does (``UPDATE_ROLLBACK_IN_PROGRESS``, DescribeStacks, AWS CloudFormation API Reference, ``StackStatus``).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

#: CloudFormation's limit on a custom resource's response body, in bytes.
MAX_RESPONSE_BYTES = 4096
#: Stack statuses in which CloudFormation is undoing a change (requests then restore, never fail).
ROLLBACK_STATUSES = frozenset({"UPDATE_ROLLBACK_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "IMPORT_ROLLBACK_IN_PROGRESS"})
#: The stack status in which CloudFormation sends a forward Update request and waits for its answer.
FORWARD_UPDATE_STATUS = "UPDATE_IN_PROGRESS"
#: What an Update request is part of (``update_phase``).
FORWARD, ROLLBACK, STALE = "forward", "rollback", "stale"


class ResponseTooLargeError(ValueError):
    """The response would exceed CloudFormation's 4096 bytes."""


def body(
    event: dict[str, Any],
    *,
    status: str,
    physical_resource_id: str,
    data: dict[str, str] | None = None,
    reason: str = "",
) -> bytes:
    """The response document, refused when it is larger than CloudFormation accepts."""
    document = json.dumps(
        {
            "Status": status,
            "Reason": reason[:1000] or "see the function's log",
            "PhysicalResourceId": physical_resource_id,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": data or {},
        }
    ).encode()
    if len(document) > MAX_RESPONSE_BYTES:
        raise ResponseTooLargeError(
            f"the response is {len(document)} bytes; CloudFormation accepts at most {MAX_RESPONSE_BYTES}"
        )
    return document


def send(
    event: dict[str, Any],
    *,
    status: str,
    physical_resource_id: str,
    data: dict[str, str] | None = None,
    reason: str = "",
    timeout: float = 30,
) -> None:
    """PUT the response; CloudFormation waits for it (up to the resource's ServiceTimeout) before going on.

    A response whose ``Data`` is too large is sent as FAILED with the reason, so CloudFormation never waits.
    """
    try:
        document = body(event, status=status, physical_resource_id=physical_resource_id, data=data, reason=reason)
    except ResponseTooLargeError as error:
        document = body(event, status="FAILED", physical_resource_id=physical_resource_id, reason=str(error))
    request = urllib.request.Request(
        event["ResponseURL"],
        data=document,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(document))},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()


def stack_status(cloudformation: Any, event: dict[str, Any]) -> str:
    """The request's stack's status now (DescribeStacks), or "" if it is gone."""
    stacks = cloudformation.describe_stacks(StackName=event["StackId"])["Stacks"]
    return str(stacks[0]["StackStatus"]) if stacks else ""


def update_phase(status: str) -> str:
    """What an Update request is part of, from its stack's ``status`` now: the forward update, a rollback, or
    nothing any more (``STALE``): CloudFormation stopped waiting for it, and Lambda handed it over late or twice
    (it retries a throttled asynchronous event for up to six hours and may deliver one more than once:
    "Asynchronous invocation", AWS Lambda Developer Guide)."""
    if status == FORWARD_UPDATE_STATUS:
        return FORWARD
    return ROLLBACK if status in ROLLBACK_STATUSES else STALE


def is_rolling_back(cloudformation: Any, event: dict[str, Any]) -> bool:
    """True while the request's stack is rolling back (its status, read with DescribeStacks)."""
    return stack_status(cloudformation, event) in ROLLBACK_STATUSES
