"""Lambda entry point of the smoke-test custom resource (thin: the logic is in smoke_test.py)."""

from __future__ import annotations

import logging
from typing import Any

import boto3
import cfn_response
import smoke_test

logging.getLogger().setLevel(logging.INFO)


def handler(event: dict[str, Any], context: Any) -> None:  # noqa: ARG001  (Lambda's signature)
    properties = event["ResourceProperties"]
    physical_id = event.get("PhysicalResourceId") or f"{properties['EndpointName']}-smoke-test"
    try:
        data = smoke_test.on_event(boto3.client("sagemaker"), boto3.client("sagemaker-runtime"), event)
        cfn_response.send(event, status="SUCCESS", physical_resource_id=physical_id, data=data)
    except Exception as error:
        logging.exception("smoke test failed")
        reason = f"{type(error).__name__}: {error}"
        cfn_response.send(event, status="FAILED", physical_resource_id=physical_id, reason=reason)
