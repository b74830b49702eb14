"""The post-deploy smoke test: config check, canary invocations, cold-load retries, CloudFormation answers."""

from __future__ import annotations

import io
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.lambdas.conftest import CfnServer
from tests.support import lambda_module

smoke = lambda_module("smoke_test", "smoke_test")


class FakeSageMaker:
    def __init__(self, status: str = "InService", config: str = "cfg-new") -> None:
        self.status, self.config = status, config

    def describe_endpoint(self, EndpointName: str) -> dict[str, str]:  # noqa: N803  (boto3's argument name)
        return {"EndpointName": EndpointName, "EndpointStatus": self.status, "EndpointConfigName": self.config}


class FakeRuntime:
    """Answers with the queued errors first (by error code), then successes."""

    def __init__(self, *errors: str) -> None:
        self.errors = list(errors)
        self.calls: list[dict[str, Any]] = []

    def invoke_endpoint(self, **arguments: Any) -> dict[str, Any]:
        self.calls.append(arguments)
        if self.errors:
            code = self.errors.pop(0)
            raise ClientError({"Error": {"Code": code, "Message": f"{code} from the model"}}, "InvokeEndpoint")
        return {"Body": io.BytesIO(b"ok")}


CANARY = [{"TargetModel": "Chicago_IL.tar.gz", "Body": "3,2,1500", "ContentType": "text/csv"}]


def _check(sagemaker: Any, runtime: Any, invocations: list[dict[str, str]] = CANARY) -> list[str]:
    problems: list[str] = smoke.check_endpoint(
        sagemaker,
        runtime,
        endpoint_name="prod-home-values",
        expected_config="cfg-new",
        invocations=invocations,
        sleep=lambda _: None,
    )
    return problems


def test_a_healthy_endpoint_passes() -> None:
    runtime = FakeRuntime()
    assert _check(FakeSageMaker(), runtime) == []
    assert runtime.calls == [
        {
            "EndpointName": "prod-home-values",
            "Body": b"3,2,1500",
            "ContentType": "text/csv",
            "TargetModel": "Chicago_IL.tar.gz",
        }
    ]


def test_a_silent_rollback_fails_the_deploy() -> None:
    (problem,) = _check(FakeSageMaker(config="cfg-old"), FakeRuntime())
    assert "runs endpoint config cfg-old, but this deploy set cfg-new" in problem


def test_an_endpoint_not_in_service_fails() -> None:
    assert _check(FakeSageMaker(status="Failed"), FakeRuntime()) == ["prod-home-values is Failed, not InService"]


def test_a_loading_model_is_retried() -> None:
    runtime = FakeRuntime("ModelNotReadyException", "ModelNotReadyException")
    assert _check(FakeSageMaker(), runtime) == []
    assert len(runtime.calls) == 3


def test_a_model_error_fails_with_the_target() -> None:
    (problem,) = _check(FakeSageMaker(), FakeRuntime("ModelError"))
    assert problem == "prod-home-values / Chicago_IL.tar.gz: ModelError: ModelError from the model"


def test_a_model_that_never_loads_fails() -> None:
    (problem,) = _check(FakeSageMaker(), FakeRuntime(*["ModelNotReadyException"] * 6))
    assert problem.startswith("prod-home-values / Chicago_IL.tar.gz: ModelNotReadyException")


def test_each_direct_container_is_called_by_hostname() -> None:
    runtime = FakeRuntime()
    calls = [{"TargetContainerHostname": h, "Body": "{}", "ContentType": "application/json"} for h in ("tf", "pt")]
    assert _check(FakeSageMaker(), runtime, calls) == []
    assert [c["TargetContainerHostname"] for c in runtime.calls] == ["tf", "pt"]


def test_delete_does_nothing() -> None:
    assert smoke.on_event(None, None, {"RequestType": "Delete", "ResourceProperties": {}}) == {}


def test_handler_fails_the_deployment_on_a_rollback(monkeypatch: pytest.MonkeyPatch, cfn_server: CfnServer) -> None:
    handler = lambda_module("smoke_test", "handler")
    clients = {"sagemaker": FakeSageMaker(config="cfg-old"), "sagemaker-runtime": FakeRuntime()}
    monkeypatch.setattr(handler.boto3, "client", lambda service: clients[service])
    event = {
        "RequestType": "Update",
        "ResponseURL": cfn_server.url,
        "StackId": "stack",
        "RequestId": "req",
        "LogicalResourceId": "SmokeTest",
        "PhysicalResourceId": "prod-home-values-smoke-test",
        "ResourceProperties": {
            "EndpointName": "prod-home-values",
            "ExpectedEndpointConfigName": "cfg-new",
            "Invocations": CANARY,
        },
    }
    handler.handler(event, None)
    (body,) = cfn_server.bodies
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith("SmokeTestError: prod-home-values runs endpoint config cfg-old")
