"""Lambda entry point of the scaling-guard custom resources (thin: the logic is in scaling_guard.py)."""

from __future__ import annotations

import logging
from typing import Any

import boto3
import cfn_response
import scaling_guard

logging.getLogger().setLevel(logging.INFO)


def handler(event: dict[str, Any], context: Any) -> None:  # noqa: ARG001  (Lambda's signature)
    properties = event["ResourceProperties"]
    physical_id = event.get("PhysicalResourceId") or f"{properties['EndpointName']}-{properties['Action']}"
    try:
        client = boto3.client("application-autoscaling")
        action = scaling_guard.on_release if properties["Action"] == "release" else scaling_guard.on_restore
        data = action(client, event)
        logging.info("%s %s for %s: %s", event["RequestType"], properties["Action"], properties["EndpointName"], data)
        cfn_response.send(event, status="SUCCESS", physical_resource_id=physical_id, data=data)
    except Exception as error:
        logging.exception("scaling guard failed")
        cfn_response.send(
            event, status="FAILED", physical_resource_id=physical_id, reason=f"{type(error).__name__}: {error}"
        )
