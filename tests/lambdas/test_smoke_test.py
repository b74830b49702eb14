"""The post-deploy smoke test: config check, canary invocations, cold-load retries, the deadline, rollbacks, and
CloudFormation answers."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from constructs_lib.smoke_test import FUNCTION_TIMEOUT
from tests.lambdas.conftest import CfnServer
from tests.support import lambda_module

smoke = lambda_module("smoke_test", "smoke_test")


class FakeClock:
    """Time that passes only when the code sleeps or a fake client answers."""

    def __init__(self) -> None:
        self.time = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.time += seconds


class FakeSageMaker:
    def __init__(self, status: str = "InService", config: str = "cfg-new") -> None:
        self.status, self.config = status, config
        self.calls = 0

    def describe_endpoint(self, EndpointName: str) -> dict[str, str]:  # noqa: N803  (boto3's argument name)
        self.calls += 1
        return {"EndpointName": EndpointName, "EndpointStatus": self.status, "EndpointConfigName": self.config}


class FakeRuntime:
    """Answers with the queued errors first (by error code), then successes; each call takes ``seconds``."""

    def __init__(self, *errors: str, clock: FakeClock | None = None, seconds: float = 0, forever: str = "") -> None:
        self.errors = list(errors)
        self.forever = forever
        self.clock, self.seconds = clock, seconds
        self.calls: list[dict[str, Any]] = []
        self.started: list[float] = []

    def invoke_endpoint(self, **arguments: Any) -> dict[str, Any]:
        self.calls.append(arguments)
        if self.clock is not None:
            self.started.append(self.clock.now())
            self.clock.time += self.seconds
        code = self.errors.pop(0) if self.errors else self.forever
        if code:
            raise ClientError({"Error": {"Code": code, "Message": f"{code} from the model"}}, "InvokeEndpoint")
        return {"Body": io.BytesIO(b"ok")}


class FakeCloudFormation:
    """DescribeStacks answering each queued status (or raising each queued error) in turn, the last one forever."""

    def __init__(self, *answers: str | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    def describe_stacks(self, StackName: str) -> dict[str, Any]:  # noqa: N803  (boto3's argument name)
        self.calls.append(StackName)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return {"Stacks": [{"StackName": "hosting", "StackStatus": answer}]}


THROTTLED = ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "DescribeStacks")
CANARY = [{"TargetModel": "Chicago_IL.tar.gz", "Body": "3,2,1500", "ContentType": "text/csv"}]
STACK_ID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/prod-hosting/0a1b2c3d"


def _far() -> Any:
    return smoke.Deadline.after(3600)


def _check(sagemaker: Any, runtime: Any, invocations: list[dict[str, str]] = CANARY, deadline: Any = None) -> list[str]:
    problems: list[str] = smoke.check_endpoint(
        sagemaker,
        runtime,
        endpoint_name="prod-home-values",
        expected_config="cfg-new",
        invocations=invocations,
        deadline=deadline or _far(),
        sleep=lambda _: None,
    )
    return problems


def _event(request: str = "Update", **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "RequestType": request,
        "ResponseURL": "http://127.0.0.1:9/unused",
        "StackId": STACK_ID,
        "RequestId": "req",
        "LogicalResourceId": "SmokeTest",
        "PhysicalResourceId": "prod-home-values-smoke-test",
        "ResourceProperties": {
            "EndpointName": "prod-home-values",
            "ExpectedEndpointConfigName": "cfg-new",
            "Invocations": CANARY,
        },
    }
    if request == "Create":
        del event["PhysicalResourceId"]
    event.update(overrides)
    return event


def _on_event(sagemaker: Any, runtime: Any, cloudformation: Any, event: dict[str, Any]) -> dict[str, str]:
    data: dict[str, str] = smoke.on_event(sagemaker, runtime, cloudformation, event, deadline=_far())
    return data


# The checks themselves.


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


COMPONENTS = [
    {"InferenceComponentName": name, "Body": "{}", "ContentType": "application/json"}
    for name in ("prod-tabular-churn", "prod-tabular-fraud")
]


def test_each_inference_component_is_called_by_its_deployed_name() -> None:
    runtime = FakeRuntime()
    assert _check(FakeSageMaker(), runtime, COMPONENTS) == []
    assert [c["InferenceComponentName"] for c in runtime.calls] == ["prod-tabular-churn", "prod-tabular-fraud"]
    assert all("TargetModel" not in c and "TargetContainerHostname" not in c for c in runtime.calls)


def test_a_failing_component_is_named_in_the_problem() -> None:
    problems = _check(FakeSageMaker(), FakeRuntime("ValidationError"), COMPONENTS)
    assert problems == ["prod-home-values / prod-tabular-churn: ValidationError: ValidationError from the model"]


def test_the_deadline_reason_names_the_next_component() -> None:
    clock = FakeClock()
    deadline = smoke.Deadline(clock.now() + smoke.RUNTIME.worst_case_seconds + 50, now=clock.now)
    runtime = FakeRuntime(clock=clock, seconds=60)
    (problem,) = _check(FakeSageMaker(), runtime, COMPONENTS, deadline=deadline)
    assert problem.startswith(
        "prod-home-values: deadline reached after 1 of 2 canaries (next: invoking prod-tabular-fraud; "
    )


def test_the_component_is_a_valid_invoke_endpoint_argument() -> None:
    # A real client, stubbed: botocore checks the request against the runtime's model (InferenceComponentName is a
    # member of InvokeEndpointInput, 1-63 characters).
    runtime = boto3.client("sagemaker-runtime", region_name="eu-west-1", config=smoke.RUNTIME.config())
    with Stubber(runtime) as stubber:
        stubber.add_response(
            "invoke_endpoint",
            {"Body": io.BytesIO(b"ok")},
            {
                "EndpointName": "prod-home-values",
                "Body": b"{}",
                "ContentType": "application/json",
                "InferenceComponentName": "prod-tabular-churn",
            },
        )
        assert _check(FakeSageMaker(), runtime, COMPONENTS[:1]) == []
        stubber.assert_no_pending_responses()


# The deadline: no call starts, and no sleep begins, unless it ends by the deadline.


def test_the_cold_load_retries_stop_at_the_deadline() -> None:
    clock = FakeClock()
    deadline = smoke.Deadline(clock.now() + 250, now=clock.now)
    runtime = FakeRuntime(clock=clock, seconds=2, forever="ModelNotReadyException")
    problems = smoke.check_endpoint(
        FakeSageMaker(),
        runtime,
        endpoint_name="prod-home-values",
        expected_config="cfg-new",
        invocations=CANARY,
        deadline=deadline,
        sleep=clock.sleep,
    )
    (problem,) = problems
    assert problem.startswith("prod-home-values: deadline reached after 0 of 1 canaries (Chicago_IL.tar.gz still ")
    assert "ModelNotReadyException after 5 attempts" in problem
    assert "answering CloudFormation before the function times out" in problem
    # Every call started with its worst case (retries included) still ending by the deadline.
    assert len(runtime.started) == 5
    assert all(start + smoke.RUNTIME.worst_case_seconds <= deadline.at for start in runtime.started)
    # The last pause was shortened so that one more attempt still fitted; then it stopped, in time.
    assert clock.sleeps == [10, 20, 40, 20]
    assert clock.now() <= deadline.at


def test_the_deadline_reason_counts_the_canaries_done() -> None:
    clock = FakeClock()
    deadline = smoke.Deadline(clock.now() + smoke.RUNTIME.worst_case_seconds + 50, now=clock.now)
    runtime = FakeRuntime("ModelError", clock=clock, seconds=40)
    canaries = [{"TargetContainerHostname": h, "Body": "{}", "ContentType": "application/json"} for h in "abc"]
    problems = _check(FakeSageMaker(), runtime, canaries, deadline=deadline)
    assert problems[0].startswith("prod-home-values: deadline reached after 2 of 3 canaries (next: invoking c; ")
    assert problems[1] == "prod-home-values / a: ModelError: ModelError from the model"
    assert [c["TargetContainerHostname"] for c in runtime.calls] == ["a", "b"]


def test_no_time_left_calls_nothing() -> None:
    sagemaker, runtime = FakeSageMaker(), FakeRuntime()
    (problem,) = _check(sagemaker, runtime, deadline=smoke.Deadline.after(smoke.CONTROL_PLANE.worst_case_seconds - 1))
    assert problem.startswith("prod-home-values: deadline reached after 0 of 1 canaries (DescribeEndpoint; ")
    assert sagemaker.calls == 0
    assert runtime.calls == []


def test_reaching_the_deadline_fails_the_request() -> None:
    clock = FakeClock()
    deadline = smoke.Deadline(clock.now() + 2 * smoke.CONTROL_PLANE.worst_case_seconds, now=clock.now)
    runtime = FakeRuntime()
    match = r"deadline reached after 0 of 1 canaries \(next: invoking Chicago_IL.tar.gz; "
    with pytest.raises(smoke.SmokeTestError, match=match):
        smoke.on_event(FakeSageMaker(), runtime, FakeCloudFormation("UPDATE_IN_PROGRESS"), _event(), deadline=deadline)
    assert runtime.calls == []


def test_an_update_without_time_to_read_the_status_is_never_failed() -> None:
    # Not even DescribeStacks fits: the status is unknown, and an unknown status must not block a rollback.
    cloudformation = FakeCloudFormation("UPDATE_ROLLBACK_IN_PROGRESS")
    data = smoke.on_event(FakeSageMaker(), FakeRuntime(), cloudformation, _event(), deadline=smoke.Deadline.after(0))
    assert data == {"Checked": "1", "Ignored": "1"}
    assert cloudformation.calls == []


# The clients: bounded retries, and timeouts that fit the function.


@pytest.mark.parametrize("limits", [smoke.CONTROL_PLANE, smoke.RUNTIME], ids=["control", "runtime"])
def test_clients_retry_a_few_times_in_standard_mode(limits: Any) -> None:
    client = boto3.client("sagemaker", region_name="eu-west-1", config=limits.config())
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": limits.total_max_attempts}
    assert limits.total_max_attempts <= 3
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (
        limits.connect_timeout,
        limits.read_timeout,
    )


def test_worst_cases_include_every_attempt_and_backoff() -> None:
    # 2 x (3 + 70) s, and one backoff of at most 1 s plus 5 s of x-amz-retry-after.
    assert smoke.RUNTIME.worst_case_seconds == 152
    # 3 x (3 + 10) s, and backoffs of at most 1 + 5 and 2 + 5 s.
    assert smoke.CONTROL_PLANE.worst_case_seconds == 52
    # AWS asks for a 70 s socket timeout on InvokeEndpoint, whose containers may take 60 s.
    assert smoke.RUNTIME.read_timeout == 70


def test_a_cold_canary_fits_in_the_function() -> None:
    handler = lambda_module("smoke_test", "handler")
    budget = FUNCTION_TIMEOUT.to_seconds() - handler.RESPONSE_MARGIN_SECONDS
    cold_load_pauses = 10 + 20 + 40 + 60 + 60
    # DescribeStacks, DescribeEndpoint, then every ModelNotReady pause before a last invocation.
    assert 2 * smoke.CONTROL_PLANE.worst_case_seconds + cold_load_pauses + smoke.RUNTIME.worst_case_seconds <= budget
    # Two socket timeouts of the PUT, with room to spare.
    assert handler.RESPONSE_MARGIN_SECONDS > 2 * handler.SEND_TIMEOUT_SECONDS


# Rollbacks: never failed.


@pytest.mark.parametrize("status", ["UPDATE_ROLLBACK_IN_PROGRESS", "ROLLBACK_IN_PROGRESS"])
def test_a_rollback_update_succeeds_without_invoking(status: str, caplog: pytest.LogCaptureFixture) -> None:
    sagemaker, runtime = FakeSageMaker(config="cfg-old"), FakeRuntime("ModelError")
    cloudformation = FakeCloudFormation(status)
    with caplog.at_level(logging.WARNING):
        assert _on_event(sagemaker, runtime, cloudformation, _event()) == {"Checked": "0", "Skipped": "1"}
    assert cloudformation.calls == [STACK_ID]
    assert sagemaker.calls == 0
    assert runtime.calls == []
    assert "the stack is rolling back" in caplog.text
    assert "Chicago_IL.tar.gz" in caplog.text


def test_a_rollback_names_the_components_it_did_not_invoke(caplog: pytest.LogCaptureFixture) -> None:
    event = _event()
    event["ResourceProperties"]["Invocations"] = COMPONENTS
    runtime = FakeRuntime()
    with caplog.at_level(logging.WARNING):
        data = _on_event(FakeSageMaker(), runtime, FakeCloudFormation("UPDATE_ROLLBACK_IN_PROGRESS"), event)
    assert data == {"Checked": "0", "Skipped": "2"}
    assert runtime.calls == []
    assert "(prod-tabular-churn, prod-tabular-fraud)" in caplog.text


@pytest.mark.parametrize(("status", "fails"), [("UPDATE_IN_PROGRESS", True), ("UPDATE_ROLLBACK_IN_PROGRESS", False)])
def test_the_status_is_read_with_a_valid_describe_stacks(status: str, fails: bool) -> None:
    # A real client, stubbed: botocore checks the request and the response against CloudFormation's model.
    cloudformation = boto3.client("cloudformation", region_name="eu-west-1", config=smoke.CONTROL_PLANE.config())
    stack = {"StackName": "prod-hosting", "StackId": STACK_ID, "CreationTime": datetime.now(UTC), "StackStatus": status}
    with Stubber(cloudformation) as stubber:
        stubber.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": STACK_ID})
        if fails:
            with pytest.raises(smoke.SmokeTestError, match=r"ModelError from the model"):
                _on_event(FakeSageMaker(), FakeRuntime("ModelError"), cloudformation, _event())
        else:
            assert _on_event(FakeSageMaker(), FakeRuntime("ModelError"), cloudformation, _event())["Skipped"] == "1"
        stubber.assert_no_pending_responses()


def test_a_denied_describe_stacks_is_an_unknown_status() -> None:
    cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
    with Stubber(cloudformation) as stubber:
        stubber.add_client_error("describe_stacks", "AccessDenied", http_status_code=403)
        assert smoke.stack_is_rolling_back(cloudformation, _event(), _far()) is None


def test_delete_does_nothing() -> None:
    assert _on_event(None, None, None, _event("Delete")) == {}


def test_an_unknown_status_on_update_never_fails_it(caplog: pytest.LogCaptureFixture) -> None:
    cloudformation = FakeCloudFormation(THROTTLED)
    runtime = FakeRuntime("ModelError")
    with caplog.at_level(logging.ERROR):
        assert _on_event(FakeSageMaker(), runtime, cloudformation, _event()) == {"Checked": "1", "Ignored": "1"}
    # The test ran, and its failure made the function read the status once more before ignoring it.
    assert len(runtime.calls) == 1
    assert len(cloudformation.calls) == 2
    assert "the stack's status is unknown on an Update" in caplog.text
    assert "ModelError from the model" in caplog.text


def test_an_unknown_status_read_again_as_a_rollback_succeeds() -> None:
    cloudformation = FakeCloudFormation(THROTTLED, "UPDATE_ROLLBACK_IN_PROGRESS")
    assert _on_event(FakeSageMaker(), FakeRuntime("ModelError"), cloudformation, _event()) == {
        "Checked": "1",
        "Ignored": "1",
    }


def test_an_unknown_status_read_again_as_an_update_fails() -> None:
    cloudformation = FakeCloudFormation(THROTTLED, "UPDATE_IN_PROGRESS")
    with pytest.raises(smoke.SmokeTestError, match=r"ModelError"):
        _on_event(FakeSageMaker(), FakeRuntime("ModelError"), cloudformation, _event())


def test_an_unknown_status_does_not_matter_when_the_canaries_pass() -> None:
    cloudformation = FakeCloudFormation(EndpointConnectionError(endpoint_url="https://cloudformation"))
    assert _on_event(FakeSageMaker(), FakeRuntime(), cloudformation, _event()) == {"Checked": "1"}
    assert len(cloudformation.calls) == 1


class UnreachableRuntime:
    def invoke_endpoint(self, **_: Any) -> dict[str, Any]:
        raise ReadTimeoutError(endpoint_url="https://runtime.sagemaker.eu-west-1.amazonaws.com")


def test_an_unreachable_endpoint_is_a_problem_like_the_others() -> None:
    with pytest.raises(smoke.SmokeTestError, match=r"prod-home-values: ReadTimeoutError: Read timeout on endpoint"):
        _on_event(FakeSageMaker(), UnreachableRuntime(), FakeCloudFormation("UPDATE_IN_PROGRESS"), _event())
    # ... so it does not fail an Update whose status is unknown either.
    data = _on_event(FakeSageMaker(), UnreachableRuntime(), FakeCloudFormation(THROTTLED), _event())
    assert data == {"Checked": "1", "Ignored": "1"}


def test_an_unknown_status_on_create_is_no_rollback() -> None:
    cloudformation = FakeCloudFormation(THROTTLED)
    with pytest.raises(smoke.SmokeTestError, match=r"ModelError"):
        _on_event(FakeSageMaker(), FakeRuntime("ModelError"), cloudformation, _event("Create"))
    assert len(cloudformation.calls) == 1


# The handler: one answer to CloudFormation on every path.


class FakeContext:
    def __init__(self, remaining_ms: int = 600_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def _run_handler(
    monkeypatch: pytest.MonkeyPatch,
    cfn_server: CfnServer,
    event: dict[str, Any],
    *,
    clients: dict[str, Any] | None = None,
    context: Any = None,
) -> dict[str, Any]:
    handler = lambda_module("smoke_test", "handler")
    configs: dict[str, Any] = {}

    def client(service: str, config: Any = None) -> Any:
        if clients is None:
            raise EndpointConnectionError(endpoint_url=f"https://{service}")
        configs[service] = config
        return clients[service]

    monkeypatch.setattr(handler.boto3, "client", client)
    handler.handler({**event, "ResponseURL": cfn_server.url}, context or FakeContext())
    body: dict[str, Any]
    (body,) = cfn_server.bodies
    assert body["RequestId"] == "req"
    if clients is not None and configs:
        assert configs["sagemaker-runtime"].read_timeout == smoke.RUNTIME.read_timeout
        assert configs["sagemaker"].retries == {"mode": "standard", "total_max_attempts": 3}
        assert configs["cloudformation"].retries == {"mode": "standard", "total_max_attempts": 3}
    return body


def _clients(
    sagemaker: Any = None, runtime: Any = None, status: str | Exception = "UPDATE_IN_PROGRESS"
) -> dict[str, Any]:
    return {
        "sagemaker": sagemaker or FakeSageMaker(),
        "sagemaker-runtime": runtime or FakeRuntime(),
        "cloudformation": FakeCloudFormation(status),
    }


def test_handler_answers_success_for_a_healthy_endpoint(monkeypatch: pytest.MonkeyPatch, cfn_server: CfnServer) -> None:
    body = _run_handler(monkeypatch, cfn_server, _event("Create"), clients=_clients(status="CREATE_IN_PROGRESS"))
    assert (body["Status"], body["Data"], body["PhysicalResourceId"]) == (
        "SUCCESS",
        {"Checked": "1"},
        "prod-home-values-smoke-test",
    )


def test_handler_fails_the_deployment_naming_the_failing_component(
    monkeypatch: pytest.MonkeyPatch, cfn_server: CfnServer
) -> None:
    event = _event("Create")
    event["ResourceProperties"]["Invocations"] = COMPONENTS
    runtime = FakeRuntime("", "ModelError")
    body = _run_handler(monkeypatch, cfn_server, event, clients=_clients(runtime=runtime, status="CREATE_IN_PROGRESS"))
    assert body["Status"] == "FAILED"
    assert body["Reason"] == (
        "SmokeTestError: prod-home-values / prod-tabular-fraud: ModelError: ModelError from the model"
    )
    assert [c["InferenceComponentName"] for c in runtime.calls] == ["prod-tabular-churn", "prod-tabular-fraud"]


def test_handler_fails_the_deployment_on_a_silent_rollback(
    monkeypatch: pytest.MonkeyPatch, cfn_server: CfnServer
) -> None:
    body = _run_handler(monkeypatch, cfn_server, _event(), clients=_clients(sagemaker=FakeSageMaker(config="cfg-old")))
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith("SmokeTestError: prod-home-values runs endpoint config cfg-old")


def test_handler_answers_success_while_the_stack_rolls_back(
    monkeypatch: pytest.MonkeyPatch, cfn_server: CfnServer
) -> None:
    clients = _clients(FakeSageMaker(config="cfg-old"), FakeRuntime("ModelError"), "UPDATE_ROLLBACK_IN_PROGRESS")
    body = _run_handler(monkeypatch, cfn_server, _event(), clients=clients)
    assert (body["Status"], body["Data"]) == ("SUCCESS", {"Checked": "0", "Skipped": "1"})


def test_handler_answers_a_delete_without_any_client(monkeypatch: pytest.MonkeyPatch, cfn_server: CfnServer) -> None:
    body = _run_handler(monkeypatch, cfn_server, _event("Delete"), clients={})
    assert body["Status"] == "SUCCESS"


def test_handler_answers_before_its_timeout_when_no_time_is_left(
    monkeypatch: pytest.MonkeyPatch, cfn_server: CfnServer
) -> None:
    runtime = FakeRuntime()
    clients = _clients(runtime=runtime)
    body = _run_handler(monkeypatch, cfn_server, _event("Create"), clients=clients, context=FakeContext(40_000))
    assert body["Status"] == "FAILED"
    assert "deadline reached after 0 of 1 canaries (DescribeEndpoint; " in body["Reason"]
    assert runtime.calls == []


def test_handler_answers_when_no_client_can_be_built(monkeypatch: pytest.MonkeyPatch, cfn_server: CfnServer) -> None:
    body = _run_handler(monkeypatch, cfn_server, _event(), clients=None)
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith("EndpointConnectionError: ")


def test_handler_answers_a_malformed_request(monkeypatch: pytest.MonkeyPatch, cfn_server: CfnServer) -> None:
    event = _event("Create")
    del event["ResourceProperties"]
    body = _run_handler(monkeypatch, cfn_server, event, clients=_clients())
    assert (body["Status"], body["PhysicalResourceId"]) == ("FAILED", "SmokeTest-smoke-test")
    assert body["Reason"] == "KeyError: 'ResourceProperties'"


class FakeComponents(FakeSageMaker):
    """DescribeInferenceComponent as SageMaker answers it (botocore: InferenceComponentStatus,
    Specification.ModelName, FailureReason); a component given several answers gives them in turn, the last one
    for good."""

    def __init__(self, models: dict[str, tuple[str, str] | list[tuple[str, str]]]) -> None:
        super().__init__()
        self.models = {name: answer if isinstance(answer, list) else [answer] for name, answer in models.items()}
        self.described = 0

    def describe_inference_component(self, InferenceComponentName: str) -> dict[str, Any]:  # noqa: N803
        self.described += 1
        answers = self.models[InferenceComponentName]
        status, model = answers.pop(0) if len(answers) > 1 else answers[0]
        return {"InferenceComponentStatus": status, "Specification": {"ModelName": model}}


def _check_components(
    sagemaker: Any,
    runtime: Any,
    expected: dict[str, str],
    deadline: Any = None,
    sleep: Callable[[float], None] = lambda _: None,
) -> list[str]:
    problems: list[str] = smoke.check_endpoint(
        sagemaker,
        runtime,
        endpoint_name="prod-tabular",
        expected_config="cfg-new",
        invocations=[{"Body": "1", "ContentType": "text/csv", "InferenceComponentName": "prod-tabular-churn"}],
        expected_models=expected,
        deadline=deadline or _far(),
        sleep=sleep,
    )
    return problems


def test_a_component_on_the_model_this_deploy_set_passes() -> None:
    runtime = FakeRuntime()
    sagemaker = FakeComponents({"prod-tabular-churn": ("InService", "model-new")})
    assert _check_components(sagemaker, runtime, {"prod-tabular-churn": "model-new"}) == []
    assert len(runtime.calls) == 1


def test_a_component_rolled_back_by_sagemaker_fails_before_any_canary() -> None:
    # A rolling update SageMaker rolled back leaves the component on its old model; CloudFormation would report
    # success and then delete that old model in its cleanup.
    runtime = FakeRuntime()
    sagemaker = FakeComponents({"prod-tabular-churn": ("InService", "model-old")})
    (problem,) = _check_components(sagemaker, runtime, {"prod-tabular-churn": "model-new"})
    assert problem.startswith("prod-tabular-churn runs model model-old, but this deploy set model-new")
    assert runtime.calls == []


def test_a_component_not_in_service_fails() -> None:
    sagemaker = FakeComponents({"prod-tabular-churn": ("Failed", "model-new")})
    (problem,) = _check_components(sagemaker, FakeRuntime(), {"prod-tabular-churn": "model-new"})
    assert problem == "prod-tabular-churn is Failed, not InService"


def test_describe_inference_component_is_called_as_botocore_expects() -> None:
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("sagemaker", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        stubber.add_response(
            "describe_inference_component",
            {
                "InferenceComponentName": "prod-tabular-churn",
                "InferenceComponentArn": "arn:aws:sagemaker:eu-west-1:111111111111:inference-component/prod-tabular-churn",
                "EndpointName": "prod-tabular",
                "EndpointArn": "arn:aws:sagemaker:eu-west-1:111111111111:endpoint/prod-tabular",
                "CreationTime": "2026-11-26T00:00:00Z",
                "LastModifiedTime": "2026-11-26T00:00:00Z",
                "InferenceComponentStatus": "InService",
                "Specification": {"ModelName": "model-new"},
            },
            {"InferenceComponentName": "prod-tabular-churn"},
        )
        assert smoke._check_component(client, "prod-tabular-churn", "model-new", deadline=_far()) is None


def test_a_component_being_scaled_is_looked_at_again_until_in_service() -> None:
    # Application Auto Scaling changing the copy count (UpdateInferenceComponentRuntimeConfig) makes a healthy
    # component Updating for a while (DescribeInferenceComponent, InferenceComponentStatus): not a failed deploy.
    sleeps: list[float] = []
    sagemaker = FakeComponents({"prod-tabular-churn": [("Updating", "model-new"), ("InService", "model-new")]})
    runtime = FakeRuntime()
    assert _check_components(sagemaker, runtime, {"prod-tabular-churn": "model-new"}, sleep=sleeps.append) == []
    assert sleeps == [smoke.COMPONENT_POLL_SECONDS]
    assert len(runtime.calls) == 1


def test_a_component_that_stays_in_transition_answers_before_the_deadline() -> None:
    clock = FakeClock()
    deadline = smoke.Deadline(clock.now() + 100, now=clock.now)
    sagemaker = FakeComponents({"prod-tabular-churn": ("Creating", "model-new")})
    runtime = FakeRuntime()
    (problem,) = _check_components(sagemaker, runtime, {"prod-tabular-churn": "model-new"}, deadline, clock.sleep)
    assert problem.startswith(
        "prod-tabular: deadline reached after 0 of 1 canaries (DescribeInferenceComponent prod-tabular-churn, Creating;"
    )
    assert deadline.remaining() >= 0
    assert sagemaker.described > 1
    assert runtime.calls == []
