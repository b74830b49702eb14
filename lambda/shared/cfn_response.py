"""Answering a CloudFormation custom-resource request (the pre-signed S3 URL in the event)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def send(
    event: dict[str, Any],
    *,
    status: str,
    physical_resource_id: str,
    data: dict[str, str] | None = None,
    reason: str = "",
    timeout: float = 30,
) -> None:
    """PUT the response; CloudFormation waits for it (up to an hour) before going on."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:3000] or "see the function's log",
            "PhysicalResourceId": physical_resource_id,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": data or {},
        }
    ).encode()
    request = urllib.request.Request(
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()
