"""Lambda entry point of the smoke-test custom resource (thin: the logic is in smoke_test.py)."""

from __future__ import annotations

import logging
from typing import Any

import boto3
import cfn_response
import smoke_test

logging.getLogger().setLevel(logging.INFO)

#: Socket timeout of the PUT to the response URL: it bounds the connection and then the wait for S3's reply.
SEND_TIMEOUT_SECONDS = 10
#: Time kept back from Lambda's timeout to answer CloudFormation: the PUT's two timeouts, plus slack for DNS,
#: which no socket timeout bounds, and for logging the outcome.
RESPONSE_MARGIN_SECONDS = 30


def handler(event: dict[str, Any], context: Any) -> None:
    physical_id = _physical_id(event)
    try:
        if event["RequestType"] == "Delete":
            # Nothing to check, so nothing that may fail a deletion (or a rollback's cleanup), not even a client.
            data: dict[str, str] = {}
        else:
            # get_remaining_time_in_millis: "the number of milliseconds left before the execution times out" (AWS
            # Lambda Developer Guide, "Using the Lambda context object to retrieve Python function information").
            remaining = context.get_remaining_time_in_millis() / 1000
            deadline = smoke_test.Deadline.after(remaining - RESPONSE_MARGIN_SECONDS)
            data = smoke_test.on_event(
                boto3.client("sagemaker", config=smoke_test.CONTROL_PLANE.config()),
                boto3.client("sagemaker-runtime", config=smoke_test.RUNTIME.config()),
                boto3.client("cloudformation", config=smoke_test.CONTROL_PLANE.config()),
                event,
                deadline=deadline,
            )
        status, reason = "SUCCESS", ""
    except Exception as error:
        logging.exception("smoke test failed")
        status, reason, data = "FAILED", f"{type(error).__name__}: {error}", {}
    # One answer, sent outside the try: a failed SUCCESS PUT must not be followed by a FAILED one to the same URL.
    cfn_response.send(
        event, status=status, physical_resource_id=physical_id, data=data, reason=reason, timeout=SEND_TIMEOUT_SECONDS
    )


def _physical_id(event: dict[str, Any]) -> str:
    # Never raises: a malformed event must still be answered.
    if event.get("PhysicalResourceId"):
        return str(event["PhysicalResourceId"])
    name = (event.get("ResourceProperties") or {}).get("EndpointName") or event.get("LogicalResourceId", "endpoint")
    return f"{name}-smoke-test"
