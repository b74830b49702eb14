"""Post-deploy smoke test: is the endpoint running what this deploy set, and does it answer?

Plain Python with the clients passed in (tested with moto and fakes). A failure raises ``SmokeTestError``;
the handler reports it to CloudFormation, which fails the deployment and rolls it back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError


class SmokeTestError(Exception):
    """The endpoint is not running this deploy's config, or an invocation failed."""


def check_endpoint(
    sagemaker: Any,
    runtime: Any,
    *,
    endpoint_name: str,
    expected_config: str,
    invocations: list[dict[str, str]],
    attempts: int = 6,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Every problem found (empty when the endpoint is healthy)."""
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
    problems = []
    for invocation in invocations:
        problem = _invoke(runtime, endpoint_name, invocation, attempts, sleep)
        if problem:
            problems.append(problem)
    return problems


def _invoke(
    runtime: Any, endpoint_name: str, invocation: dict[str, str], attempts: int, sleep: Callable[[float], None]
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
    for attempt in range(attempts):
        try:
            runtime.invoke_endpoint(**arguments)["Body"].read()
            return None
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            # A multi-model endpoint answers ModelNotReady while it loads a model (up to 360 s): try again.
            if code == "ModelNotReadyException" and attempt + 1 < attempts:
                sleep(min(10 * 2**attempt, 60))
                continue
            message = error.response.get("Error", {}).get("Message", error)
            return f"{endpoint_name} / {target}: {code or 'error'}: {message}"
    return f"{endpoint_name} / {target}: still not ready after {attempts} attempts"


def on_event(sagemaker: Any, runtime: Any, event: dict[str, Any]) -> dict[str, str]:
    """The custom resource: check on Create and Update, nothing on Delete."""
    if event["RequestType"] == "Delete":
        return {}
    properties = event["ResourceProperties"]
    problems = check_endpoint(
        sagemaker,
        runtime,
        endpoint_name=properties["EndpointName"],
        expected_config=properties["ExpectedEndpointConfigName"],
        invocations=properties.get("Invocations", []),
    )
    if problems:
        raise SmokeTestError("; ".join(problems))
    return {"Checked": str(len(properties.get("Invocations", [])))}
